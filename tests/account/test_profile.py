"""Correcting one's own data (SECURITY.md T94): population data only as the registry
holds it, the postal address freely; services see the correction on the next UserInfo."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp import clock
from idp.account.views import RECENT_AUTH
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.identity.models import Person
from tests.authn.test_mfa import _account_login
from tests.conftest import Flow, csrf_token, never_logged

NIK = "3174010101900777"  # born 1 January 1990
never_logged(NIK)


@pytest.fixture
def citizen(app, client, create_person, tmp_path):
    """A citizen whose registry record was corrected at Dukcapil: the registry says
    "Budi Santoso Wijaya", born in Bekasi; the account still says "Budi Santoso"."""
    from idp.registry.local import import_csv

    csv = tmp_path / "registry.csv"
    csv.write_text("nik,nama_lengkap,tanggal_lahir,tempat_lahir,jenis_kelamin\n"
                   f"{NIK},BUDI SANTOSO WIJAYA,1990-01-01,Bekasi,L\n")
    with app.app_context():
        import_csv(csv)
    person = create_person(nik=NIK, name="Budi Santoso")
    assert _account_login(client, NIK).status_code == 303
    return person


def _post(client, form, **fields):
    page = client.get("/account/profile").get_data(as_text=True)
    data = {"form": form, "csrf_token": csrf_token(page), **fields}
    return client.post("/account/profile", data=data)


def _row(app, person_id) -> Person:
    with app.app_context():
        return db.session.get(Person, person_id)


def _events(app, tag):
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.tag == tag)).scalars())


def test_name_correction_accepted_when_the_registry_agrees(app, client, citizen, register_client):
    rp, secret = register_client()
    flow = Flow(client, rp, secret)
    at = flow.token(flow.run(NIK)["code"]).get_json()["access_token"]
    before = client.get("/userinfo", headers={"Authorization": f"Bearer {at}"}).get_json()
    assert before["name"] == "Budi Santoso"

    clock.advance(5)
    resp = _post(client, "identity", name="Budi Santoso Wijaya", birthdate="1990-01-01", birthplace="Bekasi")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/account/profile?saved=identity")
    row = _row(app, citizen.id)
    assert (row.name, row.birthplace) == ("Budi Santoso Wijaya", "Bekasi")
    # The service sees it on its next call, with a newer updated_at.
    after = client.get("/userinfo", headers={"Authorization": f"Bearer {at}"}).get_json()
    assert after["name"] == "Budi Santoso Wijaya" and after["updated_at"] > before["updated_at"]
    event = _events(app, "account:identity:corrected")[0]
    assert sorted(event.data["fields"]) == ["birthplace", "name"]
    assert "Wijaya" not in str(event.data)  # field names only, never values
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="profile-saved"' in page


@pytest.mark.parametrize("fields", [
    {"name": "Budi Sultan", "birthdate": "1990-01-01", "birthplace": ""},  # a name Dukcapil does not hold
    {"name": "Budi Santoso Wijaya", "birthdate": "1991-01-01", "birthplace": ""},  # wrong date
    {"name": "Budi Santoso Wijaya", "birthdate": "1990-01-01", "birthplace": "Bogor"},  # wrong place
])
def test_a_correction_the_registry_does_not_hold_changes_nothing(app, client, citizen, fields):
    client.get("/lang/en")
    before = _row(app, citizen.id)
    resp = _post(client, "identity", **fields)
    assert resp.status_code == 400
    assert "do not match the population registry" in resp.get_data(as_text=True)
    after = _row(app, citizen.id)
    assert (after.name, after.birthdate, after.birthplace, after.updated_at) == (
        before.name, before.birthdate, before.birthplace, before.updated_at)
    assert _events(app, "account:identity:corrected") == []


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"name": "", "birthdate": "1990-01-01"}, "full name"),
    ({"name": "Budi", "birthdate": "01-01-1990"}, "YYYY-MM-DD"),
    ({"name": "Budi\x07", "birthdate": "1990-01-01"}, "cannot be stored"),
    ({"name": "B" * 201, "birthdate": "1990-01-01"}, "too long"),
])
def test_malformed_corrections_are_refused_in_the_citizens_language(app, client, citizen, fields, fragment):
    client.get("/lang/en")
    resp = _post(client, "identity", **fields)
    assert resp.status_code == 400 and fragment in resp.get_data(as_text=True)
    assert _row(app, citizen.id).name == "Budi Santoso"


def test_registry_checks_are_capped(app, client, citizen):
    for _ in range(5):
        assert _post(client, "identity", name="Budi Lain", birthdate="1990-01-01").status_code == 400
    resp = _post(client, "identity", name="Budi Santoso Wijaya", birthdate="1990-01-01")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert _row(app, citizen.id).name == "Budi Santoso"


def test_registry_outage_says_try_later(app, client, citizen, monkeypatch):
    from idp.registry import services as registry_services
    from idp.registry.base import RegistryUnavailableError

    def down(*_a, **_k):
        raise RegistryUnavailableError("timeout", retry_after=30)

    monkeypatch.setattr(registry_services, "verify", down)
    resp = _post(client, "identity", name="Budi Santoso Wijaya", birthdate="1990-01-01")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
    assert _row(app, citizen.id).name == "Budi Santoso"


def test_address_is_the_citizens_own_and_reaches_userinfo(app, client, citizen, register_client):
    rp, secret = register_client()
    flow = Flow(client, rp, secret)
    at = flow.token(flow.run(NIK, scope="openid address")["code"]).get_json()["access_token"]
    resp = _post(client, "address", street_address="Jl. Melati No. 5, RT 01/RW 02, Cakung Barat",
                 locality="Kota Jakarta Timur", region="DKI Jakarta", postal_code="13910")
    assert resp.status_code == 303
    address = client.get("/userinfo", headers={"Authorization": f"Bearer {at}"}).get_json()["address"]
    assert address["street_address"].startswith("Jl. Melati No. 5") and address["postal_code"] == "13910"
    assert address["locality"] == "Kota Jakarta Timur" and address["country"] == "ID"
    assert address["formatted"].splitlines()[0].startswith("Jl. Melati")
    assert len(_events(app, "account:address:changed")) == 1
    # Clearing every field removes the address.
    assert _post(client, "address", street_address="", locality="", region="", postal_code="").status_code == 303
    assert _row(app, citizen.id).address is None


@pytest.mark.parametrize("code", ["1391", "13910a", "１３９１０"])
def test_bad_postal_code_refused(app, client, citizen, code):
    client.get("/lang/en")
    resp = _post(client, "address", street_address="Jl. Melati", locality="", region="", postal_code=code)
    assert resp.status_code == 400 and "5 digits" in resp.get_data(as_text=True)
    assert _row(app, citizen.id).address is None


def test_needs_recent_sign_in_and_csrf(app, client, citizen):
    page = client.get("/account/profile").get_data(as_text=True)
    assert 'id="id-name"' in page and "Budi Santoso" in page
    no_csrf = client.post("/account/profile", data={"form": "address", "locality": "X"})
    assert no_csrf.status_code in (400, 403) and _row(app, citizen.id).address is None
    clock.advance(RECENT_AUTH + 60)
    resp = client.get("/account/profile")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    resp = client.post("/account/profile", data={"form": "address", "csrf_token": csrf_token(page), "locality": "X"})
    assert resp.status_code == 302 and _row(app, citizen.id).address is None


def test_signed_out_visitor_is_sent_to_sign_in(client):
    resp = client.get("/account/profile")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
