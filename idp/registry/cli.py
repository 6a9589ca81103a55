"""`idp registry`: import the local registry from CSV, check a person against the registry."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import click

SHOWN_ERRORS = 50


@click.group(help="Population registry: import the local registry from CSV, check a person against the configured registry.")
def registry():
    pass


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


@registry.command(
    "import",
    help="""Import (upsert) citizens from FILE, a CSV file, into the local registry.

\b
Header line, comma- or semicolon-separated, UTF-8; columns:
  nik            16 digits (required)
  nama_lengkap   full name as on the KTP-el (required)
  tanggal_lahir  YYYY-MM-DD or DD-MM-YYYY (required)
  tempat_lahir   place of birth (optional)
  jenis_kelamin  LAKI-LAKI or PEREMPUAN (optional)
Other columns are ignored and not stored.

Rows are validated one by one; a rejected row is reported by line number (never its
content) and the others are imported. Re-importing a file is safe: unchanged rows stay
as they are. Progress goes to stderr, the summary to stdout.

\b
Exit codes: 0 every row imported; 1 some rows were rejected (the rest were imported);
2 the file could not be imported at all (unreadable, required column missing).""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", help="Name recorded with each imported row (default: the file name).")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 5000), help="Rows per transaction.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary (lists up to 1000 rejected lines).")
def registry_import(file: Path, source: str | None, batch: int, as_json: bool):
    from idp.cli import EXIT_FAILED, EXIT_USAGE, _app, _fail, _out
    from idp.registry.local import ImportFileError, import_csv

    app = _app()
    if app.config["IDP"]["registry_backend"] != "local":
        click.echo("note: registry_backend is not 'local'; the imported table is not used for checks", err=True)
    bar = None
    if not as_json and sys.stderr.isatty():
        bar = click.progressbar(length=_count_lines(file), label="importing", file=sys.stderr)
    done = 0

    def progress(line: int) -> None:
        nonlocal done
        if bar is not None:
            bar.update(line - done)
        elif not as_json:
            click.echo(f"  {line} lines read", err=True)
        done = line

    with app.app_context():
        try:
            if bar is not None:
                with bar:
                    summary = import_csv(file, source=source, progress=progress, batch=batch)
            else:
                summary = import_csv(file, source=source, progress=progress, batch=batch)
        except ImportFileError as exc:
            _fail(str(exc), EXIT_USAGE)
    data = summary.to_dict()
    lines = [
        f"source: {summary.source}",
        f"inserted: {summary.inserted}",
        f"updated: {summary.updated}",
        f"unchanged: {summary.unchanged}",
        f"rejected: {summary.skipped_invalid}",
    ]
    lines += [f"  line {e.line}: {e.message}" for e in summary.errors[:SHOWN_ERRORS]]
    if summary.skipped_invalid > SHOWN_ERRORS:
        lines.append(f"  ... {summary.skipped_invalid - SHOWN_ERRORS} more (--json lists up to 1000)")
    if summary.ignored_columns:
        lines.append(f"ignored columns: {', '.join(summary.ignored_columns)}")
    _out(as_json, data, "\n".join(lines))
    if summary.skipped_invalid:
        sys.exit(EXIT_FAILED)


@registry.command(
    "check",
    help="""Check a person against the configured registry; print the result per field.

The NIK is read from the first line of standard input, so it stays out of shell history
and the process list, unless --nik is given. Each check is recorded as an audit event.

\b
Exit codes: 0 match; 1 no match, or the registry is unavailable (try again later);
2 usage or configuration error.""",
)
@click.option("--nik", help="16-digit NIK (default: read from standard input).")
@click.option("--name", required=True, help="Full name.")
@click.option("--birthdate", required=True, help="Date of birth, YYYY-MM-DD.")
@click.option("--birthplace", help="Place of birth (optional).")
@click.option("--gender", type=click.Choice(["male", "female"]), help="Gender (optional).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def registry_check(nik, name, birthdate, birthplace, gender, as_json):
    from idp.cli import EXIT_FAILED, EXIT_USAGE, _app, _fail, _out
    from idp.identity.nik import InvalidNIKError
    from idp.registry import services
    from idp.registry.base import RegistryConfigError, RegistryUnavailableError, VerificationRequest

    if nik is None:
        nik = click.prompt("NIK", hide_input=True, err=True) if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        born = datetime.date.fromisoformat(birthdate)
    except ValueError:
        _fail("--birthdate: expected YYYY-MM-DD", EXIT_USAGE)
    try:
        request = VerificationRequest(nik=nik, full_name=name, birthdate=born, birthplace=birthplace, gender=gender)
    except InvalidNIKError:
        _fail("NIK: not 16 digits", EXIT_USAGE)
    app = _app()
    with app.app_context():
        try:
            result = services.verify(request, actor="cli")
        except RegistryConfigError as exc:
            _fail(str(exc), EXIT_USAGE)
        except RegistryUnavailableError as exc:
            data = {"error": "registry_unavailable", "reason": exc.reason, "retry_after": exc.retry_after}
            if as_json:
                click.echo(json.dumps(data))
            _fail(f"registry unavailable ({exc.reason}); try again in {exc.retry_after} s")
    data = {
        "matched": result.matched, "found": result.found, "fields": result.summary(), "registry": result.registry,
        "source_id": result.source_id, "checked_at": result.checked_at,
    }
    text = "\n".join(
        [f"matched: {'yes' if result.matched else 'no'}", f"found: {'yes' if result.found else 'no'}"]
        + [f"  {k}: {v}" for k, v in data["fields"].items()]
        + [f"registry: {result.registry}" + (f" ({result.source_id})" if result.source_id else "")]
    )
    _out(as_json, data, text)
    if not result.matched:
        sys.exit(EXIT_FAILED)
