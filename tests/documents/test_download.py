"""Document files for services: only through a short-lived single-use link, only where
the grant includes the file, only with the same client's token (issue #6, SECURITY.md
T67-T70)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from idp import clock
from idp.documents.models import DocumentAccess, DocumentDownloadLink
from idp.extensions import db
from tests.conftest import Flow, csrf_token, query
from tests.documents import files
from tests.documents.conftest import upload

PNG = files.png(size=(40, 30))


@pytest.fixture
def file_rp(register_client):
    return register_client("layanan-berkas", document_types=["kk"], document_file=True)


@pytest.fixture
def attr_rp(register_client):
    return register_client("layanan-atribut", document_types=["kk"])


def _token(http, rp, secret, scope="openid doc:kk"):
    flow = Flow(http, rp, secret)
    resp = flow.authorize(scope=scope)
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    return flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _claims(http, token):
    resp = http.get("/claims/documents", headers=_auth(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["documents"]


def _path(url):
    assert url.startswith("https://idp.test/claims/documents/files/")
    return url[len("https://idp.test"):]


@pytest.fixture
def shared(client, citizen, file_rp):
    """A KK uploaded and shared with its file; (token, file member of the claims answer)."""
    assert upload(client, data=PNG).status_code == 303
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [doc] = _claims(client, token)
    return token, doc["file"]


def test_link_only_where_grant_includes_the_file(client, citizen, attr_rp):
    assert upload(client, data=PNG).status_code == 303
    rp, secret = attr_rp
    [doc] = _claims(client, _token(client, rp, secret))
    assert "file" not in doc
    with client.application.app_context():
        assert db.session.scalar(select(DocumentDownloadLink)) is None


def test_link_member(app, shared):
    _, link = shared
    assert link["expires_in"] == 60 and link["content_type"] == "image/png"
    assert link["size"] == len(PNG) and link["sha256"] == hashlib.sha256(PNG).hexdigest()
    link_id = _path(link["url"]).rsplit("/", 1)[1]
    assert len(link_id) >= 43  # 256 bits
    with app.app_context():
        row = db.session.scalar(select(DocumentDownloadLink))
        # Only the hash of the link id is stored.
        assert row.id_hash == hashlib.sha256(link_id.encode()).hexdigest() and row.used_at is None


def test_download_once_with_headers_and_recorded(app, client, citizen, shared):
    token, link = shared
    resp = client.get(_path(link["url"]), headers=_auth(token))
    assert resp.status_code == 200
    assert resp.data == PNG and hashlib.sha256(resp.data).hexdigest() == link["sha256"]
    assert resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="kk.png"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    # Single use.
    again = client.get(_path(link["url"]), headers=_auth(token))
    assert again.status_code == 404 and again.get_json() == {"error": "not_found"}
    with app.app_context():
        reads = db.session.scalars(select(DocumentAccess).where(DocumentAccess.kind == "file")).all()
        assert len(reads) == 1 and reads[0].client_id == "layanan-berkas" and reads[0].person_id == citizen.id
        assert reads[0].items[0]["type"] == "kk"
    page = client.get("/account/data-access").get_data(as_text=True)
    assert "berkas diunduh" in page or "file downloaded" in page


def test_a_new_claims_answer_gives_a_new_link(client, shared):
    token, link = shared
    [doc] = _claims(client, token)
    assert doc["file"]["url"] != link["url"]
    assert client.get(_path(doc["file"]["url"]), headers=_auth(token)).status_code == 200
    assert client.get(_path(link["url"]), headers=_auth(token)).status_code == 200


def test_expired_link_refused(client, shared):
    token, link = shared
    clock.advance(61)
    try:
        assert client.get(_path(link["url"]), headers=_auth(token)).status_code == 404
    finally:
        clock.reset()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_link_alone_is_useless(client, shared, headers):
    token, link = shared
    resp = client.get(_path(link["url"]), headers=headers)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    # Not consumed by the failed attempt.
    assert client.get(_path(link["url"]), headers=_auth(token)).status_code == 200


def test_token_in_query_not_accepted(client, shared):
    token, link = shared
    assert client.get(_path(link["url"]), query_string={"access_token": token}).status_code == 401


def test_another_clients_token_refused(client, citizen, shared, register_client):
    token, link = shared
    other, secret = register_client("layanan-lain", document_types=["kk"], document_file=True)
    other_token = _token(client, other, secret)
    resp = client.get(_path(link["url"]), headers=_auth(other_token))
    assert resp.status_code == 404
    # ... and the link is still the rightful client's.
    assert client.get(_path(link["url"]), headers=_auth(token)).status_code == 200


def test_token_without_document_scope_refused(client, citizen, shared, file_rp):
    _, link = shared
    rp, secret = file_rp
    plain = _token(client, rp, secret, scope="openid profile")
    resp = client.get(_path(link["url"]), headers=_auth(plain))
    assert resp.status_code == 403 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def test_withdrawn_grant_refused(client, shared):
    token, link = shared
    page = client.get("/account/data-access").get_data(as_text=True)
    grant_id = page.split('id="grant-')[1].split('"')[0]
    assert client.post(f"/account/data-access/grants/{grant_id}/withdraw",
                       data={"csrf_token": csrf_token(page)}).status_code == 303
    resp = client.get(_path(link["url"]), headers=_auth(token))
    assert resp.status_code == 403 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def test_deleted_document_refused(client, shared):
    token, link = shared
    page = client.get("/account/documents").get_data(as_text=True)
    action = page.split('action="/account/documents/')[1].split('"')[0]
    assert action.endswith("/delete")
    assert client.post(f"/account/documents/{action}", data={"csrf_token": csrf_token(page)}).status_code == 303
    assert client.get(_path(link["url"]), headers=_auth(token)).status_code == 404


@pytest.mark.parametrize("link_id", ["x", "a" * 65, "..%2F..%2Fetc"])
def test_unknown_link_404(client, shared, link_id):
    token, _ = shared
    resp = client.get(f"/claims/documents/files/{link_id}", headers=_auth(token))
    assert resp.status_code == 404 and resp.is_json


def test_purge_removes_expired_links(app, shared):
    from idp.ops.purge import purge

    clock.advance(61)
    try:
        with app.app_context():
            assert purge()["document file links"] == 1
            assert db.session.scalar(select(DocumentDownloadLink)) is None
    finally:
        clock.reset()


def test_framework_errors_are_json(client):
    resp = client.post("/claims/documents")
    assert resp.status_code == 405 and resp.is_json and resp.get_json()["error"] == "invalid_request"
    assert "<html" not in resp.get_data(as_text=True).lower()


def test_a_link_used_twice_at_once_serves_the_file_once(app, client, citizen, shared):
    """Two downloads of one link racing (two nodes, two threads): exactly one gets the file."""
    import threading

    token, link = shared
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def download():
        http = app.test_client()
        barrier.wait()
        statuses.append(http.get(_path(link["url"]), headers=_auth(token)).status_code)

    threads = [threading.Thread(target=download) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200, 404, 404, 404]
    with app.app_context():
        assert len(db.session.scalars(select(DocumentAccess).where(DocumentAccess.kind == "file")).all()) == 1
