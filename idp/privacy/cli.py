"""`idp privacy`: breach drill (who was affected, notices, agency report; UU PDP Art. 46,
SECURITY.md T96) and written data-access requests (Art. 32, T93)."""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import sys
from pathlib import Path

import click

EXIT_HELP = """

\b
Exit codes: 0 done; 1 the operation failed (see the message); 2 usage or
configuration error."""

SCOPE_HELP = """

\b
The window is --since <= t < --until, ISO 8601 with an offset (2026-03-01T08:00+07:00,
2026-03-01T01:00Z) or epoch seconds. Sources (--data, repeatable):
  documents  documents read by services (document_access) or opened by MPP officers
  tokens     access/refresh tokens issued: the data those tokens release
  contacts   one-time codes and security notices sent to e-mail/phone (gateway exposure)
  all        the three above (the default, unless --event is given)
--event TAG (repeatable) adds citizens with these audit events, e.g.
account:login:success or a prefix such as 'counter:*'. --client keeps only records that
name that client (codes and notices name none). Tokens and one-time codes are purged
after they expire: the output says which part of the window only the audit log covers."""


@click.group(help="Personal data protection (UU PDP) for operators: breach drill and written data-access requests.")
def privacy():
    pass


@privacy.group(short_help="Breach drill: affected citizens, notices, agency report (T96).",
               help="Personal data breach (UU PDP Art. 46): who was affected, the notices to each citizen within "
                    "3×24 hours, and the report for the PDP agency.")
def breach():
    pass


def _time_option(ctx, param, value):
    from idp.privacy.services import BreachInputError, parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except BreachInputError as exc:
        raise click.BadParameter(str(exc)) from None


def _scope_options(fn):
    @click.option("--since", required=True, callback=_time_option, help="Start of the incident window (inclusive).")
    @click.option("--until", callback=_time_option, help="End of the window (exclusive). Default: now.")
    @click.option("--client", "client_id", help="Only records that name this client_id.")
    @click.option("--event", "events", multiple=True, help="Audit event tag, or a prefix ending in '*' (repeatable).")
    @click.option("--data", "data", multiple=True, type=click.Choice(["documents", "tokens", "contacts", "all"]),
                  help="Source to search (repeatable). Default: all, or none when --event is given.")
    @click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 10000),
                  help="Rows per database query.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def _scope(since, until, client_id, events, data):
    from idp import clock
    from idp.cli import EXIT_USAGE, _fail
    from idp.privacy.services import SOURCES, BreachInputError, BreachScope

    if not data:
        sources = frozenset() if events else frozenset(SOURCES)
    else:
        sources = frozenset(SOURCES) if "all" in data else frozenset(data)
    try:
        return BreachScope(since=since, until=until if until is not None else clock.now(), client_id=client_id,
                           sources=sources, events=tuple(events))
    except BreachInputError as exc:
        _fail(str(exc), EXIT_USAGE)


def _open_list(path: Path | None):
    from idp.cli import _fail
    from idp.privacy.services import open_private

    if path is None:
        return None
    try:
        return open_private(path, exclusive=False)
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}")


def _progress(as_json: bool):
    def report(n: int) -> None:
        if not as_json:
            click.echo(f"  {n} citizens so far", err=True)

    return report


def _summary_lines(scope, summary: dict, notes: list[str]) -> list[str]:
    lines = [
        f"window: {scope['since']} to {scope['until']} (until exclusive)",
        (f"client: {scope['client_id'] or 'any'}; data: {', '.join(scope['data']) or '-'}; "
         f"events: {', '.join(scope['events']) or '-'}"),
        f"citizens affected: {summary['citizens']} ({summary['records']} records)",
    ]
    if summary["categories"]:
        lines.append("categories of personal data (citizens):")
        lines += [f"  {c}: {n}" for c, n in summary["categories"].items()]
    if summary["sources"]:
        lines.append("sources (citizens): " + ", ".join(f"{s} {n}" for s, n in summary["sources"].items()))
    if summary["clients"]:
        lines.append("clients (citizens): " + ", ".join(f"{c} {n}" for c, n in summary["clients"].items()))
    lines += [f"note: {n}" for n in notes]
    return lines


@breach.command("affected", help="Compute which citizens an incident affected, with the categories of personal "
                "data per citizen. Prints counts; --list writes one JSON line per citizen (person id, categories, "
                "sources, clients, first and last time; never a NIK, name or contact). Progress goes to stderr. "
                "Recorded as privacy:breach:assessed." + SCOPE_HELP + EXIT_HELP)
@_scope_options
@click.option("--incident", help="Incident id, recorded with the audit event.")
@click.option("--list", "list_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the affected citizens to FILE (JSON Lines, mode 0600).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def breach_affected(since, until, client_id, events, data, batch, incident, list_path, as_json):
    from idp.cli import _app, _out
    from idp.privacy import services

    scope = _scope(since, until, client_id, events, data)
    app = _app()
    with app.app_context():
        out = _open_list(list_path)

        def each(a):
            if out is not None:
                out.write(json.dumps(a.to_dict()).encode() + b"\n")

        try:
            summary = services.assess(scope, batch=batch, incident=incident, on_citizen=each,
                                      progress=_progress(as_json))
        finally:
            if out is not None:
                out.close()
        notes = services.coverage(scope)
    result = {"scope": scope.to_dict(), **summary.to_dict(), "coverage_notes": notes,
              "list": str(list_path) if list_path else None}
    lines = _summary_lines(result["scope"], result, notes)
    if list_path:
        lines.append(f"list: {list_path}")
    _out(as_json, result, "\n".join(lines))


@breach.command("notices", help="Prepare the written notice UU PDP Art. 46 requires for each affected citizen "
                "(what, when, how, remediation, contact; in Bahasa Indonesia and English) and the report for the "
                "PDP agency. Dry run unless --send: --send queues the notices to every verified contact through "
                "the notifier. Idempotent per --incident: a citizen already told about that incident is not told "
                "again, so re-run after widening the window or to retry failed deliveries. Citizens without a "
                "verified contact are counted as unreachable (a letter or a counter visit is needed); --list names "
                "them by person id." + SCOPE_HELP + """

\b
Exit codes: 0 done; 1 some notices could not be delivered (re-run to retry) or the
report could not be written; 2 usage or configuration error.""")
@_scope_options
@click.option("--incident", required=True, help="Incident id, e.g. INC-2026-007 (letters, digits, . _ : -).")
@click.option("--detected-at", required=True, callback=_time_option, help="When the breach became known (T0); the "
              "72-hour deadline counts from here.")
@click.option("--what", required=True, help="What happened, in words for citizens.")
@click.option("--how", required=True, help="How the data was disclosed.")
@click.option("--remediation", required=True, help="What is being done to contain it and recover.")
@click.option("--contact", required=True, help="Where citizens and the agency ask questions (e-mail, phone, address).")
@click.option("--send", is_flag=True, help="Queue the notices (default: dry run).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the agency report to FILE (.json: JSON, otherwise Markdown; mode 0600).")
@click.option("--list", "list_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one JSON line per affected citizen with its notice status to FILE (mode 0600).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def breach_notices(since, until, client_id, events, data, batch, incident, detected_at, what, how, remediation,
                   contact, send, report_path, list_path, as_json):
    from idp import clock
    from idp.cli import EXIT_FAILED, EXIT_USAGE, _app, _fail, _out
    from idp.privacy import services

    scope = _scope(since, until, client_id, events, data)
    try:
        inc = services.Incident(id=incident, detected_at=detected_at, what=what, how=how, remediation=remediation,
                                contact=contact)
    except services.BreachInputError as exc:
        _fail(str(exc), EXIT_USAGE)
    if clock.now() > inc.deadline:
        click.echo(f"warning: the 72-hour notice deadline ({services.iso(inc.deadline)}) has passed", err=True)
    app = _app()
    with app.app_context():
        out = _open_list(list_path)

        def each(a, status):
            if out is not None:
                out.write(json.dumps({**a.to_dict(), "notice": status}).encode() + b"\n")

        try:
            run = services.run_notices(scope, inc, send=send, batch=batch, on_citizen=each, progress=_progress(as_json))
        except services.BreachInputError as exc:
            _fail(str(exc), EXIT_USAGE)
        finally:
            if out is not None:
                out.close()
        notes = services.coverage(scope)
        result = {"scope": scope.to_dict(), **run.to_dict(), "coverage_notes": notes, "report": None,
                  "list": str(list_path) if list_path else None}
        if report_path is not None:
            try:
                services.write_report(run, notes, report_path)
            except OSError as exc:
                _fail(f"{report_path}: {exc.strerror}")
            result["report"] = str(report_path)
        if run.summary.citizens:
            subject, body = services.sample_notice(inc, scope, run.summary.categories)
            result["sample_notice"] = {"subject": subject, "body": body}
    lines = _summary_lines(result["scope"], result, notes)
    lines += [
        f"incident: {inc.id}; detected {result['detected_at']}; notice deadline {result['deadline']}",
        f"already notified: {run.already_notified}",
        (f"notified now: {run.notified}" + (f" ({', '.join(f'{c} {n}' for c, n in result['channels'].items())})"
                                            if run.channels else "")) if send
        else f"to notify: {run.to_notify} (dry run: nothing sent; add --send)",
        f"unreachable (no verified contact): {run.unreachable}",
    ]
    if send:
        lines.append(f"failed (re-run to retry): {run.failed}")
    if result["report"]:
        lines.append(f"agency report: {result['report']}")
    if list_path:
        lines.append(f"list: {list_path}")
    if "sample_notice" in result and not send:
        lines += ["", "sample notice (every category of this incident):", result["sample_notice"]["subject"], "",
                  result["sample_notice"]["body"]]
    _out(as_json, result, "\n".join(lines))
    if run.failed:
        sys.exit(EXIT_FAILED)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def _read_nik(nik_file) -> str:
    if nik_file.name == "<stdin>" and sys.stdin.isatty():
        return click.prompt("NIK", hide_input=True, err=True)
    for line in nik_file:
        if line.strip():
            return line.strip()
    return ""


@privacy.command("export", short_help="Export one citizen's data for a written request (T93).", help="""Produce, for a citizen's written request (at a counter or by
letter; UU PDP Art. 32, answer within 3×24 hours), the same JSON export the self-service
page /account/export gives: every stored personal datum and the processing record.

The NIK is read from --nik-file (a file, or '-' for standard input), never from the
command line, where it would land in shell history and the process list; delete that
file afterwards. Or give --person-id (e.g. from a breach list). The export goes to
--out, created with mode 0600 (an existing file is never replaced), and holds the NIK
and documents' attributes: hand it to the citizen only. The export is recorded in the
audit log with the reason, and shows in the citizen's own processing record.

\b
Exit codes: 0 written; 1 no account for this NIK or person id, --out exists, or the
file could not be written; 2 usage error (malformed NIK, not exactly one of --nik-file
and --person-id, a NIK in --reason).""")
@click.option("--nik-file", type=click.File("r", encoding="utf-8"), help="File whose first line is the NIK ('-': stdin).")
@click.option("--person-id", type=int, help="The account's person id instead of a NIK.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the export (created, mode 0600).")
@click.option("--reason", required=True, help="Why: the request's reference (letter number, counter ticket). "
              "Recorded in the audit log; no NIK in it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export(nik_file, person_id, out_path, reason, as_json):
    from idp.cli import EXIT_USAGE, _app, _fail, _out
    from idp.identity.nik import InvalidNIKError, mask_nik, normalize_nik
    from idp.privacy import services

    if (nik_file is None) == (person_id is None):
        _fail("give exactly one of --nik-file and --person-id", EXIT_USAGE)
    try:
        reason = services.check_text("reason", reason, max_length=200)
    except services.BreachInputError as exc:
        _fail(str(exc), EXIT_USAGE)
    nik = None
    if nik_file is not None:
        try:
            nik = normalize_nik(_read_nik(nik_file))
        except InvalidNIKError:  # never echo what was read
            _fail("NIK: not 16 digits", EXIT_USAGE)
    if out_path.exists():
        _fail(f"{out_path} exists; refusing to replace it")
    app = _app()
    with app.app_context():
        try:
            person = services.find_person(nik=nik, person_id=person_id)
        except services.NoAccountError:
            _fail("no account with this NIK" if nik is not None else "no account with this person id")
        pid = person.id
        from idp.identity.services import decrypt_nik

        masked = mask_nik(decrypt_nik(person))
        try:
            fh = services.open_private(out_path, exclusive=True)
        except OSError as exc:
            _fail(f"{out_path}: {exc.strerror}")
        try:
            with fh:
                body = services.export_for_request(pid, reason=reason, operator=_operator())
                fh.write(body)
        except BaseException:
            out_path.unlink(missing_ok=True)  # no half-written export left behind
            raise
    data = {"person_id": pid, "nik": masked, "out": str(out_path), "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest()}
    _out(as_json, data, f"exported person {pid} ({masked}) to {out_path}: {len(body)} bytes, sha256 {data['sha256']}\n"
                        "hand it to the citizen only, then delete it")
