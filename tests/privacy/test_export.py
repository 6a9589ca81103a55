"""The manual data-access path (SECURITY.md T93, UU PDP Art. 32): an operator answers a
written request with the same export the self-service page gives; the NIK never comes
from the command line and never goes to the terminal or the logs."""

from __future__ import annotations

import json
import stat

import pytest
from sqlalchemy import select

from idp import cli, clock
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.identity import services as identity
from tests.authn.test_mfa import _account_login
from tests.conftest import csrf_token, never_logged, new_nik
from tests.documents.conftest import upload

REASON = "Surat permohonan 045/PDP/2026, MPP Kota Semarang"


def _export(runner, out, *args, nik=None):
    return runner.invoke(cli.main, ["privacy", "export", "--out", str(out), "--reason", REASON, "--json", *args],
                         input=None if nik is None else nik + "\n")


def test_T93_counter_export_equals_the_self_service_export(app, client, person, runner, tmp_path, caplog):
    clock.freeze()
    assert _account_login(client, person.nik).status_code == 303
    assert upload(client).status_code == 303
    out = tmp_path / "permohonan-045.json"
    r = _export(runner, out, "--nik-file", "-", nik=person.nik)
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["person_id"] == person.id and meta["nik"].endswith(person.nik[-4:]) and meta["nik"] != person.nik
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = client.get("/account/export").get_data(as_text=True)
    web = client.post("/account/export", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    mine = json.loads(out.read_text(encoding="utf-8"))
    theirs = json.loads(web)
    assert mine["person"]["nik"] == person.nik and mine["documents"][0]["attributes"]["number"]
    # The same document, but for the audit events the web export adds after ours.
    events = mine["processing_record"].pop("events")
    later = theirs["processing_record"].pop("events")
    assert mine == theirs
    assert later[:len(events)] == events and events[-1]["tag"] == "privacy:data:exported"
    assert events[-1]["data"]["reason"] == REASON and events[-1]["actor"] == "cli"
    assert out.read_bytes() == json.dumps({**mine, "processing_record": {**mine["processing_record"], "events": events}},
                                          ensure_ascii=False, indent=2, default=str).encode()
    for where in (r.output, caplog.text):
        assert person.nik not in where


def test_T93_export_by_person_id_and_never_over_an_existing_file(app, person, runner, tmp_path):
    out = tmp_path / "export.json"
    r = _export(runner, out, "--person-id", str(person.id))
    assert r.exit_code == 0, r.output
    first = out.read_bytes()
    again = _export(runner, out, "--person-id", str(person.id))
    assert again.exit_code == 1 and "exists" in again.output and out.read_bytes() == first
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:data:exported")).scalars().all()
        assert [(e.person_id, e.data["reason"]) for e in events] == [(person.id, REASON)]
        # The operator's export is not recorded as if the citizen had taken it.
        assert db.session.execute(select(AuditEvent).where(AuditEvent.tag == "account:data:exported")).first() is None


def test_T93_nik_from_a_file(app, person, runner, tmp_path):
    nik_file = tmp_path / "nik.txt"
    nik_file.write_text(f"\n  {person.nik}  \n")
    out = tmp_path / "export.json"
    r = _export(runner, out, "--nik-file", str(nik_file))
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["person"]["name"] == "Budi Santoso"
    assert person.nik not in r.output


def test_T93_unknown_nik_says_only_that_and_is_audited_by_blind_index(app, person, runner, tmp_path, caplog):
    stranger = new_nik()
    never_logged(stranger)
    out = tmp_path / "export.json"
    r = _export(runner, out, "--nik-file", "-", nik=stranger)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.strip() == "error: no account with this NIK"
    assert not out.exists()
    assert stranger not in r.output and stranger not in caplog.text
    with app.app_context():
        (event,) = db.session.execute(select(AuditEvent).where(AuditEvent.tag == "privacy:data:no_account")).scalars()
        assert event.data == {"nik_index": identity.nik_index(stranger)} and event.person_id is None
    assert _export(runner, out, "--person-id", "999999").exit_code == 1


@pytest.mark.parametrize(("args", "nik", "message"), [
    (["--nik-file", "-"], "12345", "NIK: not 16 digits"),
    (["--nik-file", "-"], "", "NIK: not 16 digits"),
    (["--nik-file", "-", "--person-id", "1"], "3174010101900001", "exactly one"),
    ([], None, "exactly one"),
])
def test_T93_usage_errors(app, runner, tmp_path, args, nik, message):
    r = _export(runner, tmp_path / "x.json", *args, nik=nik)
    assert r.exit_code == 2 and message in r.output and not (tmp_path / "x.json").exists()
    if nik:
        assert nik not in r.output


def test_T93_no_nik_on_the_command_line(app, person, runner, tmp_path):
    assert runner.invoke(cli.main, ["privacy", "export", "--nik", person.nik, "--out", str(tmp_path / "x.json"),
                                    "--reason", REASON]).exit_code == 2
    r = runner.invoke(cli.main, ["privacy", "export", "--person-id", str(person.id), "--out", str(tmp_path / "x.json"),
                                 "--reason", f"permintaan NIK {person.nik}"])
    assert r.exit_code == 2 and "16-digit" in r.output and person.nik not in r.output
