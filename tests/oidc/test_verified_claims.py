"""OpenID Connect for Identity Assurance 1.0: `verified_claims` through the claims
parameter, only for clients registered for identity assurance (issue #3)."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import Flow, query

EVIDENCE = [{"type": "electronic_record", "check_method": "data", "record_type": "population_register",
             "registry": "http", "source_id": "trx-1", "time": 1790000000}]
FULL = {"verification": {"trust_framework": None, "assurance_level": None, "time": None, "evidence": None},
        "claims": {"name": None, "birthdate": None, "place_of_birth": None}}


@pytest.fixture
def ida_flow(client, register_client):
    c, secret = register_client("rp-ida", identity_assurance=True, scopes=["openid", "profile"])
    return Flow(client, c, secret)


@pytest.fixture
def verified_person(create_person):
    return create_person(evidence=EVIDENCE, birthplace="Jakarta")


def _tokens(flow, person, claims):
    params = flow.run(person.nik, scope="openid profile", claims=json.dumps(claims))
    return flow.token(params["code"]).get_json()


def _userinfo(flow, at):
    return flow.http.get("/userinfo", headers={"Authorization": "Bearer " + at}).get_json()


def test_userinfo_returns_the_requested_verified_claims(ida_flow, verified_person):
    body = _tokens(ida_flow, verified_person, {"userinfo": {"verified_claims": FULL}})
    vc = _userinfo(ida_flow, body["access_token"])["verified_claims"]
    assert vc["verification"]["trust_framework"] == "id_satuakun"
    assert vc["verification"]["assurance_level"] == "registry_matched"
    assert vc["verification"]["time"].endswith("Z")
    evidence = vc["verification"]["evidence"][0]
    assert evidence["type"] == "electronic_record" and evidence["record"]["type"] == "population_register"
    assert evidence["check_details"][0] == {"check_method": "data", "organization": "Dukcapil", "time": "2026-09-21T14:13:20Z"}
    assert vc["claims"] == {"name": "Budi Santoso", "birthdate": "1990-01-01",
                            "place_of_birth": {"locality": "Jakarta", "country": "IDN"}}


def test_id_token_carries_verified_claims_when_asked_there(ida_flow, verified_person):
    request = {"verification": {"trust_framework": None}, "claims": {"name": None}}
    body = _tokens(ida_flow, verified_person, {"id_token": {"verified_claims": request}})
    keys = KeySet.import_key_set(ida_flow.http.get("/jwks").get_json())
    claims = jwt.decode(body["id_token"], keys).claims
    # Only what was asked: no time, no evidence.
    assert claims["verified_claims"] == {"verification": {"trust_framework": "id_satuakun"}, "claims": {"name": "Budi Santoso"}}


def test_unmet_trust_framework_or_level_is_omitted_not_changed(ida_flow, verified_person):
    wrong = {"verification": {"trust_framework": {"value": "eidas"}}, "claims": {"name": None}}
    higher = {"verification": {"trust_framework": None, "assurance_level": {"value": "in_person_verified"}}, "claims": {"name": None}}
    for request in (wrong, higher):
        body = _tokens(ida_flow, verified_person, {"userinfo": {"verified_claims": request}})
        assert "verified_claims" not in _userinfo(ida_flow, body["access_token"])


def test_clients_not_registered_for_assurance_get_nothing(flow, verified_person):
    body = _tokens(flow, verified_person, {"userinfo": {"verified_claims": FULL}})
    assert "verified_claims" not in _userinfo(flow, body["access_token"])


@pytest.mark.parametrize("bad", [
    {"verification": {}, "claims": {"name": None}},
    {"verification": {"trust_framework": None}},
    {"verification": {"trust_framework": None}, "claims": {}},
    {"verification": {"trust_framework": None}, "claims": {"name": 5}},
    [],
    "yes",
])
def test_malformed_verified_claims_request_is_invalid_request(ida_flow, bad):
    resp = ida_flow.authorize(claims=json.dumps({"userinfo": {"verified_claims": bad}}))
    assert resp.status_code == 302
    assert query(resp.headers["Location"])["error"] == "invalid_request"


def test_discovery_advertises_identity_assurance(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["verified_claims_supported"] is True
    assert meta["trust_frameworks_supported"] == ["id_satuakun"]
    assert set(meta["evidence_supported"]) == {"electronic_record", "document"}
    assert "name" in meta["claims_in_verified_claims_supported"]
