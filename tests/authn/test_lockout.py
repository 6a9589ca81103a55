"""Locks that send people to account recovery (issue #4; SECURITY.md "Recommended figures",
T36, T52, T54): 100 password failures, 30 second-factor failures; and the notices for a
lock and for a new sign-in method."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from idp import clock
from idp.audit.models import AuditEvent
from idp.authn import services as authn
from idp.authn import throttle
from idp.authn.models import Throttle, TotpFactor
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from tests.authn.test_mfa import _account_login, enrol_totp, sign_out_locally
from tests.conftest import PASSWORD, csrf_token
from tests.recovery.test_recovery import NEW_PASSWORD, PHONE, post, recover, set_password, unify

EMAIL = "budi@contoh.go.id"


def _messages(app, destination, word) -> int:
    with app.app_context():
        bodies = db.session.execute(select(OutboxMessage.body).where(OutboxMessage.destination == destination)).scalars()
        return sum(word in b for b in bodies)


def _login_page(flow, nik, password):
    """A password attempt in a fresh sign-in; returns the response."""
    return flow.login(flow.authorize(prompt="login"), nik, password)


def _fail_password(app, nik, times, *, start=0):
    """``times`` wrong passwords for ``nik`` through the service, as a patient attacker
    would send them: from many addresses, each after the account's delay has passed."""
    with app.app_context():
        for i in range(start, start + times):
            clock.advance(901)
            with pytest.raises(authn.InvalidCredentialsError):
                authn.authenticate_password(nik, f"tebakan-{i}", remote_addr=f"10.{i // 250}.{i % 250}.1")
        db.session.remove()


# -- 100 password failures -----------------------------------------------------------------------------
def _same(html: str) -> str:
    """The page without what is random per request or transaction: CSRF tokens, passkey
    challenges, the sign-in transaction's id."""
    html = re.sub(r'data-options="[^"]*"', "", unify(html))
    return re.sub(r"(/interaction/|from=)[A-Za-z0-9_\-]{16,64}", r"\1UID", html)


def _cookie_names(resp) -> list[str]:
    return sorted(c.split("=", 1)[0] for c in resp.headers.getlist("Set-Cookie"))


def test_after_100_failures_the_right_password_is_refused_like_a_wrong_one(app, flow, person):
    key = authn_key_for(app, person.nik)
    _fail_password(app, person.nik, 99)
    with app.app_context():
        assert not authn.needs_recovery(key)  # 99: the right password would still do
    _fail_password(app, person.nik, 1, start=99)
    with app.app_context():
        assert authn.needs_recovery(key)
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.person_id == person.id)).scalars().all()
        assert tags.count("account:password:locked_out") == 1
    # Now: the right password, then a wrong one, each after the delay; the same answer.
    clock.advance(901)
    right = _login_page(flow, person.nik, PASSWORD)
    clock.advance(901)
    wrong = _login_page(flow, person.nik, "salah-lagi")
    assert right.status_code == wrong.status_code == 200
    assert _same(right.get_data(as_text=True)) == _same(wrong.get_data(as_text=True))
    assert _cookie_names(right) == _cookie_names(wrong)
    assert "/recover?from=" in right.get_data(as_text=True)  # the way out is always shown
    # And it does not wear off with time.
    clock.advance(86400)
    assert _login_page(flow, person.nik, PASSWORD).status_code == 200
    # A recovery (contact code; the account has no second factor) unlocks it.
    clock.advance(901)
    resp = recover(app, flow.http, person.nik)
    assert resp.headers["Location"].endswith("/recover/password")
    assert set_password(flow.http).status_code == 303
    final = flow.follow(_login_page(flow, person.nik, NEW_PASSWORD))
    assert final.status_code == 302 and final.headers["Location"].endswith("/consent")  # signed in
    with app.app_context():
        assert not authn.needs_recovery(authn.password_throttle_key(db.session.get(Person, person.id)))


def test_lockout_answers_the_same_for_an_unknown_nik(app, flow, person):
    unknown = "3174010101909998"
    _set_failures(app, authn_key_for(app, person.nik), 100)
    _set_failures(app, authn_key_for(app, unknown), 100)
    known_page = _login_page(flow, person.nik, PASSWORD)
    unknown_page = _login_page(flow, unknown, PASSWORD)
    assert known_page.status_code == unknown_page.status_code == 200
    assert _same(known_page.get_data(as_text=True)).replace(person.nik, "N") == _same(
        unknown_page.get_data(as_text=True)).replace(unknown, "N")


def authn_key_for(app, nik):
    with app.app_context():
        return authn._account_key(nik)


def _set_failures(app, key, failures):
    with app.app_context():
        row = db.session.get(Throttle, key)
        if row is None:
            db.session.add(Throttle(key=key, failures=failures, last_failure_at=clock.now(), blocked_until=0))
        else:
            row.failures, row.blocked_until = failures, 0
        db.session.commit()


def test_counter_below_the_lockout_still_resets_after_an_idle_hour(app):
    key, src = throttle.key("pwd-acct", "x"), throttle.key("pwd-src", "10.0.0.1")
    with app.app_context():
        for _ in range(7):
            throttle.fail(key, throttle.ACCOUNT)
        clock.advance(throttle.RESET_AFTER + 1)
        assert throttle.fail(key, throttle.ACCOUNT) == 1
    _set_failures(app, key, 100)
    _set_failures(app, src, 150)
    clock.advance(throttle.RESET_AFTER + 1)
    with app.app_context():
        assert throttle.fail(key, throttle.ACCOUNT) == 101 and throttle.locked_out(key, throttle.ACCOUNT)
        # Source counters never lock out: a shared address must not be shut out for good.
        assert throttle.fail(src, throttle.SOURCE) == 1


def test_a_passwordless_passkey_sign_in_lifts_the_lockout(app, client, flow, person):
    """Decision: a full multi-factor sign-in resets the counter (SECURITY.md: "counter
    reset only by a full (MFA) login"); with the password refused, only a passkey with
    user verification can be one."""
    from tests.authn.test_webauthn import SoftAuthenticator, add_passkey, passwordless

    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    sign_out_locally(client)
    _set_failures(app, authn_key_for(app, person.nik), 100)
    assert _login_page(flow, person.nik, PASSWORD).status_code == 200  # refused
    resp = passwordless(flow, flow.authorize(prompt="login"), auth)
    assert resp.status_code == 303
    sign_out_locally(client)
    resp = _login_page(flow, person.nik, PASSWORD)
    assert resp.status_code == 303 and "/mfa" in resp.headers["Location"]  # the password works again


# -- 30 second-factor failures --------------------------------------------------------------------------
def _mfa_person(client, person):
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    home = client.get("/account").get_data(as_text=True)
    page = client.post("/account/recovery-codes", data={"csrf_token": csrf_token(home)}).get_data(as_text=True)
    codes = re.findall(r"<code>([0-9A-Z-]{14})</code>", page)
    assert len(codes) == 10
    sign_out_locally(client)
    return totp, codes


def _fail_second_factor(app, person_id, times, totp):
    """``times`` wrong app codes through the service, waiting out each 15-minute lock."""
    with app.app_context():
        person = db.session.get(Person, person_id)
        for i in range(times):
            if i and i % authn.FACTOR_LOCK_AFTER == 0:
                clock.advance(authn.FACTOR_LOCK_SECONDS + 1)
            valid = {totp.at(clock.now() + d) for d in (-30, 0, 30)}
            bad = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
            assert authn.verify_second_factor(person, bad, remote_addr="10.0.0.9") is None
        db.session.remove()


def test_ten_failures_lock_and_tell_once_thirty_block_the_app(app, client, flow, person):
    totp, codes = _mfa_person(client, person)
    assert _messages(app, PHONE, "Terlalu banyak kode salah") == _messages(app, EMAIL, "Terlalu banyak kode salah") == 0
    _fail_second_factor(app, person.id, 9, totp)
    assert _messages(app, PHONE, "Terlalu banyak kode salah") == 0
    _fail_second_factor(app, person.id, 1, totp)
    # Locked (every factor) for 15 minutes, and one notice per verified contact.
    resp = flow.login(flow.authorize(prompt="login"), person.nik)
    page = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    locked = flow.http.post(resp.headers["Location"], data={"code": codes[0], "csrf_token": csrf_token(page)})
    assert locked.status_code == 429
    assert _messages(app, PHONE, "Terlalu banyak kode salah") == 1
    assert _messages(app, EMAIL, "Terlalu banyak kode salah") == 1
    clock.advance(authn.FACTOR_LOCK_SECONDS + 1)
    _fail_second_factor(app, person.id, 20, totp)
    assert _messages(app, PHONE, "Terlalu banyak kode salah") == 3  # at 10, 20 and 30
    clock.advance(authn.FACTOR_LOCK_SECONDS + 1)
    with app.app_context():
        assert authn.totp_blocked(person.id)
        with pytest.raises(authn.TotpBlockedError):
            authn.verify_second_factor(db.session.get(Person, person.id), totp.at(clock.now()), remote_addr="10.0.0.9")
    # At sign-in: the right app code is refused with the reason; a recovery code still works.
    resp = flow.login(flow.authorize(prompt="login"), person.nik)
    url = resp.headers["Location"]
    page = flow.http.get(url).get_data(as_text=True)
    blocked = flow.http.post(url, data={"code": totp.at(clock.now()), "csrf_token": csrf_token(page)})
    assert blocked.status_code == 200 and "diblokir" in blocked.get_data(as_text=True)
    ok = flow.http.post(url, data={"code": codes[0], "csrf_token": csrf_token(page)})
    assert ok.status_code == 303
    # That sign-in does not lift the block: only a recovery or a new enrolment does.
    with app.app_context():
        assert authn.totp_blocked(person.id)
        tags = db.session.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tag == "account:mfa:locked", AuditEvent.person_id == person.id)).scalar()
        assert tags == 3


def test_recovery_with_a_recovery_code_clears_the_app_block(app, client, flow, person):
    totp, codes = _mfa_person(client, person)
    _fail_second_factor(app, person.id, 30, totp)
    clock.advance(authn.FACTOR_LOCK_SECONDS + 1)
    resp = recover(app, client, person.nik)
    assert resp.headers["Location"].endswith("/recover/factor")
    page = client.get("/recover/factor").get_data(as_text=True)
    assert "kode pemulihan" in page
    refused = post(client, "/recover/factor", {"code": totp.at(clock.now())})
    assert refused.status_code == 400 and "diblokir" in refused.get_data(as_text=True)
    assert post(client, "/recover/factor", {"code": codes[1]}).status_code == 303
    assert set_password(client).status_code == 303
    with app.app_context():
        assert not authn.totp_blocked(person.id)
        assert db.session.get(TotpFactor, person.id).failures == 0
    clock.advance(60)
    resp = flow.login(flow.authorize(prompt="login"), person.nik, NEW_PASSWORD)
    url = resp.headers["Location"]
    page = flow.http.get(url).get_data(as_text=True)
    assert flow.http.post(url, data={"code": totp.at(clock.now()), "csrf_token": csrf_token(page)}).status_code == 303


def test_new_enrolment_after_a_full_sign_in_clears_the_app_block(app, client, flow, person):
    totp, codes = _mfa_person(client, person)
    _fail_second_factor(app, person.id, 30, totp)
    clock.advance(authn.FACTOR_LOCK_SECONDS + 1)
    resp = _account_login(client, person.nik)
    url = resp.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert client.post(url, data={"code": codes[2], "csrf_token": csrf_token(page)}).status_code == 303
    enrol_totp(client, person.nik)
    with app.app_context():
        assert not authn.totp_blocked(person.id)


# -- notices for new sign-in methods (T54) ---------------------------------------------------------------
def test_new_factors_are_announced_to_every_verified_contact(app, client, person):
    from tests.authn.test_webauthn import SoftAuthenticator, add_passkey

    word = "Metode masuk baru"
    enrol_totp(client, person.nik)
    assert _messages(app, PHONE, word) == _messages(app, EMAIL, word) == 1
    home = client.get("/account").get_data(as_text=True)
    assert client.post("/account/recovery-codes", data={"csrf_token": csrf_token(home)}).status_code == 200
    assert _messages(app, PHONE, word) == 2
    assert add_passkey(client, person.nik, SoftAuthenticator()).status_code == 303
    assert _messages(app, PHONE, word) == _messages(app, EMAIL, word) == 3


def test_unverified_contacts_get_no_notice(app, client, create_person):
    from sqlalchemy import update

    other = create_person(phone_number="+6281200000031", email="lain@contoh.go.id")
    with app.app_context():
        db.session.execute(update(Person).where(Person.id == other.id).values(email_verified=False))
        db.session.commit()
    enrol_totp(client, other.nik)
    assert _messages(app, "+6281200000031", "Metode masuk baru") == 1
    assert _messages(app, "lain@contoh.go.id", "Metode masuk baru") == 0


@pytest.mark.parametrize("failure", ["delivery", "crash"])
def test_a_broken_notifier_never_breaks_the_action(app, client, person, monkeypatch, failure):
    from idp.notify import services as notify

    def broken(*_a, **_k):
        raise notify.DeliveryError("down") if failure == "delivery" else RuntimeError("bug")

    monkeypatch.setattr(notify, "send", broken)
    enrol_totp(client, person.nik)  # asserts the enrolment went through (303)
    with app.app_context():
        assert db.session.get(TotpFactor, person.id).confirmed_at is not None
