"""Document sharing per purpose and one-time sharing (SECURITY.md "Consent": per RP x
attribute x purpose, at most 12 months or one-time; T65, T66)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.documents.models import DocumentGrant
from idp.extensions import db
from idp.oidc import clients
from tests.conftest import Flow, csrf_token, query
from tests.documents import files
from tests.documents.conftest import upload

KK_PURPOSE = "Syarat permohonan akta kelahiran anak"


@pytest.fixture
def purpose_rp(register_client):
    return register_client("layanan-akta", document_types=["kk", "str"], document_file=True,
                           document_purposes={"kk": KK_PURPOSE})


def _consent_page(flow, scope):
    resp = flow.authorize(scope=scope)
    assert "/consent" in resp.headers["Location"], resp.headers["Location"]
    return resp.headers["Location"], flow.http.get(resp.headers["Location"]).get_data(as_text=True)


def _approve(flow, scope="openid doc:kk", duration=None) -> str:
    url, page = _consent_page(flow, scope)
    data = {"decision": "approve", "csrf_token": csrf_token(page)}
    if duration:
        data["document_duration"] = duration
    resp = flow.follow(flow.http.post(url, data=data))
    return flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]


def _read(http, token):
    return http.get("/claims/documents", headers={"Authorization": f"Bearer {token}"})


def _grants(app, person_id):
    with app.app_context():
        return {g.type_code: g for g in db.session.execute(
            select(DocumentGrant).where(DocumentGrant.person_id == person_id)).scalars()}


def test_consent_page_shows_each_documents_purpose_and_the_duration_choice(client, citizen, purpose_rp):
    rp, secret = purpose_rp
    _, page = _consent_page(Flow(client, rp, secret), "openid doc:kk doc:str")
    kk = page[page.index('id="consent-document-kk"'):page.index('id="consent-document-str"')]
    assert KK_PURPOSE in kk
    # STR has no purpose of its own: the service's general purpose is shown.
    strp = page[page.index('id="consent-document-str"'):]
    assert "Uji layanan" in strp[:strp.index("</li>")]
    assert 'name="document_duration" value="period" checked' in page and 'value="once"' in page


def test_grant_records_the_purpose(app, client, citizen, purpose_rp):
    rp, secret = purpose_rp
    _approve(Flow(client, rp, secret), "openid doc:kk doc:str")
    grants = _grants(app, citizen.id)
    assert grants["kk"].purpose == KK_PURPOSE and grants["str"].purpose == "Uji layanan"
    assert not grants["kk"].one_time


def test_once_means_one_read(app, client, citizen, purpose_rp):
    assert upload(client, data=files.png(size=(40, 30))).status_code == 303
    rp, secret = purpose_rp
    flow = Flow(client, rp, secret)
    token = _approve(flow, duration="once")
    first = _read(client, token)
    assert first.status_code == 200 and first.get_json()["documents"][0]["attributes"]["number"]
    link = first.get_json()["documents"][0]["file"]["url"]
    # The second read is refused: the agreement was for once.
    second = _read(client, token)
    assert second.status_code == 403 and 'error="insufficient_scope"' in second.headers["WWW-Authenticate"]
    # The file link handed out by that one read still works (within its 60 s).
    download = client.get(link[len("https://idp.test"):], headers={"Authorization": f"Bearer {token}"})
    assert download.status_code == 200 and download.data.startswith(b"\x89PNG")
    # A new request asks again; a silent one cannot proceed.
    assert "/consent" in flow.authorize(scope="openid doc:kk").headers["Location"]
    silent = query(flow.authorize(scope="openid doc:kk", prompt="none").headers["Location"])
    assert silent["error"] == "consent_required"


def test_once_is_listed_as_once_on_the_data_access_page(app, client, citizen, purpose_rp):
    rp, secret = purpose_rp
    _approve(Flow(client, rp, secret), duration="once")
    client.get("/lang/en")
    page = client.get("/account/data-access").get_data(as_text=True)
    grant = _grants(app, citizen.id)["kk"]
    entry = page[page.index(f'id="grant-{grant.id}"'):]
    entry = entry[:entry.index("</li>")]
    assert "once, until" in entry and KK_PURPOSE in entry


def test_a_new_purpose_needs_a_new_agreement(app, client, citizen, purpose_rp, register_client):
    assert upload(client, data=files.png(size=(40, 30))).status_code == 303
    rp, secret = purpose_rp
    flow = Flow(client, rp, secret)
    token = _approve(flow)
    assert _read(client, token).status_code == 200
    # The service changes why it wants the KK (its registration is re-synced).
    with app.app_context():
        raw = {"client_id": rp.client_id, "name": rp.name, "redirect_uris": rp.redirect_uris,
               "client_secret_hash": rp.client_secret_hash, "scopes": rp.scopes, "document_types": ["kk", "str"],
               "document_file": True, "document_purposes": {"kk": "Verifikasi penerima bantuan sosial"}}
        reg = clients.validate_registration(raw, f"{rp.client_id}.toml")
        clients.sync([clients.Registration(f"{rp.client_id}.toml", reg)], actor="test")
        clients.invalidate_client_cache()
    # Reads under the old agreement stop; the consent page shows the new purpose (T65).
    assert _read(client, token).status_code == 403
    _, page = _consent_page(flow, "openid doc:kk")
    assert "Verifikasi penerima bantuan sosial" in page
    assert query(flow.authorize(scope="openid doc:kk", prompt="none").headers["Location"])["error"] == "consent_required"


def test_one_time_grant_is_spent_once_even_by_two_tokens(app, client, citizen, purpose_rp):
    rp, secret = purpose_rp
    flow = Flow(client, rp, secret)
    token = _approve(flow, duration="once")
    # A second token obtained within the grant's life (no new consent asked while unspent).
    resp = flow.authorize(scope="openid doc:kk")
    other = flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]
    outcomes = sorted([_read(client, token).status_code, _read(client, other).status_code])
    assert outcomes == [200, 403]


@pytest.mark.parametrize(("purposes", "reason"), [
    ({"sim": "x"}, "not in document_types"),
    ({"kk": ""}, "1-500"),
    ({"kk": "x" * 501}, "1-500"),
    ("kk", "must be a table"),
])
def test_registration_purposes_validated(ctx, purposes, reason):
    raw = {"client_id": "rp-x", "name": "X", "redirect_uris": ["https://x.go.id/cb"],
           "client_secret_hash": "sha256:" + "0" * 64, "document_types": ["kk"], "document_purposes": purposes}
    with pytest.raises(clients.RegistrationError) as err:
        clients.validate_registration(raw, "rp-x.toml")
    assert err.value.field == "document_purposes" and reason in str(err.value)
