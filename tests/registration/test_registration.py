"""Self-registration (issue #3): identity checked against the local population registry,
a contact proven by a one-time code, a password, then an account that signs in to the
relying party the citizen came from. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from idp import clock
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from idp.registration.models import Registration
from tests.conftest import csrf_token, never_logged, query

# Women add 40 to the day of birth: 41-01-90 is 1 January 1990.
SITI = {"nik": "3374014101900099", "name": "Siti Rahayu", "birthdate": "1990-01-01", "place": "Semarang", "sex": "P"}
AGUS = {"nik": "3174011505850002", "name": "Agus Salim", "birthdate": "1985-05-15", "place": "Jakarta", "sex": "L"}
GOOD_PASSWORD = "kopi pagi di teras rumah"
never_logged(SITI["nik"], AGUS["nik"], GOOD_PASSWORD)


@pytest.fixture
def registry(app, tmp_path):
    """The local registry, imported from CSV as an operator would."""
    from idp.registry.local import import_csv

    csv = tmp_path / "registry.csv"
    csv.write_text("nik,nama_lengkap,tanggal_lahir,tempat_lahir,jenis_kelamin\n" + "".join(
        f"{p['nik']},{p['name'].upper()},{p['birthdate']},{p['place']},{p['sex']}\n" for p in (SITI, AGUS)))
    with app.app_context():
        import_csv(csv)
    return csv


def _post(http, url, data):
    page = http.get(url)
    assert page.status_code == 200, page.status_code
    return http.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def _identity(http, who=SITI, **over):
    data = {"nik": who["nik"], "name": who["name"], "birthdate": who["birthdate"], "birthplace": ""}
    data.update(over)
    return _post(http, "/register", data)


def _last_message(app, destination):
    with app.app_context():
        row = db.session.execute(select(OutboxMessage).where(OutboxMessage.destination == destination)
                                 .order_by(OutboxMessage.id.desc())).scalars().first()
        return row.body if row else None


def _code(app, destination):
    body = _last_message(app, destination)
    m = re.search(r"\b(\d{6})\b", body or "")
    if m:
        never_logged(m.group(1))
    return m.group(1) if m else None


def register(app, http, who=SITI, phone="0812 3456 7890", password=GOOD_PASSWORD):
    resp = _identity(http, who)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/contact"), resp.get_data(as_text=True)[:300]
    resp = _post(http, "/register/contact", {"channel": "sms", "destination": phone})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/code")
    code = _code(app, "+62" + re.sub(r"\D", "", phone)[1:])
    resp = _post(http, "/register/code", {"code": code})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/password")
    return _post(http, "/register/password", {"password": password, "confirm": password})


def test_whole_registration_creates_one_verified_account(app, client, registry):
    resp = register(app, client)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/done")
    assert client.get("/register/done").status_code == 200
    with app.app_context():
        person = db.session.execute(select(Person)).scalar_one()
        assert person.name == "Siti Rahayu"
        assert person.phone_number == "+6281234567890" and person.phone_number_verified
        assert person.identity_level == 1 and person.gender == "female"
        assert person.evidence[0]["type"] == "electronic_record" and person.evidence[0]["registry"] == "local"
        tags = db.session.execute(select(AuditEvent.tag)).scalars().all()
        assert "citizen:registration:completed" in tags
    # The welcome message went to the verified number.
    assert "SatuAkun" in _last_message(app, "+6281234567890")


def test_new_account_signs_in_to_the_service_it_came_from(app, client, registry, flow):
    resp = flow.authorize()
    uid = resp.headers["Location"].rsplit("/", 2)[-2]
    login_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"/register?from={uid}" in login_page
    client.get(f"/register?from={uid}")
    register(app, client)
    done = client.get("/register/done").get_data(as_text=True)
    assert f"/interaction/{uid}/registered" in done
    resp = client.post(f"/interaction/{uid}/registered", data={"csrf_token": csrf_token(done)})
    resp = flow.follow(resp)
    assert "/consent" in resp.headers["Location"]
    resp = flow.follow(flow.consent(resp))
    params = query(resp.headers["Location"])
    tokens = flow.token(params["code"]).get_json()
    assert "id_token" in tokens
    # The one-time sign-in link cannot be used twice.
    again = client.post(f"/interaction/{uid}/registered", data={"csrf_token": csrf_token(done)})
    assert again.status_code in (303, 400, 403)
    assert "Location" not in again.headers or "/login" in again.headers["Location"]


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"nik": "3374014101900"}, "NIK"),
        ({"nik": "0074014101900099"}, "NIK"),
        ({"birthdate": "1990-01-02"}, "NIK"),  # not the date encoded in the NIK
        ({"name": "Siti Rahmawati"}, "registry"),  # registry mismatch
    ],
)
def test_bad_or_unmatched_identity_creates_nothing(app, client, registry, over, key):
    resp = _identity(client, **over)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "alert" in body
    assert SITI["nik"] not in body.replace('value="3374014101900099"', "")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Registration)).scalar() == 0
        assert db.session.execute(select(func.count()).select_from(Person)).scalar() == 0


def test_name_with_honorific_and_case_still_matches(app, client, registry):
    resp = _identity(client, AGUS, name="H. agus  salim, S.Kom.")
    assert resp.status_code == 303


def test_existing_nik_looks_the_same_and_tells_the_owner(app, client, registry, create_person):
    owner = create_person(nik=SITI["nik"], name="Siti Rahayu", birthdate="1990-01-01", phone_number="+6281299990000")
    fresh = app.test_client()
    fresh.environ_base.update(client.environ_base)
    resp = _identity(client)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/contact")
    resp = _post(client, "/register/contact", {"channel": "sms", "destination": "081233334444"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/code")
    # The code page is the same; the contact got no code but a notice, the owner a warning.
    assert _code(app, "+6281233334444") is None
    assert "already has an account" in _last_message(app, "+6281233334444") or "sudah memiliki akun" in _last_message(app, "+6281233334444")
    assert _last_message(app, "+6281299990000") is not None
    resp = _post(client, "/register/code", {"code": "000000"})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Person)).scalar() == 1
        assert db.session.get(Person, owner.id).phone_number == "+6281299990000"


def test_code_is_single_use_limited_and_expires(app, client, registry):
    _identity(client)
    _post(client, "/register/contact", {"channel": "email", "destination": "siti@contoh.go.id"})
    code = _code(app, "siti@contoh.go.id")
    for _ in range(4):
        assert _post(client, "/register/code", {"code": "999999" if code != "999999" else "888888"}).status_code == 400
    # Fifth wrong try voids the code; the right one no longer works.
    _post(client, "/register/code", {"code": "999999" if code != "999999" else "888888"})
    resp = _post(client, "/register/code", {"code": code})
    assert resp.status_code == 400
    # A new code can be sent after a minute, and it expires after 5 minutes.
    clock.advance(61)
    page = client.get("/register/code").get_data(as_text=True)
    assert client.post("/register/code/resend", data={"csrf_token": csrf_token(page)}).status_code == 303
    code = _code(app, "siti@contoh.go.id")
    clock.advance(301)
    assert _post(client, "/register/code", {"code": code}).status_code == 400


def test_send_caps_per_number(app, client, registry):
    _identity(client)
    assert _post(client, "/register/contact", {"channel": "sms", "destination": "081234567890"}).status_code == 303
    page = client.get("/register/code").get_data(as_text=True)
    resp = client.post("/register/code/resend", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) <= 60


def test_steps_cannot_be_skipped_or_replayed_from_another_browser(app, client, registry):
    assert client.get("/register/password").status_code == 400
    _identity(client)
    # The password step before the contact is proven sends the citizen back.
    resp = client.get("/register/password")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/register/contact")
    other = app.test_client()
    other.environ_base.update(client.environ_base)
    assert other.get("/register/contact").status_code == 400
    # The registration expires after 30 minutes and binds nothing.
    clock.advance(1801)
    assert client.get("/register/contact").status_code == 400


@pytest.mark.parametrize(("password", "fragment"), [
    ("pendek", "too short"), ("Indonesia2024!!!!", "too common"), ("siti 3374014101900099 x", "NIK"),
])
def test_weak_password_is_refused_with_the_reason(app, client, registry, password, fragment):
    client.get("/lang/en")
    resp = register(app, client, password=password)
    assert resp.status_code == 400
    assert fragment in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Person)).scalar() == 0


def test_registry_outage_says_try_later_and_keeps_nothing(app, client, registry, monkeypatch):
    from idp.registry import services as registry_services
    from idp.registry.base import RegistryUnavailableError

    def down(*_a, **_k):
        raise RegistryUnavailableError("timeout", retry_after=30)

    monkeypatch.setattr(registry_services, "verify", down)
    resp = _identity(client)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Registration)).scalar() == 0


def test_registry_checks_are_capped_per_nik(app, client, registry):
    for _ in range(5):
        assert _identity(client, name="Orang Lain").status_code == 400
    resp = _identity(client)
    assert resp.status_code == 429
