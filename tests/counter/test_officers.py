"""`idp officers`: add, list and disable counter officers; --json, exit codes, and the NIK
never printed in full. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp import cli
from idp.audit.models import AuditEvent
from idp.extensions import db
from tests.conftest import new_nik

ADD = ["officers", "add", "--location-code", "MPP-3374", "--location-name", "MPP  Kota Semarang"]


@pytest.mark.parametrize("args", [["officers"], ["officers", "add"], ["officers", "list"], ["officers", "disable"]],
                         ids=" ".join)
def test_every_officers_command_has_help(args):
    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    if len(args) > 1:
        assert "Exit codes" in result.output


def test_add_list_disable(app, runner, person):
    added = runner.invoke(cli.main, [*ADD, "--nik", person.nik, "--json"])
    assert added.exit_code == 0, added.output
    data = json.loads(added.stdout)
    assert data["person_id"] == person.id and data["active"] is True and data["second_factor"] is False
    assert data["location_code"] == "MPP-3374" and data["location_name"] == "MPP Kota Semarang"
    assert data["nik"] != person.nik and data["nik"].endswith(person.nik[-4:]) and "******" in data["nik"]

    listed = runner.invoke(cli.main, ["officers", "list", "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["person_id"] for r in rows] == [person.id]
    text = runner.invoke(cli.main, ["officers", "list"])
    assert text.exit_code == 0 and "MPP-3374" in text.output and "active" in text.output
    assert person.nik not in added.output + listed.output + text.output

    again = runner.invoke(cli.main, [*ADD, "--nik", person.nik])
    assert again.exit_code == 1 and "already an active officer" in again.output

    off = runner.invoke(cli.main, ["officers", "disable", "--nik", person.nik, "--json"])
    assert off.exit_code == 0 and json.loads(off.stdout) == {"disabled": True, "changed": True}
    twice = runner.invoke(cli.main, ["officers", "disable", "--nik", person.nik])
    assert twice.exit_code == 0 and "already disabled" in twice.output
    assert json.loads(runner.invoke(cli.main, ["officers", "list", "--json"]).stdout)[0]["active"] is False

    # Adding a disabled officer enables them again, at the location given now.
    back = runner.invoke(cli.main, ["officers", "add", "--nik", person.nik, "--location-code", "MPP-3471",
                                    "--location-name", "MPP Kota Yogyakarta", "--json"])
    assert back.exit_code == 0 and json.loads(back.stdout)["location_code"] == "MPP-3471"
    with app.app_context():
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.person_id == person.id)
                                  .order_by(AuditEvent.id)).scalars().all()
    assert [t for t in tags if "officer" in t] == ["operator:officer:added", "operator:officer:disabled",
                                                   "operator:officer:added"]


def test_officer_needs_an_account(runner):
    missing = runner.invoke(cli.main, [*ADD, "--nik", new_nik()])
    assert missing.exit_code == 1 and "no account" in missing.output
    nobody = runner.invoke(cli.main, ["officers", "disable", "--nik", new_nik()])
    assert nobody.exit_code == 1 and "no officer" in nobody.output


@pytest.mark.parametrize("args", [
    ["--nik", "12345", "--location-code", "MPP-1", "--location-name", "MPP"],
    ["--nik", "{nik}", "--location-code", "MPP 1; drop", "--location-name", "MPP"],
    ["--nik", "{nik}", "--location-code", "MPP-1", "--location-name", "   "],
    ["--nik", "{nik}", "--location-code", "MPP-1", "--location-name", "x" * 101],
    ["--nik", "{nik}", "--location-code", "MPP-1"],
])
def test_usage_errors_exit_2(runner, person, args):
    result = runner.invoke(cli.main, ["officers", "add", *(a.replace("{nik}", person.nik) for a in args)])
    assert result.exit_code == 2, result.output
    assert person.nik not in result.output
