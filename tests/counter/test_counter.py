"""Counter enrolment (issue #3) through the Flask test client, on SQLite and PostgreSQL: an
officer with a second factor looks citizens up, verifies them in person against the
population registry, creates, raises, takes over or resets accounts, and the citizen
activates the account with the code and signs in to relying parties."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from idp import clock
from idp.audit.models import AuditEvent
from idp.authn.models import RecoveryCode, TotpFactor
from idp.consent.models import Consent
from idp.counter import services as counter
from idp.counter.models import ActivationCode
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from tests.authn.test_mfa import _idt, _mfa, enrol_totp, sign_out_locally
from tests.conftest import PASSWORD, Flow, csrf_token, never_logged, query

LOA1, LOA2, LOA3 = (f"urn:id:satuakun:loa:{n}" for n in (1, 2, 3))
# Women add 40 to the day of birth in the NIK.
NEW = {"nik": "3374014101900099", "name": "Siti Rahayu", "birthdate": "1990-01-01", "place": "Semarang", "sex": "P"}
OWN = {"nik": "3174011505850002", "name": "Agus Salim", "birthdate": "1985-05-15", "place": "Jakarta", "sex": "L"}
CLAIMED = {"nik": "3374015708920003", "name": "Dewi Lestari", "birthdate": "1992-08-17", "place": "Semarang", "sex": "P"}
LOCKED = {"nik": "3174012003750004", "name": "Bambang Hartono", "birthdate": "1975-03-20", "place": "Jakarta", "sex": "L"}
CITIZENS = (NEW, OWN, CLAIMED, LOCKED)
NEW_PASSWORD = "layang layang di pantai sore"
REASON = "Warga datang ke loket meminta bantuan akun"
never_logged(*(c["nik"] for c in CITIZENS), NEW_PASSWORD)


@pytest.fixture
def registry(app, tmp_path):
    from idp.registry.local import import_csv

    csv = tmp_path / "registry.csv"
    csv.write_text("nik,nama_lengkap,tanggal_lahir,tempat_lahir,jenis_kelamin\n" + "".join(
        f"{c['nik']},{c['name'].upper()},{c['birthdate']},{c['place']},{c['sex']}\n" for c in CITIZENS))
    with app.app_context():
        import_csv(csv)
    return csv


def english(http):
    # The test client files the provider's cookies under "localhost".
    http.set_cookie("lang", "en", domain="localhost")
    return http


def new_client(app):
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    return english(http)


def officer_sign_in(http, nik, totp):
    """From /counter: password, then the second factor, then back at /counter."""
    resp = http.get("/counter")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login"), resp.headers.get("Location")
    page = http.get(resp.headers["Location"])
    resp = http.post(resp.headers["Location"], data={"nik": nik, "password": PASSWORD,
                                                      "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/mfa")
    page = http.get(resp.headers["Location"])
    resp = http.post(resp.headers["Location"], data={"code": totp.at(clock.now()),
                                                      "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"] == "/counter"


@pytest.fixture
def officer(app, client, create_person, registry):
    who = create_person(name="Petugas Loket Satu", email="petugas@mpp.go.id", phone_number="+6281299990000")
    english(client)
    with app.app_context():
        counter.add_officer(who.nik, "MPP-3374", "MPP Kota Semarang", actor="test")
    totp = enrol_totp(client, who.nik)
    clock.advance(90)
    sign_out_locally(client)
    officer_sign_in(client, who.nik, totp)
    return SimpleNamespace(person=who, totp=totp, http=client)


def _token(http) -> str:
    return csrf_token(http.get("/counter").get_data(as_text=True))


def lookup(http, nik, reason=REASON):
    return http.post("/counter/lookup", data={"nik": nik, "reason": reason, "csrf_token": _token(http)})


def verify(http, who, action, *, reason=REASON, **over):
    data = {"nik": who["nik"], "reason": reason, "action": action, "document_type": "idcard", "photo_matches": "y",
            "name": who["name"], "birthdate": who["birthdate"], "birthplace": "", "channel": "printed", "phone": "",
            "email": "", "csrf_token": _token(http)}
    data.update(over)
    return http.post("/counter/verify", data={k: v for k, v in data.items() if v is not None})


def shown_code(resp) -> str:
    m = re.search(r'id="activation-code">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})<', resp.get_data(as_text=True))
    assert m, resp.get_data(as_text=True)[:2000]
    never_logged(m.group(1), m.group(1).replace("-", ""))
    return m.group(1)


def activate(http, nik, code, password=NEW_PASSWORD, confirm=None):
    page = http.get("/activate")
    assert page.status_code == 200
    return http.post("/activate", data={"nik": nik, "code": code, "password": password,
                                        "confirm": password if confirm is None else confirm,
                                        "csrf_token": csrf_token(page.get_data(as_text=True))})


def events(app, tag, person_id=None):
    with app.app_context():
        q = select(AuditEvent).where(AuditEvent.tag == tag)
        if person_id is not None:
            q = q.where(AuditEvent.person_id == person_id)
        return db.session.execute(q.order_by(AuditEvent.id)).scalars().all()


def person_row(app, nik) -> Person | None:
    from idp.identity import services as identity

    with app.app_context():
        person = identity.get_person_by_nik(nik)
        if person is not None:
            db.session.expunge(person)
        return person


def existing(create_person, who, **kw):
    kw.setdefault("email", "lama@contoh.id")
    kw.setdefault("phone_number", "+6281200000001")
    return create_person(nik=who["nik"], name=who["name"], birthdate=who["birthdate"], evidence=[
        {"type": "electronic_record", "check_method": "data", "record_type": "population_register", "registry": "local",
         "source_id": "x", "time": 1790000000}], **kw)


def sign_in_at_rp(flow, nik, password, **params):
    resp = flow.login(flow.authorize(**params), nik, password)
    return flow.follow(resp)


# -- access -----------------------------------------------------------------------------------------
def test_counter_needs_a_signed_in_officer(app, client, person, registry):
    english(client)
    resp = client.get("/counter")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    refused = client.post("/counter/lookup", data={"nik": NEW["nik"], "reason": REASON})
    assert refused.status_code in (302, 403)  # sign-in first, or the CSRF check
    # A citizen who is not an officer, even with two factors, is refused.
    totp = enrol_totp(client, person.nik)
    clock.advance(90)
    sign_out_locally(client)
    resp = client.get("/counter")
    page = client.get(resp.headers["Location"])
    resp = client.post(resp.headers["Location"], data={"nik": person.nik, "password": PASSWORD,
                                                        "csrf_token": csrf_token(page.get_data(as_text=True))})
    _mfa(SimpleNamespace(http=client), resp, totp.at(clock.now()))
    page = client.get("/counter")
    assert page.status_code == 403 and "officers only" in page.get_data(as_text=True).replace("\n", " ")
    assert events(app, "counter:citizen:looked_up") == []


def test_officer_needs_a_second_factor_then_steps_up(app, client, create_person, registry):
    who = create_person()
    english(client)
    with app.app_context():
        counter.add_officer(who.nik, "MPP-3374", "MPP Kota Semarang", actor="test")
    resp = client.get("/counter")
    page = client.get(resp.headers["Location"])
    resp = client.post(resp.headers["Location"], data={"nik": who.nik, "password": PASSWORD,
                                                        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.headers["Location"] == "/counter"  # signed in, password only
    refused = client.get("/counter")
    assert refused.status_code == 403 and "second factor" in refused.get_data(as_text=True)

    totp = enrol_totp(client, who.nik)  # the session stays at level 1
    clock.advance(90)
    step_up = client.get("/counter")
    assert step_up.status_code == 302 and step_up.headers["Location"].endswith("/mfa")
    done = _mfa(SimpleNamespace(http=client), step_up, totp.at(clock.now()))
    assert done.status_code == 303 and done.headers["Location"] == "/counter"
    home = client.get("/counter")
    assert home.status_code == 200 and "MPP Kota Semarang" in home.get_data(as_text=True)

    # Disabled by an operator: refused at once, in the same session.
    with app.app_context():
        counter.disable_officer(who.nik, actor="test")
    assert client.get("/counter").status_code == 403


# -- look-up ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_lookup_needs_a_reason(app, officer, reason):
    resp = lookup(officer.http, NEW["nik"], reason)
    assert resp.status_code == 400 and "200 characters" in resp.get_data(as_text=True)
    assert events(app, "counter:citizen:looked_up") == []


def test_lookup_is_audited_with_officer_location_citizen_and_reason(app, officer, create_person):
    own = existing(create_person, OWN)
    resp = lookup(officer.http, OWN["nik"], REASON + " (KTP 3174011505850002)")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "+6281******001" in html and "l***@contoh.id" in html and "+6281200000001" not in html
    assert 'id="status-password">Set<' in html and 'id="status-level">Checked online' in html
    assert "Agus Salim" not in html  # the officer reads the name from the document
    (event,) = events(app, "counter:citizen:looked_up")
    assert event.person_id == own.id and event.actor == f"officer:{officer.person.id}"
    assert event.data["officer_id"] == officer.person.id and event.data["location_code"] == "MPP-3374"
    assert event.data["reason"].startswith(REASON) and OWN["nik"] not in json.dumps(event.data)

    none = lookup(officer.http, NEW["nik"])
    assert none.status_code == 200 and 'id="status"' in none.get_data(as_text=True)
    second = events(app, "counter:citizen:looked_up")[-1]
    assert second.person_id is None and second.data["account"] is False and len(second.data["nik_index"]) == 64

    # No NIK in any URL: the result pages are answers to POSTs, and a GET goes home.
    assert officer.http.get("/counter/lookup").headers["Location"] == "/counter"


def test_officer_cannot_look_up_or_act_on_their_own_account(app, officer):
    resp = lookup(officer.http, officer.person.nik)
    assert resp.status_code == 400 and "another officer" in resp.get_data(as_text=True)
    assert events(app, "counter:citizen:looked_up") == []


# -- create on behalf, activation, sign-in ------------------------------------------------------
def test_create_on_behalf_activate_and_sign_in_at_level_3(app, officer, register_client):
    status = lookup(officer.http, NEW["nik"])
    assert 'value="create"' in status.get_data(as_text=True)
    resp = verify(officer.http, NEW, "create", phone="0812 7777 8888", email="siti@contoh.id", birthplace="semarang")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1500]
    code = shown_code(resp)

    person = person_row(app, NEW["nik"])
    assert person.identity_level == 3 and person.password_hash is None and person.gender == "female"
    assert (person.phone_number, person.phone_number_verified) == ("+6281277778888", False)
    assert (person.email, person.email_verified) == ("siti@contoh.id", False)
    registry_entry, document = person.evidence
    assert registry_entry["type"] == "electronic_record"
    assert document == {"type": "document", "check_method": "vpip", "document_type": "idcard",
                        "officer_id": document["officer_id"], "location_code": "MPP-3374",
                        "location_name": "MPP Kota Semarang", "time": document["time"], "txn": document["txn"]}
    for tag in ("counter:account:created", "counter:identity:verified", "counter:activation_code:issued"):
        (event,) = events(app, tag, person.id)
        assert event.data["officer_id"] == officer.person.id and event.data["location_code"] == "MPP-3374"
        assert event.data["reason"] == REASON and event.data["txn"] == document["txn"]

    citizen = new_client(app)
    # The code works regardless of case and dashes, once.
    done = activate(citizen, NEW["nik"], code.lower().replace("-", " "))
    assert done.status_code == 303 and done.headers["Location"] == "/activate/done"
    assert "/account/totp" in citizen.get("/activate/done").get_data(as_text=True)
    assert activate(citizen, NEW["nik"], code, password="sepeda biru di pasar pagi").status_code == 400
    assert events(app, "citizen:activation:completed", person.id)

    # Without a second factor: level 1, whatever the identity.
    c, secret = register_client("rp-ida", identity_assurance=True, scopes=["openid", "profile"])
    flow = Flow(citizen, c, secret)
    claims = json.dumps({"id_token": {"verified_claims": {
        "verification": {"trust_framework": None, "assurance_level": None, "evidence": None},
        "claims": {"name": None, "birthdate": None, "place_of_birth": None}}}})
    params = query(flow.follow(flow.consent(sign_in_at_rp(flow, NEW["nik"], NEW_PASSWORD, claims=claims))).headers["Location"])
    assert _idt(flow, params["code"])["acr"] == LOA1

    # With an authenticator app: level 3, and the in-person evidence in verified_claims.
    totp = enrol_totp(citizen, NEW["nik"])
    clock.advance(90)
    sign_out_locally(citizen)
    want = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA3]}, "verified_claims": {
        "verification": {"trust_framework": None, "assurance_level": None, "evidence": None},
        "claims": {"name": None, "birthdate": None, "place_of_birth": None}}}})
    resp = flow.login(flow.authorize(claims=want), NEW["nik"], NEW_PASSWORD)
    assert resp.headers["Location"].endswith("/mfa")
    final = flow.follow(_mfa(flow, resp, totp.at(clock.now())))
    if "/consent" in final.headers.get("Location", ""):
        final = flow.follow(flow.consent(final))
    out = _idt(flow, query(final.headers["Location"])["code"])
    assert out["acr"] == LOA3
    verification = out["verified_claims"]["verification"]
    assert verification["assurance_level"] == "in_person_verified"
    in_person = [e for e in verification["evidence"] if e["type"] == "document"]
    assert in_person[0]["check_details"][0]["check_method"] == "vpip"
    assert in_person[0]["check_details"][0]["organization"] == "MPP Kota Semarang"
    assert in_person[0]["check_details"][0]["txn"] == document["txn"]
    assert in_person[0]["document_details"]["type"] == "idcard"
    assert out["verified_claims"]["claims"] == {"name": "Siti Rahayu", "birthdate": "1990-01-01",
                                                "place_of_birth": {"locality": "semarang", "country": "IDN"}}


def test_activation_code_by_sms(app, officer):
    lookup(officer.http, NEW["nik"])
    resp = verify(officer.http, NEW, "create", channel="sms", phone="0812 7777 8888")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="activation-sent"' in html and 'id="activation-code"' not in html
    with app.app_context():
        body = db.session.execute(select(OutboxMessage.body).where(OutboxMessage.destination == "+6281277778888")).scalar_one()
    code = re.search(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b", body).group(1)
    never_logged(code)
    assert activate(new_client(app), NEW["nik"], code).status_code == 303


@pytest.mark.parametrize("over,key", [
    ({"photo_matches": None}, "photo"),
    ({"document_type": "library_card"}, "document"),
    ({"name": "  "}, "full name"),
    ({"channel": "sms"}, "phone number or e-mail"),
    ({"channel": "pigeon"}, "activation code"),
    ({"phone": "021 555 1234"}, "mobile number"),
    ({"birthdate": "1990-01-02"}, "date of birth"),
    ({"action": "verify"}, "Look the NIK up again"),
])
def test_incomplete_checks_change_nothing(app, officer, over, key):
    lookup(officer.http, NEW["nik"])
    over = dict(over)
    resp = verify(officer.http, NEW, over.pop("action", "create"), **over)
    assert resp.status_code == 400 and key in resp.get_data(as_text=True), resp.get_data(as_text=True)[:3000]
    assert person_row(app, NEW["nik"]) is None
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ActivationCode)).scalar() == 0


def test_registry_mismatch_and_outage_change_nothing(app, officer, create_person, monkeypatch):
    own = existing(create_person, OWN)
    lookup(officer.http, NEW["nik"])
    mismatch = verify(officer.http, NEW, "create", name="Siti Rahmawati")
    assert mismatch.status_code == 400 and person_row(app, NEW["nik"]) is None
    (event,) = events(app, "counter:identity:not_verified")
    assert event.data["reason"] == REASON and event.data["location_code"] == "MPP-3374"
    before = person_row(app, OWN["nik"])
    assert verify(officer.http, OWN, "reset", name="Agus Salimun").status_code == 400

    from idp.registry import services as registry_services
    from idp.registry.base import RegistryUnavailableError

    def down(*_a, **_k):
        raise RegistryUnavailableError("timeout", retry_after=30)

    monkeypatch.setattr(registry_services, "verify", down)
    outage = verify(officer.http, OWN, "reset")
    assert outage.status_code == 503 and outage.headers["Retry-After"] == "30"
    assert verify(officer.http, NEW, "create").status_code == 503
    after = person_row(app, OWN["nik"])
    assert (after.password_hash, after.identity_level, after.evidence) == (before.password_hash, 1, before.evidence)
    assert person_row(app, NEW["nik"]) is None
    assert events(app, "counter:credentials:reset", own.id) == []


# -- existing accounts ------------------------------------------------------------------------------
def test_raise_level_of_an_existing_account(app, officer, create_person, flow):
    own = existing(create_person, OWN)
    clock.advance(10)
    started = clock.now()
    resp = verify(officer.http, OWN, "verify")
    assert resp.status_code == 200 and 'id="activation-code"' not in resp.get_data(as_text=True)
    person = person_row(app, OWN["nik"])
    # The verification time is the request's (the wall clock may tick a second meanwhile).
    assert person.identity_level == 3 and started <= person.identity_verified_at <= clock.now()
    assert [e["type"] for e in person.evidence] == ["electronic_record", "document"]
    assert events(app, "counter:identity:verified", own.id)[0].data["action"] == "verify"
    # The citizen keeps the account and its password.
    assert "code" in flow.run(OWN["nik"])
    # Once verified in person, the account can no longer be "taken over" from the counter.
    refused = verify(officer.http, OWN, "take_over")
    assert refused.status_code == 400 and person_row(app, OWN["nik"]).password_hash == person.password_hash


def test_take_over_a_self_registered_account(app, officer, create_person, register_client):
    claimed = existing(create_person, CLAIMED, password=PASSWORD)
    # Whoever registered it signs in to a service, keeps a session, tokens and an authenticator.
    impostor = new_client(app)
    c, secret = register_client()
    flow = Flow(impostor, c, secret)
    tokens = flow.token(flow.run(CLAIMED["nik"])["code"]).get_json()
    enrol_totp(impostor, CLAIMED["nik"])
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Consent).where(Consent.person_id == claimed.id)).scalar() == 1

    page = lookup(officer.http, CLAIMED["nik"]).get_data(as_text=True)
    assert 'value="take_over"' in page
    resp = verify(officer.http, CLAIMED, "take_over", channel="sms", phone="0813 2222 3333")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1500]
    person = person_row(app, CLAIMED["nik"])
    assert person.identity_level == 3 and person.password_hash is None and person.email is None
    assert (person.phone_number, person.phone_number_verified) == ("+6281322223333", False)
    assert [e["type"] for e in person.evidence] == ["electronic_record", "document"]
    with app.app_context():
        for model in (TotpFactor, RecoveryCode, Consent):
            assert db.session.execute(select(func.count()).select_from(model).where(model.person_id == claimed.id)).scalar() == 0
    (event,) = events(app, "counter:account:taken_over", claimed.id)
    assert event.data["reason"] == REASON and event.data["officer_id"] == officer.person.id

    # The earlier claimant is out: session, refresh and access tokens, password.
    assert impostor.get("/account").status_code == 302
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert impostor.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    sign_out_locally(impostor)
    again = flow.login(flow.authorize(), CLAIMED["nik"], PASSWORD)
    assert again.status_code == 200 and 'role="alert"' in again.get_data(as_text=True)

    # The person at the counter activates with the code sent to their phone and signs in.
    with app.app_context():
        body = db.session.execute(select(OutboxMessage.body).where(OutboxMessage.destination == "+6281322223333")).scalar_one()
    code = re.search(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b", body).group(1)
    never_logged(code)
    citizen = new_client(app)
    assert activate(citizen, CLAIMED["nik"], code).status_code == 303
    mine = Flow(citizen, c, secret)
    assert "/consent" in sign_in_at_rp(mine, CLAIMED["nik"], NEW_PASSWORD).headers["Location"]


def test_reset_a_locked_out_citizen(app, officer, create_person):
    locked = existing(create_person, LOCKED)
    from idp.identity import services as identity

    with app.app_context():
        identity.set_locked(identity.get_person_by_nik(LOCKED["nik"]), True, actor="test")
    page = lookup(officer.http, LOCKED["nik"]).get_data(as_text=True)
    assert 'id="status-locked"' in page and 'value="reset"' in page
    resp = verify(officer.http, LOCKED, "reset", document_type="passport", email="bambang@contoh.id")
    assert resp.status_code == 200
    code = shown_code(resp)
    person = person_row(app, LOCKED["nik"])
    assert not person.locked and person.password_hash is None and person.identity_level == 3
    assert person.evidence[-1]["document_type"] == "passport" and person.email == "bambang@contoh.id"
    (event,) = events(app, "counter:credentials:reset", locked.id)
    assert event.data["unlocked"] is True and event.data["location_code"] == "MPP-3374"
    assert events(app, "operator:person:unlocked", locked.id)

    # A second reset voids the first code.
    second = shown_code(verify(officer.http, LOCKED, "reset"))
    citizen = new_client(app)
    assert activate(citizen, LOCKED["nik"], code).status_code == 400
    assert activate(citizen, LOCKED["nik"], second).status_code == 303
    c = citizen.get("/account")
    assert c.status_code == 302  # not signed in by activation: the citizen signs in next


# -- activation: no enumeration, throttled, codes void after 5 tries ---------------------------
def _normalised(resp, nik) -> tuple[int, str]:
    # CSRF tokens are signed with a timestamp: they differ from one second to the next.
    body = re.sub(r'name="csrf_token"(?: type="hidden")? value="[^"]+"', "", resp.get_data(as_text=True))
    return resp.status_code, body.replace(nik, "NIK")


def test_activation_errors_are_identical(app, officer, create_person):
    existing(create_person, OWN)
    lookup(officer.http, NEW["nik"])
    code = shown_code(verify(officer.http, NEW, "create"))
    expiring = shown_code(verify(officer.http, OWN, "reset"))
    wrong_code = "ABCD-EFGH-JKMN"
    citizen = new_client(app)
    unknown_nik = "3374010101909999"
    never_logged(unknown_nik)
    answers = [
        _normalised(activate(citizen, unknown_nik, code), unknown_nik),
        _normalised(activate(citizen, NEW["nik"], wrong_code), NEW["nik"]),
        _normalised(activate(citizen, "12345", code), "12345"),
    ]
    clock.advance(86401)
    answers.append(_normalised(activate(citizen, OWN["nik"], expiring), OWN["nik"]))
    assert answers[0][0] == 400 and all(a == answers[0] for a in answers)
    assert "incorrect" in answers[0][1]


def test_five_wrong_codes_void_the_code_and_attempts_are_throttled(app, officer):
    lookup(officer.http, NEW["nik"])
    code = shown_code(verify(officer.http, NEW, "create"))
    citizen = new_client(app)
    for _ in range(5):
        assert activate(citizen, NEW["nik"], "ABCD-EFGH-JKMN").status_code == 400
    assert activate(citizen, NEW["nik"], code).status_code == 400  # void now
    throttled = activate(citizen, NEW["nik"], code)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    with app.app_context():
        row = db.session.execute(select(ActivationCode)).scalar_one()
        assert row.voided_at is not None and row.used_at is None


def test_weak_password_keeps_the_code_usable(app, officer):
    lookup(officer.http, NEW["nik"])
    code = shown_code(verify(officer.http, NEW, "create"))
    citizen = new_client(app)
    short = activate(citizen, NEW["nik"], code, password="kopi pagi")  # 15 before a second factor
    assert short.status_code == 400 and "at least 15" in short.get_data(as_text=True)
    named = activate(citizen, NEW["nik"], code, password="siti rahayu punya kucing")
    assert named.status_code == 400 and "name" in named.get_data(as_text=True)
    assert activate(citizen, NEW["nik"], code, confirm="something else entirely").status_code == 400
    assert activate(citizen, NEW["nik"], code).status_code == 303


def test_login_page_links_to_activation(client, flow):
    resp = flow.authorize()
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'href="/activate"' in page
    assert urlsplit(client.get("/activate").request.url).path == "/activate"


def test_counter_pages_are_accessible(app, officer, create_person):
    """The WCAG structure checks of tests/account/test_accessibility.py on the officer's
    pages: home, a citizen found by look-up (several forms), and an activation code."""
    from tests.account.test_accessibility import check

    existing(create_person, OWN)
    check(officer.http.get("/counter").get_data(as_text=True), "/counter")
    found = lookup(officer.http, OWN["nik"])
    assert found.status_code == 200
    check(found.get_data(as_text=True), "/counter/lookup (account found)")
    check(lookup(officer.http, NEW["nik"]).get_data(as_text=True), "/counter/lookup (no account)")
    created = verify(officer.http, NEW, "create")
    assert created.status_code == 200
    check(created.get_data(as_text=True), "/counter/verify (account created)")
