"""Assurance levels (issue #3): level 3 = two factors for a person verified in person.
An RP asking for a level gets it or an error, never a silent downgrade."""

from __future__ import annotations

import json

import pytest

from idp import clock
from idp.extensions import db
from idp.identity.models import Person
from tests.authn.test_mfa import _idt, _mfa, enrol_totp, sign_out_locally
from tests.conftest import query

LOA1, LOA2, LOA3 = (f"urn:id:satuakun:loa:{n}" for n in (1, 2, 3))


def _set_level(app, person, level):
    with app.app_context():
        db.session.get(Person, person.id).identity_level = level
        db.session.commit()


@pytest.fixture
def totp_person(app, client, person):
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    return person, totp


def test_in_person_verified_citizen_reaches_level_3_with_a_second_factor(app, flow, totp_person):
    person, totp = totp_person
    _set_level(app, person, 3)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA3]}}})
    resp = flow.login(flow.authorize(claims=claims), person.nik)
    assert "/mfa" in resp.headers["Location"]
    done = flow.follow(flow.consent(flow.follow(_mfa(flow, resp, totp.at(clock.now())))))
    out = _idt(flow, query(done.headers["Location"])["code"])
    assert out["acr"] == LOA3 and "mfa" in out["amr"]


def test_level_3_is_refused_not_downgraded_for_a_remote_registration(app, flow, totp_person):
    person, totp = totp_person
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA3]}}})
    resp = flow.login(flow.authorize(claims=claims), person.nik)
    assert "/mfa" in resp.headers["Location"]  # this account always signs in with two factors
    resp = flow.follow(_mfa(flow, resp, totp.at(clock.now())))
    # ... but no second factor can raise a registry-matched account to level 3.
    assert resp.status_code == 302
    assert query(resp.headers["Location"])["error"] == "unmet_authentication_requirements"
    clock.advance(60)
    # acr_values (voluntary) with level 3 first: the SSO session's level, honestly labelled.
    params = flow.follow(flow.consent(flow.authorize(acr_values=f"{LOA3} {LOA1}")))
    assert _idt(flow, query(params.headers["Location"])["code"])["acr"] == LOA2


def test_password_only_session_of_verified_citizen_stays_level_1(app, flow, person):
    _set_level(app, person, 3)
    assert _idt(flow, flow.run(person.nik)["code"])["acr"] == LOA1


def test_discovery_lists_three_levels(client):
    assert client.get("/.well-known/openid-configuration").get_json()["acr_values_supported"] == [LOA1, LOA2, LOA3]
