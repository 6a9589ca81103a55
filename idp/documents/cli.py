"""`idp documents`: virus-scan stored document files (cron), count files by scan status."""

from __future__ import annotations

import json
import sys

import click

# 1 (failed, e.g. the database is down) and 2 (usage or configuration error) keep their
# meaning from idp/cli.py; the outcomes of a completed scan have codes of their own.
EXIT_INCOMPLETE = 3
EXIT_INFECTED = 4
EXIT_UNAVAILABLE = 5


@click.group(help="Document vault: citizens' documents, encrypted at rest.")
def documents():
    pass


@documents.command(
    "scan",
    help="""Virus-scan stored document files that are not scanned yet, with clamd.

Scans the files stored while clamd was unavailable ("being checked": pending) and those
stored while scanning was off ("skipped"), oldest first, in batches. A clean file becomes
available to the services the citizen shares it with. An infected file is quarantined:
no one can download it any more, the event is audited and the citizen is told. Run it
from cron (every few minutes), on one node or several at once: two runs may scan
the same file, but only one of them records its verdict.
Needs document_scanner = "clamd". Progress goes to stderr, the summary to stdout.

\b
Exit codes: 0 done, nothing infected; 1 failed (e.g. database down); 2 usage or
configuration error; 3 some files could not be scanned or read (logged; they stay as
they were); 4 infected files were found and quarantined; 5 clamd is unavailable (the
run stopped; the rest stays pending) or scanning is off. With several outcomes, the
highest code wins: 5 over 4 over 3.""",
)
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 1000), help="Files per transaction.")
@click.option("--limit", type=click.IntRange(1), help="At most this many files in this run.")
@click.option("--rescan-clean", is_flag=True, help="Also scan again files found clean before (after a signature update).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def scan(batch: int, limit: int | None, rescan_clean: bool, as_json: bool):
    from idp.cli import _app, _out
    from idp.documents import services

    app = _app()

    def progress(run: services.ScanRun) -> None:
        click.echo(f"  {run.scanned} scanned: {run.clean} clean, {len(run.infected)} infected, "
                   f"{run.failed + run.unreadable} not scanned", err=True)

    with app.app_context():
        try:
            if app.config["IDP"]["document_scanner"] == "clamd":
                click.echo(f"scanner: clamd at {app.config['IDP']['clamd_address']}", err=True)
            run = services.scan_stored_files(actor="cli", rescan_clean=rescan_clean, batch=batch, limit=limit,
                                             progress=progress)
        except services.ScanningOffError:
            click.echo("error: document_scanner is 'none': scanning is off (set document_scanner = 'clamd')", err=True)
            if as_json:
                click.echo(json.dumps({"error": "scanning_off"}))
            sys.exit(EXIT_UNAVAILABLE)
    data = run.to_dict()
    lines = [
        f"scanned: {run.scanned}",
        f"clean: {run.clean}",
        f"infected (quarantined): {len(run.infected)}",
        *(f"  {public_id}" for public_id in run.infected),
        f"could not scan: {run.failed}",
        f"could not read: {run.unreadable}",
        f"still waiting for a scan: {run.remaining}",
    ]
    if run.unavailable:
        lines.insert(0, "clamd is unavailable: the run stopped early")
    _out(as_json, data, "\n".join(lines))
    if run.unavailable:
        sys.exit(EXIT_UNAVAILABLE)
    if run.infected:
        sys.exit(EXIT_INFECTED)
    if run.failed or run.unreadable:
        sys.exit(EXIT_INCOMPLETE)


@documents.command("status", help="Count live document files by virus-scan status.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool):
    from sqlalchemy import func, select

    from idp.cli import _app
    from idp.documents.models import SCAN_STATUSES, Document
    from idp.extensions import db

    app = _app()
    with app.app_context():
        rows = dict(db.session.execute(
            select(Document.scan_status, func.count(Document.id))
            .where(Document.blob_name.is_not(None), Document.deleted_at.is_(None))
            .group_by(Document.scan_status)
        ).all())
        scanner = app.config["IDP"]["document_scanner"]
    data = {"document_scanner": scanner, **{s: int(rows.get(s, 0)) for s in SCAN_STATUSES}}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"document_scanner: {scanner}\n" + "\n".join(f"{s}: {data[s]}" for s in SCAN_STATUSES))
