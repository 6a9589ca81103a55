"""Provenance of vault documents (issue #6), on SQLite and PostgreSQL: an MPP officer
verifies an uploaded document at the counter, the population registry issues a KTP, and
both become OIDC4IDA evidence for identity-assurance clients only."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.documents.models import Document
from idp.extensions import db
from tests.conftest import Flow, csrf_token, never_logged
from tests.counter import test_counter as _counter_tests
from tests.counter.test_counter import REASON, lookup, new_client
from tests.documents.conftest import sign_in, upload

CITIZEN = {"nik": "3174010101900777", "name": "Budi Santoso"}
MISMATCH = {"nik": "3174010101900778", "name": "Budi Santoso"}  # the registry knows another name
never_logged(CITIZEN["nik"], MISMATCH["nik"])
officer = _counter_tests.officer  # the counter tests' fixture: an officer signed in with TOTP


@pytest.fixture
def registry(app, tmp_path):
    from idp.registry.local import import_csv

    csv = tmp_path / "registry.csv"
    csv.write_text("nik,nama_lengkap,tanggal_lahir,tempat_lahir,jenis_kelamin\n"
                   f"{CITIZEN['nik']},BUDI SANTOSO,1990-01-01,Jakarta,L\n"
                   f"{MISMATCH['nik']},ANDI WIJAYA,1990-01-01,Bandung,L\n")
    with app.app_context():
        import_csv(csv)
    return csv


@pytest.fixture
def citizen(app, create_person, registry):
    who = create_person(nik=CITIZEN["nik"], name=CITIZEN["name"])
    http = new_client(app)
    sign_in(http, who.nik)
    return dataclasses.replace(_NS(**vars(who)), http=http)


@dataclasses.dataclass
class _NS:
    id: int
    public_id: str
    nik: str
    test_nik: str
    name: str
    http: object = None


def _docs(app, person_id):
    with app.app_context():
        return db.session.execute(select(Document).where(Document.person_id == person_id, Document.deleted_at.is_(None))
                                  .order_by(Document.id)).scalars().all()


def _events(app, tag):
    with app.app_context():
        return db.session.execute(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)).scalars().all()


def _decide(http, nik, document, *, decision="verify", inspected=True, reason=REASON):
    token = csrf_token(http.get("/counter").get_data(as_text=True))
    data = {"nik": nik, "reason": reason, "document": document, "decision": decision, "csrf_token": token}
    if inspected:
        data["inspected"] = "y"
    return http.post("/counter/documents/decide", data=data)


def _uploaded_kk(app, citizen):
    assert upload(citizen.http).status_code == 303
    (doc,) = _docs(app, citizen.id)
    return doc.public_id


# -- officer verification --------------------------------------------------------------------------
def test_officer_verifies_uploaded_kk_audited_and_shown_to_services(app, officer, citizen, register_client):
    public_id = _uploaded_kk(app, citizen)
    page = lookup(officer.http, citizen.nik).get_data(as_text=True)
    assert f'id="vault-{public_id}"' in page and "Budi Santoso" in page and "Mark as verified" in page
    resp = _decide(officer.http, citizen.nik, public_id)
    assert resp.status_code == 200 and 'id="counter-notice"' in resp.get_data(as_text=True)
    (doc,) = _docs(app, citizen.id)
    assert doc.provenance == "verified" and doc.verified_location == "MPP Kota Semarang" and doc.verified_at
    assert doc.verified_by == f"officer:{officer.person.id}@MPP-3374"
    (event,) = _events(app, "counter:document:verified")
    assert event.person_id == citizen.id and event.actor == f"officer:{officer.person.id}"
    assert event.data["officer_id"] == officer.person.id and event.data["location_code"] == "MPP-3374"
    assert event.data["reason"] == REASON and event.data["document"] == public_id
    # Verified once: a second verification is refused.
    assert _decide(officer.http, citizen.nik, public_id).status_code == 409

    rp, secret = register_client("layanan-kk", document_types=["kk"])
    flow = Flow(citizen.http, rp, secret)
    params = flow.run(citizen.nik, scope="openid profile doc:kk")
    at = flow.token(params["code"]).get_json()["access_token"]
    body = citizen.http.get("/claims/documents", headers={"Authorization": f"Bearer {at}"}).get_json()
    (entry,) = body["documents"]
    assert entry["provenance"] == "verified"
    assert entry["verified"]["location"] == "MPP Kota Semarang" and entry["verified"]["time"].endswith("Z")
    assert "officer" not in json.dumps(body)


@pytest.mark.parametrize("case,status", [("no_inspection", 400), ("no_reason", 400), ("refuse", 200)])
def test_verification_needs_inspection_and_reason(app, officer, citizen, case, status):
    public_id = _uploaded_kk(app, citizen)
    kw = {"no_inspection": {"inspected": False}, "no_reason": {"reason": " "}, "refuse": {"decision": "refuse"}}[case]
    assert _decide(officer.http, citizen.nik, public_id, **kw).status_code == status
    (doc,) = _docs(app, citizen.id)
    assert doc.provenance == "uploaded" and doc.verified_by is None
    assert not _events(app, "counter:document:verified")
    assert len(_events(app, "counter:document:refused")) == (1 if case == "refuse" else 0)


def test_other_citizens_document_refused(app, officer, citizen, create_person):
    public_id = _uploaded_kk(app, citizen)
    other = create_person()
    assert _decide(officer.http, other.nik, public_id).status_code == 404
    assert _docs(app, citizen.id)[0].provenance == "uploaded"


def test_non_officer_refused(app, citizen):
    public_id = _uploaded_kk(app, citizen)
    token = csrf_token(citizen.http.get("/account/documents").get_data(as_text=True))
    resp = citizen.http.post("/counter/documents/decide", data={"nik": citizen.nik, "reason": REASON, "document": public_id,
                                                                "decision": "verify", "inspected": "y", "csrf_token": token})
    assert resp.status_code == 403
    assert _docs(app, citizen.id)[0].provenance == "uploaded"


def test_verifiable_at_enforced(app, officer, citizen):
    public_id = _uploaded_kk(app, citizen)
    registry_ = app.extensions["idp_document_types"]
    registry_["kk"] = dataclasses.replace(registry_["kk"], verifiable_at=3)  # officer session: level 2
    page = lookup(officer.http, citizen.nik).get_data(as_text=True)
    assert "Mark as verified" not in page
    assert _decide(officer.http, citizen.nik, public_id).status_code == 403
    assert _docs(app, citizen.id)[0].provenance == "uploaded"


def test_officer_downloads_file_as_attachment(app, officer, citizen):
    public_id = _uploaded_kk(app, citizen)
    token = csrf_token(officer.http.get("/counter").get_data(as_text=True))
    resp = officer.http.post("/counter/documents/file", data={"nik": citizen.nik, "reason": REASON, "document": public_id,
                                                              "csrf_token": token})
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert len(_events(app, "counter:document:opened")) == 1


def test_officer_is_told_a_withheld_file_is_being_checked(app, officer, citizen):
    """T70: a file not scanned clean is not a storage outage: the officer gets a 409 that
    says so, in the page's language."""
    public_id = _uploaded_kk(app, citizen)
    with app.app_context():
        db.session.execute(Document.__table__.update().values(scan_status="pending"))
        db.session.commit()
    token = csrf_token(officer.http.get("/counter").get_data(as_text=True))
    resp = officer.http.post("/counter/documents/file", data={"nik": citizen.nik, "reason": REASON, "document": public_id,
                                                              "csrf_token": token})
    assert resp.status_code == 409 and "being checked for viruses" in resp.get_data(as_text=True)
    assert resp.headers.get("Content-Disposition") is None
    assert _events(app, "counter:document:opened") == []


# -- issued by the population registry --------------------------------------------------------------
def _issue(http):
    token = csrf_token(http.get("/account/documents").get_data(as_text=True))
    return http.post("/account/documents/issue-ktp", data={"csrf_token": token})


def test_citizen_takes_ktp_from_registry(app, citizen):
    assert _issue(citizen.http).status_code == 303
    (doc,) = _docs(app, citizen.id)
    assert doc.provenance == "issued" and doc.type_code == "ktp" and doc.blob_name is None and doc.size == 0
    with app.app_context():
        from idp.documents import services

        assert services.attributes(db.session.merge(doc)) == {
            "number": CITIZEN["nik"], "holder_name": "BUDI SANTOSO", "birth_place": "Jakarta", "birth_date": "1990-01-01",
            "gender": "LAKI-LAKI"}
    page = citizen.http.get("/account/documents").get_data(as_text=True)
    assert "Dukcapil" in page and f"/account/documents/{doc.public_id}/file" not in page
    assert citizen.http.get(f"/account/documents/{doc.public_id}/file").status_code == 404
    assert len(_events(app, "account:document:issued")) == 1
    # Taken again: replaces the earlier one.
    assert _issue(citizen.http).status_code == 303
    (again,) = _docs(app, citizen.id)
    assert again.public_id != doc.public_id


def test_issue_refused_on_registry_mismatch(app, create_person, registry):
    who = create_person(nik=MISMATCH["nik"], name=MISMATCH["name"])
    http = new_client(app)
    sign_in(http, who.nik)
    assert _issue(http).status_code == 422
    assert _docs(app, who.id) == []


def test_issue_refused_on_registry_outage(app, citizen, monkeypatch):
    from idp.registry.base import RegistryUnavailableError
    from idp.registry.local import LocalRegistry

    def down(self, nik):
        raise RegistryUnavailableError("database", retry_after=5)

    monkeypatch.setattr(LocalRegistry, "record", down)
    resp = _issue(citizen.http)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert _docs(app, citizen.id) == []


def test_http_registry_cannot_return_records():
    from idp.registry.base import RecordNotSupportedError
    from idp.registry.http import HttpRegistry

    with pytest.raises(RecordNotSupportedError):
        HttpRegistry("https://registry.example", user="u", password="p").record(CITIZEN["nik"])


def test_officer_takes_ktp_at_the_counter(app, officer, citizen):
    lookup(officer.http, citizen.nik)
    token = csrf_token(officer.http.get("/counter").get_data(as_text=True))
    resp = officer.http.post("/counter/documents/issue", data={"nik": citizen.nik, "reason": REASON, "csrf_token": token})
    assert resp.status_code == 200 and 'id="counter-notice"' in resp.get_data(as_text=True)
    (doc,) = _docs(app, citizen.id)
    assert doc.provenance == "issued"
    (event,) = _events(app, "counter:document:issued")
    assert event.data["reason"] == REASON and event.person_id == citizen.id


# -- verified_claims evidence ----------------------------------------------------------------------
REQUEST = {"userinfo": {"verified_claims": {"verification": {"trust_framework": None, "evidence": None},
                                            "claims": {"name": None}}}}


def _userinfo(http, register_client, nik, client_id, **fields):
    rp, secret = register_client(client_id, scopes=["openid", "profile"], **fields)
    flow = Flow(http, rp, secret)
    params = flow.run(nik, scope="openid profile", claims=json.dumps(REQUEST))
    at = flow.token(params["code"]).get_json()["access_token"]
    return http.get("/userinfo", headers={"Authorization": "Bearer " + at}).get_json()


def test_evidence_includes_issued_and_verified_ktp_for_ida_clients(app, officer, citizen, register_client):
    assert _issue(citizen.http).status_code == 303
    ktp = {"number": CITIZEN["nik"], "holder_name": "Budi Santoso", "birth_date": "1990-01-01"}
    assert upload(citizen.http, type_code="ktp", attributes=ktp).status_code == 303
    uploaded = next(d for d in _docs(app, citizen.id) if d.provenance == "uploaded")
    assert _decide(officer.http, citizen.nik, uploaded.public_id).status_code == 200

    info = _userinfo(citizen.http, register_client, citizen.nik, "rp-ida", identity_assurance=True)
    evidence = info["verified_claims"]["verification"]["evidence"]
    doc = next(e for e in evidence if e["type"] == "document")
    assert doc["check_details"][0]["check_method"] == "vpip"
    assert doc["check_details"][0]["organization"] == "MPP Kota Semarang" and doc["check_details"][0]["time"].endswith("Z")
    assert doc["document_details"]["type"] == "idcard"
    record = next(e for e in evidence if e["type"] == "electronic_record")
    assert record["record"]["type"] == "population_register"
    assert "officer" not in json.dumps(info)

    other = _userinfo(citizen.http, register_client, citizen.nik, "rp-plain")
    assert "verified_claims" not in other


def test_uploaded_ktp_is_not_evidence(app, citizen, register_client):
    ktp = {"number": CITIZEN["nik"], "holder_name": "Budi Santoso", "birth_date": "1990-01-01"}
    assert upload(citizen.http, type_code="ktp", attributes=ktp).status_code == 303
    info = _userinfo(citizen.http, register_client, citizen.nik, "rp-ida", identity_assurance=True)
    assert "verified_claims" not in info  # no registry or document evidence for this account


def test_issue_button_in_bahasa_indonesia(client, create_person, registry):
    who = create_person(nik=CITIZEN["nik"], name=CITIZEN["name"])
    sign_in(client, who.nik)
    assert "Ambil KTP dari Dukcapil" in client.get("/account/documents").get_data(as_text=True)
