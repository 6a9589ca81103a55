"""Anti-virus scanning of document files before any service can read them (SECURITY.md T70):
the clamd client against a real socket server speaking clamd's protocol
(tests/documents/clamd_standin.py), the upload path, the gates on file links, and
`idp documents scan`."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject
from sqlalchemy import select

from idp import clock
from idp.audit.models import AuditEvent
from idp.config import ConfigError, build
from idp.documents import scan, services
from idp.documents.models import Document, DocumentDownloadLink
from idp.documents.scan import ClamdScanner, NoScanner, ScanResult
from idp.extensions import db
from idp.notify.models import OutboxMessage
from tests.conftest import ISSUER, Flow, _make_app, base_config, query
from tests.documents import files
from tests.documents.clamd_standin import EICAR, ClamdStandIn
from tests.documents.conftest import upload

PNG = files.png(size=(40, 30))


def eicar_pdf() -> bytes:
    """A PDF that passes every content check, with the EICAR test string in a comment of its
    page's content stream (stored as sent: PDFs are not re-encoded)."""
    w = PdfWriter()
    page = w.add_blank_page(width=595, height=842)
    stream = DecodedStreamObject()
    stream.set_data(b"% " + EICAR + b"\n")
    page[NameObject("/Contents")] = w._add_object(stream)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def short_dir():
    """A short directory for unix sockets (sun_path holds about 107 bytes)."""
    path = tempfile.mkdtemp(prefix="clamd-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def clamd_transport():
    return "tcp"


@pytest.fixture
def clamd(clamd_transport, short_dir):
    with ClamdStandIn(os.path.join(short_dir, "clamd.ctl") if clamd_transport == "unix" else None) as server:
        yield server


@pytest.fixture
def scanner_settings(clamd):
    """Scanner configuration of the app; a test overrides it with parametrize."""
    return {"document_scanner": "clamd", "clamd_address": clamd.address, "clamd_timeout": 0.5}


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory, tmp_path, scanner_settings):
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory, document_store_dir=str(tmp_path / "blobs"), **scanner_settings)
    yield app
    clock.reset()


@pytest.fixture
def file_rp(register_client):
    return register_client("layanan-berkas", document_types=["kk"], document_file=True)


def _token(http, rp, secret):
    flow = Flow(http, rp, secret)
    resp = flow.authorize(scope="openid doc:kk")
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    return flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]


def _claims(http, token):
    resp = http.get("/claims/documents", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["documents"]


def _download(http, token, url):
    assert url.startswith(ISSUER + "/claims/documents/files/")
    return http.get(url[len(ISSUER):], headers={"Authorization": f"Bearer {token}"})


def _only_document(app) -> Document:
    with app.app_context():
        doc = db.session.execute(select(Document)).scalar_one()
        db.session.expunge(doc)
        return doc


def _tags(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.tag).order_by(AuditEvent.id)).scalars())


def _scan_cli(runner, *args):
    from idp.cli import main

    return runner.invoke(main, ["documents", "scan", "--json", *args])


# -- the protocol client ------------------------------------------------------------------------
@pytest.mark.parametrize("reply, verdict, signature, reason", [
    (b"stream: OK\0", "clean", None, None),
    (b"stream: OK", "clean", None, None),
    (b"stream: Eicar-Signature FOUND\0", "infected", "Eicar-Signature", None),
    (b"stream: Win.Test.EICAR_HDB-1 FOUND\0", "infected", "Win.Test.EICAR_HDB-1", None),
    (b"stream: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND\0", "infected",
     "Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68)", None),
    # clamd's AlertExceedsMax: not malware, and not scanned in full either.
    (b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0", "error", None, "limits_exceeded"),
    (b"INSTREAM size limit exceeded. ERROR\0", "error", None, "too_large"),
    (b"stream: Can't allocate memory ERROR\0", "error", None, "unavailable"),
    (b"UNKNOWN COMMAND\0", "error", None, "unavailable"),
    (b"PONG\0", "error", None, "unavailable"),
    # clamd said FOUND: a name we cannot store is cleaned up, never taken for clean.
    (b"stream:  FOUND\0", "infected", "Unknown", None),
    (b"stream: Bad\x01Name FOUND\0", "infected", "Bad_Name", None),
    (b"stream: " + b"A" * 129 + b" FOUND\0", "infected", "A" * 128, None),
    (b"stream: OK.Trojan FOUND\0", "infected", "OK.Trojan", None),
    # Only exactly "stream: OK" is clean.
    (b"stream: OKAY\0", "error", None, "unavailable"),
    (b"stream: OK junk\0", "error", None, "unavailable"),
    (b"stream: ok\0", "error", None, "unavailable"),
    (b"\0", "error", None, "unavailable"),
])
def test_parse_reply(reply, verdict, signature, reason):
    result = scan.parse_reply(reply)
    assert (result.verdict, result.signature, result.reason) == (verdict, signature, reason)


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:3310", ("tcp", ("127.0.0.1", 3310))),
    ("clamd.internal:3310", ("tcp", ("clamd.internal", 3310))),
    ("[::1]:3310", ("tcp", ("::1", 3310))),
    ("/var/run/clamav/clamd.ctl", ("unix", "/var/run/clamav/clamd.ctl")),
])
def test_parse_address(value, expected):
    assert scan.parse_address(value) == expected


@pytest.mark.parametrize("value", ["", "clamd", "clamd:", ":3310", "clamd:0", "clamd:65536", "clamd:x", "::1:3310",
                                   "relative/clamd.ctl", "/bad\0path"])
def test_parse_address_refuses(value):
    with pytest.raises(ValueError):
        scan.parse_address(value)


def test_clean_and_infected_over_tcp(clamd):
    scanner = ClamdScanner(clamd.address, timeout=5)
    assert scanner.ping()
    # Several 64 KiB chunks and a short last one: the framing is exact.
    data = os.urandom(3 * scan.CHUNK + 1234)
    assert scanner.scan(data) == ScanResult("clean")
    assert clamd.scanned[-1] == hashlib.sha256(data).hexdigest()
    assert scanner.scan(data[:1000] + EICAR + data[1000:]) == ScanResult("infected", signature="Eicar-Signature")
    assert scanner.scan(b"") == ScanResult("clean")
    assert clamd.commands == [b"zPING", b"zINSTREAM", b"zINSTREAM", b"zINSTREAM"]


@pytest.mark.parametrize("clamd_transport", ["unix"])
def test_unix_socket(clamd):
    assert clamd.address.startswith("/")
    scanner = ClamdScanner(clamd.address, timeout=5)
    assert scanner.ping()
    assert scanner.scan(b"%PDF-1.7 nothing to see").verdict == "clean"
    assert scanner.scan(EICAR).signature == "Eicar-Signature"


@pytest.mark.parametrize("mode", ["hang", "close", "garbage", "oversize"])
def test_misbehaving_clamd_is_an_error_never_a_verdict(clamd, mode):
    clamd.mode = mode
    scanner = ClamdScanner(clamd.address, timeout=0.3)
    result = scanner.scan(b"data")
    assert result.verdict == "error" and result.unavailable and result.signature is None
    assert not scanner.ping()


def test_oversize_reply_is_cut_at_the_limit(clamd):
    clamd.mode = "oversize"
    result = ClamdScanner(clamd.address, timeout=5).scan(b"data")
    assert result.reason == "unavailable" and str(scan.MAX_REPLY) in result.detail


def test_connection_refused_is_unavailable(clamd):
    address = clamd.address
    clamd.stop()
    scanner = ClamdScanner(address, timeout=5, connect_timeout=1)
    result = scanner.scan(b"data")
    assert result.unavailable and "cannot connect" in result.detail
    assert not scanner.ping()
    clamd.start()
    assert scanner.scan(b"data").verdict == "clean"


def test_missing_unix_socket_is_unavailable(short_dir):
    assert ClamdScanner(os.path.join(short_dir, "none.ctl")).scan(b"x").unavailable


def test_stream_max_length_answer_is_an_error(short_dir):
    with ClamdStandIn(stream_max_length=1000) as small:
        result = ClamdScanner(small.address, timeout=5).scan(os.urandom(5000))
    assert result.verdict == "error" and result.reason == "too_large" and not result.unavailable


def test_larger_than_the_local_limit_is_not_sent(clamd):
    result = ClamdScanner(clamd.address, max_stream_bytes=100).scan(b"x" * 101)
    assert result.reason == "too_large" and clamd.commands == []


def test_none_scanner_and_releasable():
    assert NoScanner().scan(EICAR) == ScanResult("skipped") and NoScanner().ping()
    assert scan.releasable("clean", "clamd") and scan.releasable("clean", "none")
    assert scan.releasable("skipped", "none") and not scan.releasable("skipped", "clamd")
    for status in ("pending", "infected"):
        assert not scan.releasable(status, "clamd") and not scan.releasable(status, "none")


# -- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize("settings, key", [
    ({"document_scanner": "clamav"}, "document_scanner"),
    ({"document_scanner": "clamd", "clamd_address": "clamd"}, "clamd_address"),
    ({"document_scanner": "clamd", "clamd_stream_max_bytes": 1000}, "clamd_stream_max_bytes"),
    ({"clamd_timeout": 0}, "clamd_timeout"),
    ({"clamd_connect_timeout": True}, "clamd_connect_timeout"),
])
def test_bad_scanner_settings_stop_start_up(settings, key):
    with pytest.raises(ConfigError, match=key):
        build({"issuer": ISSUER, **settings})


@pytest.mark.parametrize("debug, warned", [(False, True), (True, False)])
def test_scanning_off_warns_at_start_up_outside_debug(keys_dir, tmp_path, debug, warned):
    from idp import create_app

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("idp.documents")
    logger.addHandler(handler)
    try:
        create_app(base_config(keys_dir, f"sqlite:///{tmp_path / 'x.sqlite3'}", debug=debug))
    finally:
        logger.removeHandler(handler)
    assert any("NOT VIRUS-SCANNED" in r.getMessage() for r in records) is warned


# -- uploads ------------------------------------------------------------------------------------
def test_clean_upload_is_released_to_the_service(app, client, citizen, file_rp, clamd):
    assert upload(client, data=PNG).status_code == 303
    doc = _only_document(app)
    assert doc.scan_status == "clean" and doc.scanned_at and doc.scan_signature is None
    assert clamd.scanned == [doc.sha256]  # the stored bytes were scanned
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [entry] = _claims(client, token)
    resp = _download(client, token, entry["file"]["url"])
    assert resp.status_code == 200 and resp.data == PNG
    assert "account:document:uploaded" in _tags(app)


@pytest.mark.parametrize("kind", ["eicar-in-pdf", "flagged-png"])
def test_infected_upload_refused_and_nothing_stored(app, client, citizen, clamd, blob_dir, kind):
    if kind == "eicar-in-pdf":
        resp = upload(client, filename="kk.pdf", data=eicar_pdf(), content_type="application/pdf")
        signature = "Eicar-Signature"
    else:  # a valid image the (stand-in) scanner flags by the digest of its stored bytes
        clamd.flag_sha256[hashlib.sha256(PNG).hexdigest()] = "Png.Exploit.Test-1"
        resp = upload(client, data=PNG)
        signature = "Png.Exploit.Test-1"
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'id="documents-error"' in page and 'id="documents"' not in page
    with app.app_context():
        assert db.session.execute(select(Document)).first() is None
        [event] = db.session.execute(
            select(AuditEvent).where(AuditEvent.tag == "account:document:infected_refused")).scalars().all()
        assert event.person_id == citizen.id and event.data["signature"] == signature
    assert [p for p in blob_dir.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("mode", ["down", "hang", "close", "garbage", "oversize"])
def test_scanner_unavailable_keeps_the_upload_pending_until_scanned(app, client, citizen, file_rp, clamd, runner, mode):
    if mode == "down":
        clamd.stop()
    else:
        clamd.mode = mode
    assert upload(client, data=PNG).status_code == 303
    doc = _only_document(app)
    assert doc.scan_status == "pending" and doc.scanned_at is None
    # The citizen sees it is being checked, and can still download their own file.
    page = client.get("/account/documents").get_data(as_text=True)
    assert f'id="doc-scan-{doc.public_id}"' in page and "scan-pending" in page
    assert client.get(f"/account/documents/{doc.public_id}/file").status_code == 200
    # The service gets the attributes, never the file.
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [entry] = _claims(client, token)
    assert entry["attributes"]["number"] == "3174010101900001" and "file" not in entry
    with app.app_context():
        assert db.session.execute(select(DocumentDownloadLink)).first() is None

    # clamd is back: the cron run scans it and releases it.
    if mode == "down":
        clamd.start()
    clamd.mode = "ok"
    result = _scan_cli(runner)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scanned"] == 1 and summary["clean"] == 1 and summary["remaining"] == 0
    assert "scanned" in result.stderr
    assert _only_document(app).scan_status == "clean"
    [entry] = _claims(client, token)
    assert _download(client, token, entry["file"]["url"]).data == PNG
    assert f'id="doc-scan-{doc.public_id}"' not in client.get("/account/documents").get_data(as_text=True)


@pytest.mark.parametrize("clamd_transport", ["unix"])
def test_upload_scanned_over_unix_socket(app, client, citizen, clamd):
    assert upload(client, filename="kk.pdf", data=eicar_pdf(), content_type="application/pdf").status_code == 422
    assert upload(client, data=PNG).status_code == 303
    assert _only_document(app).scan_status == "clean"


# -- quarantine after the fact ------------------------------------------------------------------
def test_quarantine_between_link_check_and_file_read_still_wins(app, client, citizen, file_rp, monkeypatch):
    """A rescan on another node quarantines the file while a download is being served."""
    from sqlalchemy import update

    assert upload(client, data=PNG).status_code == 303
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [entry] = _claims(client, token)
    real_read = services.read_file

    def read_then_quarantined(doc):
        data = real_read(doc)
        with app.app_context():  # the other node's committed verdict
            db.session.execute(update(Document).values(scan_status="infected", scan_signature="Win.Test"))
            db.session.commit()
        return data

    monkeypatch.setattr(services, "read_file", read_then_quarantined)
    assert _download(client, token, entry["file"]["url"]).status_code == 404


def test_file_found_infected_later_is_quarantined(app, client, citizen, file_rp, clamd, runner):
    assert upload(client, data=PNG).status_code == 303
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [entry] = _claims(client, token)
    issued_link = entry["file"]["url"]  # issued while clean, used after the quarantine

    clamd.flag_all = "Win.Trojan.Agent-123"  # new signatures
    result = _scan_cli(runner)
    assert result.exit_code == 0 and json.loads(result.stdout)["scanned"] == 0  # clean files: only on request
    result = _scan_cli(runner, "--rescan-clean")
    assert result.exit_code == 4, result.output
    summary = json.loads(result.stdout)
    doc = _only_document(app)
    assert summary["infected"] == 1 and summary["infected_documents"] == [doc.public_id]
    assert doc.scan_status == "infected" and doc.scan_signature == "Win.Trojan.Agent-123"

    # Served to no one: the link already issued, a new claims answer, the owner.
    assert _download(client, token, issued_link).status_code == 404
    [entry] = _claims(client, token)
    assert "file" not in entry and entry["attributes"]["number"] == "3174010101900001"
    assert client.get(f"/account/documents/{doc.public_id}/file").status_code == 404
    page = client.get("/account/documents").get_data(as_text=True)
    assert "scan-infected" in page and f"/account/documents/{doc.public_id}/file" not in page
    with app.app_context():
        [event] = db.session.execute(
            select(AuditEvent).where(AuditEvent.tag == "operator:document:quarantined")).scalars().all()
        assert event.person_id == citizen.id and event.actor == "cli"
        assert event.data == {"document": doc.public_id, "type": "kk", "signature": "Win.Trojan.Agent-123",
                              "previous": "clean"}
        # The citizen is told on their verified contacts (phone and e-mail).
        sent = db.session.execute(select(OutboxMessage)).scalars().all()
        assert {m.channel for m in sent} == {"sms", "email"}
        assert all(m.destination in ("+6281200000001", "budi@contoh.go.id") for m in sent)
    # Infected files are not scanned again: the citizen deletes the document.
    result = _scan_cli(runner, "--rescan-clean")
    assert result.exit_code == 0 and json.loads(result.stdout)["scanned"] == 0


def test_officer_gets_the_file_only_once_scanned_clean(app, client, citizen, clamd):
    from types import SimpleNamespace

    from idp.documents import services

    clamd.mode = "close"
    assert upload(client, data=PNG).status_code == 303
    doc = _only_document(app)
    officer = SimpleNamespace(person_id=citizen.id + 1000, location_code="MPP-3374", location_name="MPP Kota Semarang")
    reason = "Warga datang ke loket meminta bantuan"
    with app.app_context():
        with pytest.raises(services.FileWithheldError):
            services.open_for_officer(officer, citizen.nik, doc.public_id, reason, remote_addr="192.0.2.1")
        db.session.rollback()
    assert "counter:document:opened" not in _tags(app)
    clamd.mode = "ok"
    with app.app_context():
        assert services.scan_stored_files(actor="test").clean == 1
        _, data = services.open_for_officer(officer, citizen.nik, doc.public_id, reason, remote_addr="192.0.2.1")
        assert data == PNG


def test_export_shows_the_virus_check(app, client, citizen):
    assert upload(client, data=PNG).status_code == 303
    with app.app_context():
        from idp.account import privacy

        [entry] = privacy.export_person(citizen.id)["documents"]
    assert entry["file"]["virus_check"]["status"] == "clean" and entry["file"]["virus_check"]["found"] is None


def test_cli_stops_when_clamd_is_unavailable(app, client, citizen, clamd, runner):
    clamd.mode = "close"
    assert upload(client, data=PNG).status_code == 303
    result = _scan_cli(runner)
    assert result.exit_code == 5
    summary = json.loads(result.stdout)
    assert summary["scanner_unavailable"] is True and summary["scanned"] == 0 and summary["remaining"] == 1
    assert _only_document(app).scan_status == "pending"


def test_cli_batches_and_limit(app, client, citizen, clamd, runner):
    clamd.mode = "close"
    for _ in range(3):
        assert upload(client, data=files.png(size=(30 + _, 20))).status_code == 303
    clamd.mode = "ok"
    result = _scan_cli(runner, "--batch", "2", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scanned"] == 2 and json.loads(result.stdout)["remaining"] == 1
    assert result.stderr.count("scanned:") == 1  # one batch of two
    result = _scan_cli(runner, "--batch", "1")
    assert json.loads(result.stdout) == {
        "waiting": 1, "scanned": 1, "clean": 1, "infected": 0, "infected_documents": [], "failed": 0, "unreadable": 0,
        "scanner_unavailable": False, "remaining": 0}


def test_cli_counts_files_clamd_cannot_scan(app, client, citizen, clamd, runner):
    clamd.mode = "close"
    assert upload(client, data=PNG).status_code == 303
    clamd.mode = "ok"
    clamd.stream_max_length = 10  # smaller than the file: clamd refuses it
    result = _scan_cli(runner)
    assert result.exit_code == 3
    assert json.loads(result.stdout)["failed"] == 1 and _only_document(app).scan_status == "pending"


def test_one_file_clamd_cannot_finish_does_not_hold_back_the_rest(app, client, citizen, clamd, runner):
    """clamd drops the connection for one file but still answers PING: that file is counted
    and left pending, and the files after it are scanned."""
    import hashlib

    clamd.mode = "close"
    first, second = files.png(size=(31, 20)), files.png(size=(32, 20))
    assert upload(client, data=first).status_code == 303
    assert upload(client, data=second).status_code == 303
    clamd.mode = "ok"
    with app.app_context():
        from sqlalchemy import select

        from idp.documents.models import Document
        from idp.extensions import db

        docs = db.session.execute(select(Document).order_by(Document.id)).scalars().all()
        stored = [services.read_file(d) for d in docs]
    clamd.fail_digests = {hashlib.sha256(stored[0]).hexdigest()}
    result = _scan_cli(runner, "--batch", "1")
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["failed"] == 1 and summary["clean"] == 1 and summary["scanner_unavailable"] is False
    with app.app_context():
        statuses = [d.scan_status for d in db.session.execute(select(Document).order_by(Document.id)).scalars()]
    assert statuses == ["pending", "clean"]


def test_cli_help(runner):
    from idp.cli import main

    result = runner.invoke(main, ["documents", "scan", "--help"])
    assert result.exit_code == 0 and "Exit codes" in result.output and "--json" in result.output


# -- scanning off, and turning it on ------------------------------------------------------------
@pytest.mark.parametrize("scanner_settings", [{"document_scanner": "none"}])
def test_scanning_off_skips_and_releases_until_turned_on(app, client, citizen, file_rp, clamd, runner):
    assert upload(client, filename="kk.pdf", data=eicar_pdf(), content_type="application/pdf").status_code == 303
    doc = _only_document(app)
    assert doc.scan_status == "skipped" and clamd.scanned == []
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [entry] = _claims(client, token)
    assert "file" in entry  # scanning explicitly off: released unchecked
    result = _scan_cli(runner)
    assert result.exit_code == 5 and "scanning is off" in result.stderr
    assert json.loads(result.stdout) == {"error": "scanning_off"}

    # The operator turns scanning on: the skipped file is held back until scanned.
    cfg = dict(app.config["IDP"], document_scanner="clamd", clamd_address=clamd.address)
    app.config["IDP"] = cfg
    app.extensions["idp_scanner"] = scan.from_config(cfg)
    [entry] = _claims(client, token)
    assert "file" not in entry
    with app.app_context():
        from idp.documents import services

        run = services.scan_stored_files(actor="test")
        assert run.waiting == 1 and run.infected == [doc.public_id]
        assert db.session.get(Document, doc.id).scan_status == "infected"


# -- migration: existing rows are skipped -------------------------------------------------------
def test_migration_marks_existing_documents_skipped(tmp_path):
    """SQLite only: the migration's data step is plain SQL, the same on PostgreSQL."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from idp.db import alembic_config

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    command.upgrade(alembic_config(url), "0014")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO document (public_id, person_id, type_code, provenance, size, created_at, "
                          "blob_name) VALUES ('d1', 1, 'kk', 'uploaded', 10, 1, 'b1')"))
    command.upgrade(alembic_config(url), "0015")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT scan_status, scanned_at, scan_signature FROM document")).one() == (
            "skipped", None, None)
    command.downgrade(alembic_config(url), "0014")
    engine.dispose()
