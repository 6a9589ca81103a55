"""Shared documents as OIDC4IDA evidence (issue #6): a verified STR becomes `document`
evidence with its number, dates and issuer, for an identity-assurance client the citizen
shares it with; uploaded (unchecked) documents never do, and every such read is listed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp import clock
from idp.documents.models import Document, DocumentAccess
from idp.extensions import db
from tests.conftest import Flow, query
from tests.documents.conftest import upload

STR = {"number": "3171234567890123", "holder_name": "Budi Santoso", "profession": "Perawat",
       "issued_on": "2024-03-01", "expires_on": "2029-03-01"}
EVIDENCE = [{"type": "electronic_record", "check_method": "data", "record_type": "population_register",
             "registry": "local", "source_id": "csv", "time": 1790000000}]
REQUEST = {"userinfo": {"verified_claims": {"verification": {"trust_framework": None, "evidence": None},
                                            "claims": {"name": None}}}}


@pytest.fixture
def citizen(client, create_person):
    from tests.documents.conftest import sign_in

    person = create_person(evidence=EVIDENCE)
    sign_in(client, person.nik)
    return person


@pytest.fixture
def ida_rp(register_client):
    return register_client("rp-str", identity_assurance=True, document_types=["str"],
                           scopes=["openid", "profile", "doc:str"])


def _mark_verified(app, person_id, location="MPP Kota Semarang"):
    """What an officer's check at the counter records (tested in test_provenance.py)."""
    with app.app_context():
        doc = db.session.execute(select(Document).where(Document.person_id == person_id)).scalar_one()
        doc.provenance, doc.verified_location, doc.verified_at = "verified", location, clock.now()
        db.session.commit()


def _userinfo(client, rp, secret, nik, scope="openid profile doc:str"):
    flow = Flow(client, rp, secret)
    resp = flow.authorize(scope=scope, claims=json.dumps(REQUEST))
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    at = flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]
    return client.get("/userinfo", headers={"Authorization": f"Bearer {at}"}).get_json()


def test_verified_document_is_evidence_with_its_details(app, client, citizen, ida_rp):
    assert upload(client, type_code="str", attributes=STR).status_code == 303
    _mark_verified(app, citizen.id)
    rp, secret = ida_rp
    info = _userinfo(client, rp, secret, citizen.nik)
    evidence = info["verified_claims"]["verification"]["evidence"]
    [doc] = [e for e in evidence if e["type"] == "document"]
    assert doc["document_details"] == {
        "type": "str", "document_number": STR["number"], "date_of_issuance": "2024-03-01",
        "date_of_expiry": "2029-03-01", "issuer": {"name": "Konsil Kesehatan Indonesia", "country_code": "IDN"},
    }
    assert doc["check_details"][0]["check_method"] == "vpip"
    assert doc["check_details"][0]["organization"] == "MPP Kota Semarang"
    # The registry evidence is still there, and the read is in the citizen's history.
    assert any(e["type"] == "electronic_record" for e in evidence)
    with app.app_context():
        kinds = [a.kind for a in db.session.execute(select(DocumentAccess)).scalars()]
    assert "verified_claims" in kinds


def test_uploaded_document_is_not_evidence(app, client, citizen, ida_rp):
    assert upload(client, type_code="str", attributes=STR).status_code == 303
    rp, secret = ida_rp
    evidence = _userinfo(client, rp, secret, citizen.nik)["verified_claims"]["verification"]["evidence"]
    assert [e["type"] for e in evidence] == ["electronic_record"]


def test_expired_document_is_not_evidence(app, client, citizen, ida_rp):
    assert upload(client, type_code="str", attributes={**STR, "expires_on": "2025-01-01"}).status_code == 303
    _mark_verified(app, citizen.id)
    rp, secret = ida_rp
    evidence = _userinfo(client, rp, secret, citizen.nik)["verified_claims"]["verification"]["evidence"]
    assert all(e["type"] != "document" for e in evidence)


def test_without_the_document_scope_no_document_evidence(app, client, citizen, ida_rp):
    assert upload(client, type_code="str", attributes=STR).status_code == 303
    _mark_verified(app, citizen.id)
    rp, secret = ida_rp
    evidence = _userinfo(client, rp, secret, citizen.nik, scope="openid profile")["verified_claims"]["verification"]["evidence"]
    assert all(e["type"] != "document" for e in evidence)
    with app.app_context():
        assert db.session.execute(select(DocumentAccess)).first() is None


def test_discovery_lists_the_document_types(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert {"idcard", "driving_permit", "str", "kk"} <= set(meta["documents_supported"])
