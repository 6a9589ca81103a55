"""One-time codes by SMS/WhatsApp/e-mail as the weaker second-factor fallback (issue #4):
only to verified contacts, bound to the sign-in, single use, 5 tries, send caps."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from tests.authn.test_mfa import _idt, enrol_totp, sign_out_locally
from tests.conftest import csrf_token, never_logged, query

LOA2 = "urn:id:satuakun:loa:2"
PHONE = "+6281200000001"  # the create_person factory's verified number


def _code(app, destination=PHONE):
    with app.app_context():
        body = db.session.execute(select(OutboxMessage.body).where(OutboxMessage.destination == destination)
                                  .order_by(OutboxMessage.id.desc())).scalars().first()
    code = re.search(r"\b(\d{6})\b", body).group(1)
    never_logged(code)
    return code


def _send(flow, mfa_url, channel="sms"):
    page = flow.http.get(mfa_url).get_data(as_text=True)
    return flow.http.post(mfa_url, data={"send": channel, "csrf_token": csrf_token(page)})


def _enter(flow, mfa_url, code):
    page = flow.http.get(mfa_url).get_data(as_text=True)
    return flow.http.post(mfa_url, data={"code": code, "csrf_token": csrf_token(page)})


def _step_up(flow, person):
    """Password sign-in, then an RP asking for level 2 (essential): the MFA page."""
    flow.run(person.nik)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}})
    resp = flow.authorize(claims=claims)
    assert "/mfa" in resp.headers["Location"], resp.headers.get("Location")
    return resp.headers["Location"]


def test_sms_code_reaches_level_2_for_a_citizen_without_an_app(app, flow, person):
    mfa_url = _step_up(flow, person)
    page = flow.http.get(mfa_url).get_data(as_text=True)
    assert "+6281******001" in page and 'name="code"' not in page  # nothing to type before a code is sent
    sent = _send(flow, mfa_url)
    assert sent.status_code == 200 and 'id="oob-sent"' in sent.get_data(as_text=True)
    done = flow.follow(_enter(flow, mfa_url, _code(app)))
    claims = _idt(flow, query(done.headers["Location"])["code"])
    assert claims["acr"] == LOA2 and claims["amr"] == ["pwd", "sms", "mfa"]


def test_code_is_single_use_and_bound_to_its_sign_in(app, flow, person):
    mfa_url = _step_up(flow, person)
    _send(flow, mfa_url)
    code = _code(app)
    flow.follow(_enter(flow, mfa_url, code))
    clock.advance(61)
    # A new sign-in transaction: the old code is worth nothing there.
    other = flow.authorize(prompt="login", claims=json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}}))
    second = flow.follow(flow.login(other, person.nik)).headers["Location"]
    assert "/mfa" in second
    again = _enter(flow, second, code)
    assert again.status_code == 200 and 'role="alert"' in again.get_data(as_text=True)


def test_five_wrong_tries_void_the_code(app, flow, person):
    mfa_url = _step_up(flow, person)
    _send(flow, mfa_url)
    code = _code(app)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        _enter(flow, mfa_url, wrong)
    # The fifth wrong try voids the sign-in transaction (T52) and the code with it.
    assert _enter(flow, mfa_url, wrong).status_code == 400


def test_expired_code_is_refused(app, flow, person):
    mfa_url = _step_up(flow, person)
    _send(flow, mfa_url)
    code = _code(app)
    clock.advance(301)
    assert _enter(flow, mfa_url, code).status_code == 200  # page again, with an error


def test_send_caps_per_number(app, flow, person):
    mfa_url = _step_up(flow, person)
    assert _send(flow, mfa_url).status_code == 200
    resp = _send(flow, mfa_url)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) <= 60


def test_unverified_contact_gets_nothing(app, flow, person):
    with app.app_context():
        p = db.session.get(Person, person.id)
        p.phone_number_verified = False
        p.email_verified = False
        db.session.commit()
    flow.run(person.nik)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}})
    resp = flow.authorize(claims=claims)
    # No factor and no verified contact: the level cannot be reached.
    assert query(resp.headers["Location"])["error"] == "unmet_authentication_requirements"


def test_fallback_next_to_an_authenticator_app(app, client, flow, person):
    enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    resp = flow.login(flow.authorize(), person.nik)
    mfa_url = resp.headers["Location"]
    assert "/mfa" in mfa_url
    _send(flow, mfa_url, "email")
    done = flow.follow(_enter(flow, mfa_url, _code(app, "budi@contoh.go.id")))
    resp = flow.follow(flow.consent(done))
    assert _idt(flow, query(resp.headers["Location"])["code"])["amr"] == ["pwd", "otp", "mfa"]


@pytest.mark.parametrize("channel", ["pigeon", "", "sms\r\n"])
def test_unknown_channel_sends_nothing(app, flow, person, channel):
    mfa_url = _step_up(flow, person)
    resp = _send(flow, mfa_url, channel)
    assert resp.status_code == 200 and 'id="oob-sent"' not in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(OutboxMessage)).first() is None
