"""Unit tests of the claims service (pure functions): the claims parameter, scope claims."""

import json

import pytest
from werkzeug.datastructures import MultiDict

from idp.oidc import authorize
from idp.oidc.claims import (
    InvalidClaimsParameterError,
    claims_for_scopes,
    parse_claims_parameter,
    requested_claim_names,
)


def test_scope_claims():
    assert claims_for_scopes({"openid"}) == set()
    assert claims_for_scopes({"profile", "email"}) == {"name", "gender", "birthdate", "updated_at", "email", "email_verified"}
    assert claims_for_scopes({"nik"}) == {"nik"}


def test_parse_claims_parameter():
    raw = json.dumps({"userinfo": {"email": None, "name": {"essential": True}}, "id_token": {"acr": {"values": ["a", "b"]}}})
    parsed = parse_claims_parameter(raw)
    assert parsed["userinfo"] == {"email": {}, "name": {"essential": True}}
    assert parsed["id_token"]["acr"]["values"] == ["a", "b"]
    assert requested_claim_names(parsed) == {"email", "name"}  # acr is not a person claim
    assert parse_claims_parameter(None) == {"userinfo": {}, "id_token": {}}


@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '{"userinfo": []}', '{"userinfo": {"email": 1}}', '{"id_token": {"acr": {"values": "x"}}}',
     '{"userinfo": {"email": {"essential": "yes"}}}', "{" + " " * 70000 + "}"],
)
def test_malformed_claims_parameter(raw):
    with pytest.raises(InvalidClaimsParameterError):
        parse_claims_parameter(raw)


def test_parse_request_parameters_flags_repeats_and_empty_values():
    params, dup = authorize.parse(MultiDict([("scope", "openid"), ("scope", "profile"), ("state", ""), ("nonce", "n")]))
    assert params == {"scope": "openid", "nonce": "n"} and dup == {"scope"}
