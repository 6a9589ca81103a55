"""UU PDP self-service (SECURITY.md T93, T94): a copy of all one's data with the
processing record; deleting the account (tokens, consents, back-channel, documents
crypto-erased, the person row pseudonymised)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp import clock
from idp.account.views import RECENT_AUTH
from idp.audit.models import AuditEvent
from idp.documents import services as documents
from idp.documents.models import Document
from idp.extensions import db
from idp.identity import services as identity
from idp.identity.models import Person
from idp.oidc.models import BackchannelDelivery
from tests.authn.test_mfa import _account_login
from tests.conftest import PASSWORD, Flow, csrf_token
from tests.documents.conftest import KK, upload


@pytest.fixture
def shared(app, client, person, register_client):
    """A citizen signed in to the account pages, with a KK document read by a service
    that holds live tokens."""
    assert _account_login(client, person.nik).status_code == 303
    assert upload(client).status_code == 303
    rp, secret = register_client("layanan-kk", document_types=["kk"], backchannel_logout_uri="https://x.example.go.id/bc")
    flow = Flow(client, rp, secret)
    tokens = flow.token(flow.run(person.nik, scope="openid profile doc:kk")["code"]).get_json()
    read = client.get("/claims/documents", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert read.status_code == 200
    return flow, tokens


def _export(client):
    page = client.get("/account/export").get_data(as_text=True)
    return client.post("/account/export", data={"csrf_token": csrf_token(page)})


def test_T93_export_has_everything_and_no_secret(app, client, person, shared):
    resp = _export(client)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert 'filename="satuakun-data.json"' in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    data = json.loads(text)
    assert data["person"]["nik"] == person.nik and data["person"]["name"] == "Budi Santoso"
    assert data["person"]["email"] == "budi@contoh.go.id" and data["person"]["phone_number_verified"] is True
    assert [c["client_name"] for c in data["consents"]] == ["Layanan layanan-kk"]
    assert "doc:kk" in data["consents"][0]["scopes"]
    (doc,) = data["documents"]
    assert doc["attributes"]["number"] == KK["number"] and doc["file"]["download"].endswith("/file")
    (read,) = data["processing_record"]["document_reads"]
    assert read["client_name"] == "Layanan layanan-kk" and "number" in read["items"][0]["attributes"]
    assert data["document_grants"][0]["type"] == "kk"
    tags = [e["tag"] for e in data["processing_record"]["events"]]
    assert "account:consent:granted" in tags and "account:document:uploaded" in tags
    _flow, tokens = shared
    with app.app_context():
        stored = db.session.get(Person, person.id)
        for secret in (stored.password_hash, tokens["access_token"], tokens["refresh_token"]):
            assert secret not in text
        assert "hash" not in text and "secret" not in text
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.person_id == person.id)).scalars().all()
        assert "account:data:exported" in tags


def test_T93_export_needs_recent_authentication(client, person):
    assert _account_login(client, person.nik).status_code == 303
    page = client.get("/account/export").get_data(as_text=True)
    clock.advance(RECENT_AUTH + 60)
    resp = client.post("/account/export", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    assert client.post("/account/export").status_code in (400, 403)  # no CSRF token


def _delete(client, word="HAPUS"):
    page = client.get("/account/delete").get_data(as_text=True)
    return client.post("/account/delete", data={"csrf_token": csrf_token(page), "confirm": word})


def test_T94_delete_needs_the_word_and_recent_authentication(app, client, person):
    assert _account_login(client, person.nik).status_code == 303
    page = client.get("/account").get_data(as_text=True)
    assert 'id="export-link"' in page and 'id="delete-link"' in page
    assert "Hapus akun Anda" in client.get("/account/delete").get_data(as_text=True)
    assert _delete(client, "ya").status_code == 400
    clock.advance(RECENT_AUTH + 60)
    resp = _delete(client)
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    with app.app_context():
        assert db.session.get(Person, person.id).locked is False


def test_T94_delete_account(app, client, person, shared):
    flow, tokens = shared
    with app.app_context():
        public_id = db.session.execute(select(Document.public_id)).scalar_one()
    resp = _delete(client)
    assert resp.status_code == 200 and 'id="account-deleted"' in resp.get_data(as_text=True)
    # Signed out: the account pages ask for a sign-in, and the old password no longer works.
    assert client.get("/account").status_code == 302
    assert _account_login(client, person.nik, PASSWORD).status_code != 303
    # The service's tokens are dead and it is queued a back-channel logout.
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    with app.app_context():
        assert db.session.execute(select(BackchannelDelivery.client_id)).scalars().all() == ["layanan-kk"]
        doc = db.session.execute(select(Document).where(Document.public_id == public_id)).scalar_one()
        assert doc.data_key_wrapped is None and doc.attributes_encrypted is None and doc.blob_name is None
        with pytest.raises(documents.DocumentError):
            documents.read_file(doc)
        stored = db.session.get(Person, person.id)
        assert stored.locked and stored.name == "" and stored.email is None and stored.password_hash is None
        assert identity.decrypt_nik(stored) != person.nik and identity.get_person_by_nik(person.nik) is None
        (event,) = db.session.execute(select(AuditEvent).where(AuditEvent.tag == "account:person:deleted")).scalars().all()
        assert event.person_id == person.id and person.nik not in json.dumps(event.data)
        # The same NIK can have an account again.
        again = identity.create_person(nik=person.nik, name="Budi Santoso", birthdate="1990-01-01",
                                       password=PASSWORD, actor="test")
        assert again.id != person.id
