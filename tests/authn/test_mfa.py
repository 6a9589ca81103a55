"""Second factor: TOTP enrolment and use, recovery codes, step-up, throttling
(SECURITY.md T44 T45 T50-T54, figures for passwords and TOTP)."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import clock
from tests.conftest import PASSWORD, csrf_token, query

LOA2 = "urn:id:satuakun:loa:2"


def _account_login(http, nik, password=PASSWORD):
    resp = http.get("/account")
    assert "/interaction/" in resp.headers["Location"]
    page = http.get(resp.headers["Location"])
    return http.post(resp.headers["Location"], data={"nik": nik, "password": password,
                                                       "csrf_token": csrf_token(page.get_data(as_text=True))})


def enrol_totp(http, nik) -> pyotp.TOTP:
    """Sign in to the account pages, set up TOTP; returns the authenticator."""
    if http.get("/account").status_code != 200:  # not signed in yet
        resp = _account_login(http, nik)
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/account")
    page = http.get("/account/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert "<svg" in page  # the QR code, rendered server-side
    totp = pyotp.TOTP(secret)
    done = http.post("/account/totp", data={"code": totp.at(clock.now()), "csrf_token": csrf_token(page)})
    assert done.status_code == 303
    return totp


def sign_out_locally(http):
    """Forget the SSO cookie (as a new browser would), whatever domain the jar filed it under."""
    for (domain, path, name) in list(http._cookies):
        if name == "__Host-satuakun":
            http.delete_cookie(name, domain=domain, path=path)


def _mfa(flow, resp, code):
    page = flow.http.get(resp.headers["Location"])
    return flow.http.post(resp.headers["Location"], data={"code": code, "csrf_token": csrf_token(page.get_data(as_text=True))})


def _idt(flow, code):
    body = flow.token(code).get_json()
    return jwt.decode(body["id_token"], KeySet.import_key_set(flow.http.get("/jwks").get_json())).claims


@pytest.fixture
def mfa_person(client, person):
    totp = enrol_totp(client, person.nik)
    clock.advance(90)  # well past the enrolment code's step (each step is accepted once)
    sign_out_locally(client)
    return person, totp


def test_login_with_totp(flow, mfa_person):
    person, totp = mfa_person
    resp = flow.login(flow.authorize(), person.nik)
    assert resp.status_code == 303 and "/mfa" in resp.headers["Location"]
    assert not any(c.startswith("__Host-satuakun=") for c in resp.headers.getlist("Set-Cookie"))  # no session yet
    wrong = _mfa(flow, resp, "000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 200 and 'role="alert"' in wrong.get_data(as_text=True)
    ok = _mfa(flow, resp, totp.at(clock.now()))
    final = flow.follow(flow.consent(flow.follow(ok)))
    claims = _idt(flow, query(final.headers["Location"])["code"])
    assert claims["acr"] == LOA2 and claims["amr"] == ["pwd", "otp", "mfa"]


def test_T44_cannot_skip_second_factor(flow, mfa_person):
    person, _ = mfa_person
    resp = flow.login(flow.authorize(), person.nik)
    uid = resp.headers["Location"].split("/")[2]
    for target in (f"/authorize/resume/{uid}", f"/interaction/{uid}/consent"):
        jump = flow.http.get(target)
        assert jump.status_code == 302 and ("/mfa" in jump.headers["Location"] or "/login" in jump.headers["Location"])
        assert "code=" not in jump.headers["Location"]


def test_T50_code_accepted_once(flow, mfa_person):
    person, totp = mfa_person
    code = totp.at(clock.now())
    assert "/consent" in flow.follow(_mfa(flow, flow.login(flow.authorize(), person.nik), code)).headers["Location"]
    again = _mfa(flow, flow.login(flow.authorize(prompt="login"), person.nik), code)
    assert again.status_code == 200 and 'role="alert"' in again.get_data(as_text=True)


@pytest.mark.parametrize("offset,ok", [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_T51_window(flow, mfa_person, offset, ok):
    person, totp = mfa_person
    resp = _mfa(flow, flow.login(flow.authorize(), person.nik), totp.at(clock.now() + offset))
    assert (resp.status_code == 303) == ok


def test_T52_transaction_void_after_five_and_factor_lock_after_ten(flow, mfa_person):
    person, totp = mfa_person
    bad = "123456" if totp.now() != "123456" else "654321"
    resp = flow.login(flow.authorize(), person.nik)
    for _ in range(4):
        assert _mfa(flow, resp, bad).status_code == 200
    assert _mfa(flow, resp, bad).status_code == 400  # fifth: transaction void
    assert flow.http.get(resp.headers["Location"]).status_code == 400
    resp = flow.login(flow.authorize(), person.nik)  # fresh transaction: counter per account survives
    for _ in range(4):
        assert _mfa(flow, resp, bad).status_code == 200
    resp = flow.login(flow.authorize(), person.nik)
    locked = _mfa(flow, resp, bad)  # tenth consecutive failure locks the factor
    locked = _mfa(flow, resp, totp.at(clock.now()))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800


def test_T53_recovery_codes(client, flow, mfa_person):
    person, totp = mfa_person
    _account_login(client, person.nik)
    page = client.get(client.get("/account").headers.get("Location", "/account"))
    resp = flow.login(flow.authorize(), person.nik)
    assert _mfa(flow, resp, totp.at(clock.now())).status_code == 303  # fully signed in, recent
    home = client.get("/account").get_data(as_text=True)
    codes_page = client.post("/account/recovery-codes", data={"csrf_token": csrf_token(home)}).get_data(as_text=True)
    codes = re.findall(r"<code>([0-9A-Z-]{14})</code>", codes_page)
    assert len(codes) == 10 and len(set(codes)) == 10
    sign_out_locally(client)
    typed = codes[0].replace("-", "").lower()
    resp = flow.login(flow.authorize(prompt="login"), person.nik)
    assert _mfa(flow, resp, typed).status_code == 303  # case and separators ignored
    resp = flow.login(flow.authorize(prompt="login"), person.nik)
    assert _mfa(flow, resp, codes[0]).status_code == 200  # used once
    # a new set makes the old codes useless
    home = client.get("/account").get_data(as_text=True)
    client.post("/account/recovery-codes", data={"csrf_token": csrf_token(home)})
    resp = flow.login(flow.authorize(prompt="login"), person.nik)
    assert _mfa(flow, resp, codes[1]).status_code == 200
    del page


def test_T45_step_up(flow, person, client):
    first = flow.run(person.nik)  # password only: level 1
    assert _idt(flow, first["code"])["acr"] == "urn:id:satuakun:loa:1"
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}})
    silent = query(flow.authorize(prompt="none", claims=claims).headers["Location"])
    assert silent["error"] == "interaction_required"
    resp = flow.authorize(claims=claims)
    assert "/mfa" in resp.headers["Location"]  # second factor in the same flow
    done = flow.follow(_mfa(flow, resp, totp.at(clock.now())))
    claims_out = _idt(flow, query(done.headers["Location"])["code"])
    assert claims_out["acr"] == LOA2 and "otp" in claims_out["amr"] and "mfa" in claims_out["amr"]


def test_T54_enrolment_needs_recent_authentication(client, person):
    _account_login(client, person.nik)
    clock.advance(16 * 60)
    resp = client.get("/account/totp")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]


def test_password_throttle_same_for_unknown_nik(flow, person):
    def hammer(nik):
        resp = flow.authorize(prompt="login")
        statuses = [flow.login(resp, nik, password="wrong-password").status_code for _ in range(6)]
        return statuses, flow.login(resp, nik, password="wrong-password")

    known, blocked_known = hammer(person.nik)
    unknown, blocked_unknown = hammer("3174010101909998")
    assert known == unknown == [200] * 6
    assert blocked_known.status_code == blocked_unknown.status_code == 429
    # The same block; the clock is real, so the second hammering may end a second later.
    assert abs(int(blocked_known.headers["Retry-After"]) - int(blocked_unknown.headers["Retry-After"])) <= 1
    clock.advance(int(blocked_known.headers["Retry-After"]) + 1)
    assert "/consent" in flow.follow(flow.login(flow.authorize(prompt="login"), person.nik)).headers["Location"]


def test_T61_citizen_ends_another_session(app, client, flow, person):
    """Sign in on two devices; from the first, end the second: it is signed out and its
    refresh tokens stop working."""
    from tests.conftest import Flow

    other = app.test_client()
    other.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    other_flow = Flow(other, flow.rp, flow.secret)
    tok = other_flow.token(other_flow.run(person.nik)["code"]).get_json()
    _account_login(client, person.nik)
    page = client.get("/account").get_data(as_text=True)
    sids = re.findall(r'name="sid" value="([^"]+)"', page)
    assert len(sids) == 1  # the other device (the current one has no button)
    assert client.post("/account/sessions/end", data={"sid": sids[0], "csrf_token": csrf_token(page)}).status_code == 303
    assert query(other_flow.authorize(prompt="none").headers["Location"])["error"] == "login_required"
    assert other_flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400
    # someone else's or an unknown session id: 404, nothing ended
    assert client.post("/account/sessions/end", data={"sid": "nope", "csrf_token": csrf_token(page)}).status_code == 404
    assert client.get("/account").status_code == 200
