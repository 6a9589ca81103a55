"""Sharing documents with services: registration, consent, `GET /claims/documents`,
UserInfo's distributed claim, withdrawal and the access history (SECURITY.md T66-T69)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import clock
from idp.documents import services
from idp.oidc import clients
from tests.conftest import Flow, csrf_token, query
from tests.documents import files
from tests.documents.conftest import KK, upload


@pytest.fixture
def doc_rp(register_client):
    return register_client("layanan-kk", document_types=["kk", "str"])


def _token(flow, nik, scope="openid profile doc:kk"):
    resp = flow.authorize(scope=scope)
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    q = query(resp.headers["Location"])
    body = flow.token(q["code"]).get_json()
    return body["access_token"]


def _get(http, token, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return http.get("/claims/documents", headers=headers, **kw)


# -- registration --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields,field",
    [
        ({"document_types": ["paspor"]}, "document_types"),
        ({"document_types": "kk"}, "document_types"),
        ({"scopes": ["openid", "doc:kk"]}, "scopes"),
        ({"document_file": "yes", "document_types": ["kk"]}, "document_file"),
        ({"document_file": True}, "document_file"),
    ],
)
def test_registration_validated(ctx, fields, field):
    raw = {"client_id": "rp-x", "name": "X", "redirect_uris": ["https://x.go.id/cb"],
           "client_secret_hash": "sha256:" + "0" * 64, **fields}
    with pytest.raises(clients.RegistrationError) as err:
        clients.validate_registration(raw, "rp-x.toml")
    assert err.value.field == field


def test_registration_adds_document_scopes(ctx):
    data = clients.validate_registration({"client_id": "rp-x", "name": "X", "redirect_uris": ["https://x.go.id/cb"],
                                          "client_secret_hash": "sha256:" + "0" * 64, "document_types": ["kk"]}, "rp-x.toml")
    assert "doc:kk" in data["scopes"] and data["document_types"] == ["kk"] and data["document_file"] is False


def test_discovery_lists_document_scopes(client):
    assert {"doc:kk", "doc:ktp", "doc:str"} <= set(client.get("/.well-known/openid-configuration").get_json()["scopes_supported"])


# -- consent -------------------------------------------------------------------------------------
def test_consent_page_lists_documents_attributes_purpose_duration(client, citizen, doc_rp):
    rp, secret = doc_rp
    flow = Flow(client, rp, secret)
    resp = flow.authorize(scope="openid doc:kk doc:sim")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Kartu Keluarga (KK)" in page and "Nomor KK" in page and "Anggota keluarga" in page
    assert "Uji layanan" in page  # the purpose from the registration
    assert "Riwayat akses data" in page or "Data access history" in page
    # Not registered for SIM: never asked, never granted.
    assert "Surat Izin Mengemudi" not in page


def test_client_cannot_obtain_unregistered_document_scope(client, citizen, doc_rp):
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik, scope="openid doc:sim")
    assert _get(client, token).status_code == 403


# -- the claims endpoint -------------------------------------------------------------------------
def test_claims_json_and_userinfo_pointer(app, client, citizen, doc_rp):
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    resp = _get(client, token)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    [doc] = body["documents"]
    assert doc["type"] == "kk" and doc["provenance"] == "uploaded" and doc["expired"] is False
    assert doc["attributes"]["number"] == KK["number"] and doc["verified"] is None
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["sub"] == info["sub"]
    assert info["_claim_names"] == {"documents": "satuakun_documents"}
    assert info["_claim_sources"]["satuakun_documents"]["endpoint"] == "https://idp.test/claims/documents"


def test_claims_as_signed_jwt(client, citizen, doc_rp):
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    resp = _get(client, token, headers={"Accept": "application/jwt"})
    assert resp.status_code == 200 and resp.mimetype == "application/jwt"
    claims = jwt.decode(resp.get_data(as_text=True), KeySet.import_key_set(client.get("/jwks").get_json())).claims
    assert claims["iss"] == "https://idp.test" and claims["aud"] == rp.client_id
    assert claims["exp"] > claims["iat"] and claims["documents"][0]["attributes"]["holder_name"] == KK["holder_name"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert claims["sub"] == info["sub"]


def test_no_document_scope_is_403(client, citizen, doc_rp):
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik, scope="openid profile")
    resp = _get(client, token)
    assert resp.status_code == 403 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    assert "_claim_names" not in client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()


@pytest.mark.parametrize("token", [None, "not-a-token", "x" * 600])
def test_bad_token_is_401(client, token):
    resp = _get(client, token)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    if token:
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_token_in_query_is_not_accepted(client, citizen, doc_rp):
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    assert client.get("/claims/documents", query_string={"access_token": token}).status_code == 401


def test_subject_comes_from_the_token_only(app, client, create_person, citizen, doc_rp):
    """T68: ?sub=, X-User-Id or B's pairwise sub never select citizen B's documents."""
    other = create_person()
    with app.app_context():
        services.upload(other.id, "kk", {**KK, "holder_name": "Warga Lain"}, "kk.png", files.png())
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    for extra in ({"query_string": {"sub": str(other.public_id)}}, {"headers": {"X-User-Id": str(other.id)}}):
        body = _get(client, token, **extra).get_json()
        assert [d["attributes"]["holder_name"] for d in body["documents"]] == [KK["holder_name"]]


def test_withdrawal_applies_at_once_and_history_is_shown(app, client, citizen, doc_rp):
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    assert _get(client, token).status_code == 200
    assert _get(client, token, headers={"Accept": "application/jwt"}).status_code == 200
    page = client.get("/account/data-access").get_data(as_text=True)
    assert "Layanan layanan-kk" in page and "Nomor KK" in page and page.count("<tr>") == 3
    grant_id = page.split('id="grant-')[1].split('"')[0]
    resp = client.post(f"/account/data-access/grants/{grant_id}/withdraw", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    resp = _get(client, token)
    assert resp.status_code == 403 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    # The next authorization asks again (prompt=none: consent_required).
    q = query(Flow(client, rp, secret).authorize(scope="openid doc:kk", prompt="none").headers["Location"])
    assert q["error"] == "consent_required"


def test_withdraw_someone_elses_grant_is_404(app, client, citizen, create_person, doc_rp):
    rp, secret = doc_rp
    _token(Flow(client, rp, secret), citizen.nik)
    from tests.documents.conftest import sign_in

    other = create_person()
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    sign_in(http, other.nik)
    page = http.get("/account/documents?type=kk").get_data(as_text=True)
    from idp.documents.models import DocumentGrant
    from idp.extensions import db

    with app.app_context():
        gid = db.session.query(DocumentGrant).one().id
    assert http.post(f"/account/data-access/grants/{gid}/withdraw", data={"csrf_token": csrf_token(page)}).status_code == 404


def test_expired_grant_is_403(client, citizen, doc_rp):
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik)
    clock.advance(31536000 + 1)
    try:
        # The access token expired long before; the grant check alone also refuses.
        from idp.documents import grants

        with client.application.app_context():
            assert grants.release(citizen.id, rp.client_id, {"kk"}, kind="claims") is None
    finally:
        clock.reset()
    assert _get(client, token).status_code == 200


def test_only_consented_types_are_returned(app, client, citizen, doc_rp):
    with app.app_context():
        services.upload(citizen.id, "str", {"number": "STR-1", "holder_name": "Budi", "profession": "Perawat",
                                            "issued_on": "2020-01-01", "expires_on": "2021-01-01"}, "s.pdf", files.pdf())
    assert upload(client).status_code == 303
    rp, secret = doc_rp
    token = _token(Flow(client, rp, secret), citizen.nik, scope="openid doc:kk")
    assert [d["type"] for d in _get(client, token).get_json()["documents"]] == ["kk"]
    token2 = _token(Flow(client, rp, secret), citizen.nik, scope="openid doc:kk doc:str")
    docs = {d["type"]: d for d in _get(client, token2).get_json()["documents"]}
    assert docs["str"]["expired"] is True and docs["str"]["expires_on"] == "2021-01-01"
    only = _get(client, token2, query_string={"type": "str"}).get_json()["documents"]
    assert [d["type"] for d in only] == ["str"]
    assert _get(client, token, query_string={"type": "str"}).status_code == 403
