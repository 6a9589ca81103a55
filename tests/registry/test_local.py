"""The local registry: CSV import through `idp registry import`, verification, storage.

Runs on SQLite and PostgreSQL (the `app` fixture)."""

import datetime
import json

import pytest
from sqlalchemy import select, text

from idp import cli
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.registry import services
from idp.registry.base import FieldResult, RegistryUnavailableError, VerificationRequest
from idp.registry.local import LocalRegistry, RegistryRecord, import_csv

HEADER = "nik,nama_lengkap,tanggal_lahir,tempat_lahir,jenis_kelamin"
SITI = "3374014101900001,SITI AMINAH,1990-01-01,SEMARANG,PEREMPUAN"
BUDI = '3174011505850002,"BUDI SANTOSO, S.KOM.",15-05-1985,JAKARTA,L'
BAD_ROWS = [
    ("31740115058500,ANI SUSANTI,1985-05-15,,", "nik"),
    ("3174011505850003,ANI SUSANTI,1985-13-15,,", "tanggal_lahir"),
    ("3174011505850004,,1985-05-15,,", "nama_lengkap"),
    ("3174011505850005,ANI SUSANTI,1985-05-15,,X", "jenis_kelamin"),
    (SITI, "duplicate NIK"),
    ("3174011505850006,ANI SUSANTI", "row"),
    ("3174011505850007,ANI SUSANTI,2999-01-01,,", "tanggal_lahir"),
]


def write(tmp_path, *lines, name="warga.csv", header=HEADER, encoding="utf-8"):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)
    return path


def run_import(runner, path, *args):
    return runner.invoke(cli.main, ["registry", "import", str(path), *args])


def req(nik="3374014101900001", name="Siti Aminah", born=datetime.date(1990, 1, 1), **kw):
    return VerificationRequest(nik=nik, full_name=name, birthdate=born, **kw)


def test_import_reports_bad_rows_by_line_without_their_content(runner, app, tmp_path):
    path = write(tmp_path, SITI, BUDI, *(row for row, _ in BAD_ROWS))
    result = run_import(runner, path, "--json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["inserted"], summary["updated"], summary["unchanged"]) == (2, 0, 0)
    assert summary["skipped_invalid"] == len(BAD_ROWS) and summary["source"] == "warga.csv"
    assert [e["line"] for e in summary["errors"]] == list(range(4, 4 + len(BAD_ROWS)))
    for error, (_, column) in zip(summary["errors"], BAD_ROWS, strict=True):
        assert error["message"].startswith(column), error
    for row, _ in BAD_ROWS + [(SITI, ""), (BUDI, "")]:
        nik = row.split(",")[0]
        assert nik not in result.output and nik[:12] not in result.output
    assert "ANI" not in result.output and "SITI" not in result.output
    with app.app_context():
        assert db.session.query(RegistryRecord).count() == 2
        tags = db.session.execute(select(AuditEvent.tag, AuditEvent.data)).all()
        assert ("operator:registry:imported", {"source": "warga.csv", "inserted": 2, "updated": 0, "unchanged": 0,
                                                "skipped_invalid": len(BAD_ROWS)}) in [tuple(t) for t in tags]


def test_reimport_is_idempotent_and_updates_changed_rows(runner, app, tmp_path):
    path = write(tmp_path, SITI, BUDI)
    first = run_import(runner, path, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["inserted"] == 2
    with app.app_context():
        before = {r.nik_index: (r.payload_encrypted, r.imported_at) for r in db.session.query(RegistryRecord)}
    again = json.loads(run_import(runner, path, "--json").stdout)
    assert (again["inserted"], again["updated"], again["unchanged"], again["skipped_invalid"]) == (0, 0, 2, 0)
    with app.app_context():
        after = {r.nik_index: (r.payload_encrypted, r.imported_at) for r in db.session.query(RegistryRecord)}
    assert after == before  # not even re-encrypted
    changed = write(tmp_path, SITI.replace("SEMARANG", "KENDAL"), BUDI, name="warga-2.csv")
    third = json.loads(run_import(runner, changed, "--json", "--source", "koreksi-2026").stdout)
    assert (third["inserted"], third["updated"], third["unchanged"]) == (0, 1, 1)
    with app.app_context():
        assert db.session.query(RegistryRecord).count() == 2
        result = LocalRegistry().verify(req(birthplace="Kendal"))
        assert result.matched and result.source_id == "koreksi-2026"


def test_duplicates_found_across_batches_and_progress_on_stderr(runner, app, tmp_path):
    path = write(tmp_path, SITI, BUDI, SITI.replace("SITI AMINAH", "SITI AMINA"))
    result = run_import(runner, path, "--batch", "1")
    assert result.exit_code == 1
    assert "line 4: duplicate NIK: an earlier line of this file has it" in result.stdout
    assert "inserted: 2" in result.stdout and "rejected: 1" in result.stdout
    assert "lines read" in result.stderr and "lines read" not in result.stdout
    with app.app_context():  # the first row won
        assert LocalRegistry().verify(req()).matched


def test_semicolons_bom_dates_and_extra_columns(runner, app, tmp_path):
    path = write(
        tmp_path, "3374014101900001;Siti Aminah;01-01-1990;Semarang;perempuan;Jl. Pemuda 1 RT 02/RW 03",
        header="NIK;Nama_Lengkap;Tanggal_Lahir;Tempat_Lahir;Jenis_Kelamin;Alamat", encoding="utf-8-sig",
    )
    result = run_import(runner, path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ignored_columns"] == ["alamat"]
    with app.app_context():
        from idp.registry.local import _decrypt

        row = db.session.execute(select(RegistryRecord)).scalar_one()
        assert _decrypt(row) == {"nama_lengkap": "Siti Aminah", "tanggal_lahir": "1990-01-01",
                                 "tempat_lahir": "Semarang", "jenis_kelamin": "female"}  # no address kept


@pytest.mark.parametrize(
    "content,message",
    [
        ("nik,nama_lengkap\n3374014101900001,SITI AMINAH\n", "missing column(s): tanggal_lahir"),
        ("", "empty file"),
        ("nik,nik,nama_lengkap,tanggal_lahir\n", "named twice: nik"),
    ],
)
def test_files_that_cannot_be_imported(runner, app, tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_text(content)
    result = run_import(runner, path)
    assert result.exit_code == 2 and message in result.stderr
    assert "3374014101900001" not in result.output


def test_not_utf8_rows_are_rejected(app, ctx, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + SITI + "\n" + "3174011505850002,JOS\xc9,1985-05-15,,\n").encode("latin-1"))
    summary = import_csv(path)
    assert summary.inserted == 1 and [(e.line, e.message) for e in summary.errors] == [(3, "row: not valid UTF-8")]


def test_verify_match_mismatch_not_found(runner, app, tmp_path):
    assert run_import(runner, write(tmp_path, SITI, BUDI)).exit_code == 0
    with app.app_context():
        registry = LocalRegistry()
        ok = registry.verify(req(name="Hj. Siti Aminah", birthplace="Kota Semarang", gender="female"))
        assert ok.matched and ok.gender == "female" and ok.registry == "local" and ok.source_id == "warga.csv"
        assert set(ok.summary().values()) == {"match"}
        budi = registry.verify(req(nik="3174011505850002", name="Budi Santoso", born=datetime.date(1985, 5, 15)))
        assert budi.matched and budi.fields["birthplace"] is FieldResult.NOT_CHECKED
        for change, field in [({"name": "Siti Amanah"}, "full_name"), ({"born": datetime.date(1990, 1, 2)}, "birthdate"),
                              ({"birthplace": "Salatiga"}, "birthplace"), ({"gender": "male"}, "gender")]:
            result = registry.verify(req(**change))
            assert result.found and not result.matched and result.fields[field] is FieldResult.MISMATCH
        missing = registry.verify(req(nik="3174011505850009"))
        assert not missing.found and not missing.matched


def test_no_cleartext_nik_or_name_in_the_database(runner, app, tmp_path):
    assert run_import(runner, write(tmp_path, SITI, BUDI)).exit_code == 0
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM registry_record")).all()
        assert len(rows) == 2
        for row in rows:
            for value in row:
                blob = value if isinstance(value, bytes) else str(value).encode()
                for secret in (b"3374014101900001", b"3174011505850002", b"SITI", b"AMINAH", b"BUDI", b"SANTOSO",
                               b"SEMARANG", b"1990-01-01"):
                    assert secret not in blob.upper()


def test_a_payload_moved_to_another_row_does_not_decrypt(runner, app, tmp_path):
    assert run_import(runner, write(tmp_path, SITI, BUDI)).exit_code == 0
    with app.app_context():
        a, b = db.session.execute(select(RegistryRecord).order_by(RegistryRecord.id)).scalars()
        a.payload_encrypted, b.payload_encrypted = b.payload_encrypted, a.payload_encrypted
        db.session.commit()
        with pytest.raises(RegistryUnavailableError) as exc:
            LocalRegistry().verify(req())
        assert exc.value.reason == "decrypt"


def test_demo_registry(runner, app):
    from idp import demo
    from idp.config import PROJECT_ROOT

    result = run_import(runner, PROJECT_ROOT / "idp" / "registry" / "demo.csv", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 11
    with app.app_context():
        registry = LocalRegistry()
        assert registry.verify(req(nik=demo.DEMO_NIK, name=demo.DEMO_NAME,
                                   born=datetime.date.fromisoformat(demo.DEMO_BIRTHDATE))).matched
        assert registry.verify(req(nik="3174015208920001", name="Dewi Lestari", born=datetime.date(1992, 8, 12))).matched
        assert registry.verify(req(nik="3374010307780003", name="Sutrisno", born=datetime.date(1978, 7, 3))).matched


def test_check_command(runner, app, tmp_path):
    assert run_import(runner, write(tmp_path, SITI)).exit_code == 0
    args = ["registry", "check", "--name", "Siti Aminah", "--birthdate", "1990-01-01", "--json"]
    ok = runner.invoke(cli.main, args, input="3374014101900001\n")
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["matched"] and data["fields"]["full_name"] == "match" and "3374014101900001" not in ok.output
    wrong = runner.invoke(cli.main, ["registry", "check", "--nik", "3374014101900001", "--name", "Siti Amanah",
                                     "--birthdate", "1990-01-01"])
    assert wrong.exit_code == 1 and "full_name: mismatch" in wrong.stdout
    assert runner.invoke(cli.main, args, input="123\n").exit_code == 2
    assert runner.invoke(cli.main, args[:-3] + ["--birthdate", "01-01-1990"], input="3374014101900001\n").exit_code == 2


def test_verify_records_audit_events_without_personal_data(ctx, tmp_path):
    import_csv(write(tmp_path, SITI))
    services.verify(req(), actor="citizen")
    services.verify(req(name="Siti Amanah"), actor="citizen")
    events = db.session.execute(
        select(AuditEvent).where(AuditEvent.tag.like("registry:%")).order_by(AuditEvent.id)
    ).scalars().all()
    assert [e.tag for e in events] == ["registry:verify:match", "registry:verify:mismatch"]
    assert events[1].data["fields"]["full_name"] == "mismatch" and events[1].data["found"] is True
    from idp.identity.services import nik_index

    dump = json.dumps([e.data for e in events])
    for secret in ("3374014101900001", nik_index("3374014101900001"), "Siti", "SITI", "1990"):
        assert secret not in dump


class DownRegistry:
    name = "http"

    def verify(self, request):
        raise RegistryUnavailableError("timeout", retry_after=12)


def test_an_outage_leaves_only_its_audit_event(ctx):
    tables = [t.name for t in db.metadata.sorted_tables]

    def counts():
        return {t: db.session.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}

    before = counts()
    with pytest.raises(RegistryUnavailableError) as exc:
        services.verify(req(), registry=DownRegistry())
    assert exc.value.retry_after == 12
    after = counts()
    assert {t: after[t] - before[t] for t in tables if after[t] != before[t]} == {"audit_event": 1}
    event = db.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
    assert event.tag == "registry:verify:unavailable" and event.data == {"registry": "http", "reason": "timeout",
                                                                          "retry_after": 12}


def test_database_outage_is_unavailable_not_a_mismatch(ctx, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def boom(*a, **kw):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db.session, "execute", boom)
    with pytest.raises(RegistryUnavailableError) as exc:
        LocalRegistry().verify(req())
    assert exc.value.reason == "database"


def test_get_registry_is_built_once_per_app(ctx):
    assert services.get_registry() is services.get_registry()
    assert isinstance(services.get_registry(), LocalRegistry)


@pytest.mark.parametrize("args", [["registry"], ["registry", "import"], ["registry", "check"]], ids=" ".join)
def test_registry_commands_have_help(args):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
