"""Account recovery (issue #3 "Recovery"; SECURITY.md T36, T46): the verified contact's
code, the second factor when there is one, a new password; afterwards every session and
refresh token of the person is dead and the citizen is told. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from idp import clock
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from idp.recovery.models import Recovery
from tests.authn.test_mfa import enrol_totp, sign_out_locally
from tests.conftest import PASSWORD, Flow, csrf_token, never_logged, query

PHONE, EMAIL = "+6281200000001", "budi@contoh.go.id"
NEW_PASSWORD = "sepeda biru di pasar pagi"  # 25 characters: enough without a second factor
SHORT_NEW = "teh manis sore"  # 14: only with a second factor
never_logged(NEW_PASSWORD, SHORT_NEW)


# -- helpers ----------------------------------------------------------------------------------------
def browser(app):
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    return http


def post(http, url, data):
    page = http.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return http.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def start(http, nik, birthdate="1990-01-01", channel="sms"):
    return post(http, "/recover", {"nik": nik, "birthdate": birthdate, "channel": channel})


def messages(app, destination) -> list[str]:
    """Bodies sent to ``destination``, oldest first."""
    with app.app_context():
        return list(db.session.execute(
            select(OutboxMessage.body).where(OutboxMessage.destination == destination).order_by(OutboxMessage.id)
        ).scalars())


def last_code(app, destination) -> str | None:
    """The code of the newest message to ``destination`` if it is a reset code."""
    sent = messages(app, destination)
    m = re.search(r"\b(\d{6})\b", sent[-1]) if sent else None
    if m is None:
        return None
    never_logged(m.group(1))
    return m.group(1)


def enter_code(http, code):
    return post(http, "/recover/code", {"code": code})


def set_password(http, password=NEW_PASSWORD):
    return post(http, "/recover/password", {"password": password, "confirm": password})


def recover(app, http, nik, destination=PHONE, *, channel="sms", password=NEW_PASSWORD):
    """Start, enter the code; returns the response to the code (next step in Location)."""
    resp = start(http, nik, channel=channel)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/code")
    code = last_code(app, destination)
    assert code, "no code sent"
    return enter_code(http, code)


def audit_tags(app, person_id) -> list[str]:
    with app.app_context():
        return list(db.session.execute(
            select(AuditEvent.tag).where(AuditEvent.person_id == person_id).order_by(AuditEvent.id)).scalars())


def login(flow, nik, password, **kw):
    return flow.login(flow.authorize(prompt="login", **kw), nik, password)


def unify(html: str) -> str:
    """The page without its CSRF tokens (random per session)."""
    return re.sub(r'(name="csrf_token"(?: type="hidden")? value=")[^"]+"', r'\1"', html)


# -- the whole reset ------------------------------------------------------------------------------------
def test_reset_by_sms_ends_sessions_and_tokens_of_a_password_only_account(app, client, flow, person):
    # Signed in at a relying party before the reset, with a refresh token.
    tokens = flow.token(flow.run(person.nik)["code"]).get_json()
    assert "refresh_token" in tokens
    resp = flow.authorize(prompt="none")
    assert "code" in query(resp.headers["Location"])

    # The reset, from the sign-in page of another browser.
    http = browser(app)
    auth = Flow(http, flow.rp, flow.secret)
    login_url = auth.authorize().headers["Location"]
    uid = login_url.rsplit("/", 2)[-2]
    assert f"/recover?from={uid}" in http.get(login_url).get_data(as_text=True)
    http.get(f"/recover?from={uid}")
    resp = recover(app, http, person.nik)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/password")  # no second factor
    page = http.get("/recover/password").get_data(as_text=True)
    assert "15" in page
    assert set_password(http, SHORT_NEW).status_code == 400  # 15 characters without a second factor
    resp = set_password(http)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/done")
    done = http.get("/recover/done")
    assert done.status_code == 200 and f"/interaction/{uid}/login" in done.get_data(as_text=True)

    # Everything from before is dead: the session at the RP, the refresh token.
    assert query(flow.authorize(prompt="none").headers["Location"])["error"] == "login_required"
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400
    # The old password no longer works; the new one does.
    assert login(flow, person.nik, PASSWORD).status_code == 200
    final = flow.follow(login(flow, person.nik, NEW_PASSWORD))
    assert final.status_code == 302 and "code" in query(final.headers["Location"])
    # Audited, and both verified contacts are told.
    tags = audit_tags(app, person.id)
    assert "citizen:recovery:requested" in tags and "account:password:reset" in tags
    for destination in (PHONE, EMAIL):
        assert any("kata sandi" in m.lower() and "diubah" in m for m in messages(app, destination)), destination
    # The finished recovery cannot be replayed.
    assert http.get("/recover/password").status_code == 303
    assert http.get("/recover/code").status_code == 303


def test_reset_by_email(app, client, person):
    resp = recover(app, client, person.nik, EMAIL, channel="email")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/password")
    # The SMS channel got nothing.
    assert messages(app, PHONE) == []


def test_mfa_account_needs_the_second_factor_and_keeps_it(app, client, flow, person):
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    resp = recover(app, client, person.nik)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/factor")
    # The password step cannot be reached around the factor.
    skip = client.get("/recover/password")
    assert skip.status_code == 303 and skip.headers["Location"].endswith("/recover/factor")
    wrong = post(client, "/recover/factor", {"code": "000000" if totp.now() != "000000" else "111111"})
    assert wrong.status_code == 400 and 'role="alert"' in wrong.get_data(as_text=True)
    resp = post(client, "/recover/factor", {"code": totp.at(clock.now())})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/password")
    # With a second factor, 8 characters are enough.
    assert set_password(client, SHORT_NEW).status_code == 303
    # The factor is still there: the new password leads to the second step, the app works.
    clock.advance(60)
    resp = login(flow, person.nik, SHORT_NEW)
    assert resp.status_code == 303 and "/mfa" in resp.headers["Location"]
    page = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    ok = flow.http.post(resp.headers["Location"], data={"code": totp.at(clock.now()), "csrf_token": csrf_token(page)})
    assert ok.status_code == 303
    with app.app_context():
        from idp.authn import totp as totp_mod

        assert totp_mod.get_factor(person.id) is not None


def test_passkey_as_the_second_factor(app, client, person):
    from tests.authn.test_webauthn import SoftAuthenticator, add_passkey, page_options

    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    sign_out_locally(client)
    resp = recover(app, client, person.nik)
    assert resp.headers["Location"].endswith("/recover/factor")
    page = client.get("/recover/factor").get_data(as_text=True)
    assert 'data-webauthn="get"' in page
    resp = client.post("/recover/factor", data={"csrf_token": csrf_token(page), "credential": auth.get(page_options(page))})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/password")


def test_five_wrong_second_factors_void_the_recovery(app, client, person):
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    recover(app, client, person.nik)
    bad = "123456" if totp.now() != "123456" else "654321"
    for _ in range(4):
        assert post(client, "/recover/factor", {"code": bad}).status_code == 400
    resp = post(client, "/recover/factor", {"code": bad})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/void")
    assert client.get("/recover/void").status_code == 200
    # Nothing further from this recovery, not even with the right code.
    assert client.get("/recover/factor").headers["Location"].endswith("/recover/void")
    assert client.get("/recover/password").headers["Location"].endswith("/recover/void")
    assert "citizen:recovery:void" in audit_tags(app, person.id)


def test_lost_every_factor_ends_at_the_counter_advice(app, client, person):
    enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    with app.app_context():
        from idp.authn.models import TotpFactor

        db.session.execute(update(TotpFactor).values(failures=30))  # the app is blocked
        db.session.commit()
    recover(app, client, person.nik)
    page = client.get("/recover/factor").get_data(as_text=True)
    assert "/recover/counter" in page and 'name="code"' not in page
    assert client.get("/recover/counter").status_code == 200


# -- no enumeration (T36) ------------------------------------------------------------------------------
def _first_two_pages(app, nik, birthdate="1990-01-01", channel="sms"):
    http = browser(app)
    resp = start(http, nik, birthdate, channel)
    cookies = sorted(c.split("=", 1)[0] for c in resp.headers.getlist("Set-Cookie"))
    page = http.get("/recover/code")
    return (resp.status_code, resp.headers.get("Location"), resp.get_data(as_text=True), cookies,
            page.status_code, unify(page.get_data(as_text=True)))


def test_T36_same_answer_whatever_the_facts(app, create_person):
    real = create_person(phone_number="+6281200000011")
    # Born 1905 vs 2005: the only wrong date of birth the NIK itself cannot reveal.
    young = create_person(nik="3174010101050001", birthdate="2005-01-01", phone_number="+6281200000012")
    unverified = create_person(phone_number="+6281200000013")
    locked = create_person(phone_number="+6281200000014")
    with app.app_context():
        db.session.execute(update(Person).where(Person.id == unverified.id).values(phone_number_verified=False))
        db.session.execute(update(Person).where(Person.id == locked.id).values(locked=True))
        db.session.commit()
    baseline = _first_two_pages(app, real.nik)
    assert baseline[0] == 303 and baseline[4] == 200
    assert last_code(app, "+6281200000011")
    others = {
        "unknown NIK": _first_two_pages(app, "3174010101909998"),
        "wrong date of birth": _first_two_pages(app, young.nik, "1905-01-01"),
        "no verified contact": _first_two_pages(app, unverified.nik),
        "locked account": _first_two_pages(app, locked.nik),
    }
    for case, result in others.items():
        assert result == baseline, case
    for destination in ("+6281200000012", "+6281200000013", "+6281200000014"):
        assert not any("kata sandi" in m.lower() for m in messages(app, destination)), destination
    # A decoy's code page takes codes like a real one and never accepts any.
    http = browser(app)
    start(http, "3174010101909997")
    assert enter_code(http, "123456").status_code == 400


def test_T36_a_date_the_nik_contradicts_is_refused_alike(app, person):
    known = start(browser(app), person.nik, "1991-02-03")
    unknown = start(browser(app), "3174010101909998", "1991-02-03")
    assert known.status_code == unknown.status_code == 400
    assert unify(known.get_data(as_text=True)).replace(person.nik, "N") == unify(unknown.get_data(as_text=True)).replace(
        "3174010101909998", "N")


# -- codes -----------------------------------------------------------------------------------------------
def test_code_tries_single_use_and_expiry(app, client, person):
    start(client, person.nik)
    code = last_code(app, PHONE)
    bad = "999999" if code != "999999" else "888888"
    for left in range(4):
        resp = enter_code(client, bad)
        assert resp.status_code == 400, left
    enter_code(client, bad)  # the fifth wrong try voids the code
    assert enter_code(client, code).status_code == 400
    # A new code after a minute; valid 10 minutes by SMS.
    clock.advance(61)
    page = client.get("/recover/code").get_data(as_text=True)
    assert "10" in page
    assert client.post("/recover/code/resend", data={"csrf_token": csrf_token(page)}).status_code == 303
    code = last_code(app, PHONE)
    clock.advance(601)
    assert enter_code(client, code).status_code == 400


def test_email_code_lives_thirty_minutes(app, person):
    early, late = browser(app), browser(app)
    start(early, person.nik, channel="email")
    first = last_code(app, EMAIL)
    clock.advance(29 * 60)
    assert enter_code(early, first).status_code == 303
    start(late, person.nik, channel="email")
    second = last_code(app, EMAIL)
    clock.advance(31 * 60)
    assert enter_code(late, second).status_code == 400


def test_send_caps_per_nik_and_per_recovery(app, client, person):
    assert start(client, person.nik).status_code == 303
    # Again within a minute: refused, for a known NIK as for an unknown one.
    again = start(browser(app), person.nik)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) <= 60
    assert start(browser(app), "3174010101909998").status_code == 303
    assert start(browser(app), "3174010101909998").status_code == 429
    for _ in range(2):
        clock.advance(61)
        page = client.get("/recover/code").get_data(as_text=True)
        assert client.post("/recover/code/resend", data={"csrf_token": csrf_token(page)}).status_code == 303
    clock.advance(61)
    page = client.get("/recover/code").get_data(as_text=True)
    assert client.post("/recover/code/resend", data={"csrf_token": csrf_token(page)}).status_code == 429
    assert sum("kata sandi" in m.lower() for m in messages(app, PHONE)) == 3


def test_destination_cap_is_silent(app, create_person):
    """Two NIKs with one phone (a family): the second request within a minute gets the same
    page but no code, so the cap tells nobody that the number belongs to an account."""
    first = create_person(phone_number="+6281200000021")
    second = create_person(phone_number="+6281200000021")
    assert start(browser(app), first.nik).status_code == 303
    http = browser(app)
    resp = start(http, second.nik)
    assert resp.status_code == 303 and http.get("/recover/code").status_code == 200
    assert sum("kata sandi" in m.lower() for m in messages(app, "+6281200000021")) == 1


def test_delivery_failure_is_not_shown(app, client, person, monkeypatch):
    from idp.notify import services as notify

    def broken(*_a, **_k):
        raise notify.DeliveryError("gateway down")

    monkeypatch.setattr(notify, "send", broken)
    resp = start(client, person.nik)
    assert resp.status_code == 303 and client.get("/recover/code").status_code == 200


# -- the state machine -------------------------------------------------------------------------------------
def test_steps_cannot_be_skipped_or_taken_to_another_browser(app, client, person):
    for url in ("/recover/code", "/recover/factor", "/recover/password", "/recover/done"):
        assert client.get(url).status_code == 400, url
    start(client, person.nik)
    for url in ("/recover/factor", "/recover/password", "/recover/done", "/recover/void"):
        resp = client.get(url)
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/recover/code"), url
    page = client.get("/recover/code").get_data(as_text=True)
    skipped = client.post("/recover/password", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                                     "csrf_token": csrf_token(page)})
    assert skipped.status_code == 303 and skipped.headers["Location"].endswith("/recover/code")
    other = browser(app)
    assert other.get("/recover/code").status_code == 400
    # A recovery lives one hour.
    clock.advance(3601)
    assert client.get("/recover/code").status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Recovery)).scalar() == 1
        assert db.session.get(Person, person.id).password_hash is not None


def test_bad_input_is_explained(app, client):
    client.get("/lang/en")
    resp = start(client, "12345", "1990-01-01")
    assert resp.status_code == 400 and "16 digits" in resp.get_data(as_text=True)
    resp = start(client, "3174010101909998", "not a date")
    assert resp.status_code == 400 and "date of birth" in resp.get_data(as_text=True)
    resp = start(client, "3174010101909998", "1990-01-01", channel="pigeon")
    assert resp.status_code == 400


@pytest.mark.parametrize(("url", "indonesian", "english"), [
    ("/recover", "Atur ulang kata sandi", "Reset your password"),
    ("/recover/counter", "loket MPP", "MPP counter"),
])
def test_pages_in_both_languages(client, url, indonesian, english):
    assert indonesian in client.get(url).get_data(as_text=True)
    client.get("/lang/en")
    page = client.get(url)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert english in page.get_data(as_text=True)
