"""`idp officers`: make citizen accounts MPP counter officers, list them, withdraw access."""

from __future__ import annotations

import click

EXIT_HELP = """

\b
Exit codes: 0 done; 1 the operation failed (no such account or officer, already an
officer); 2 usage or configuration error (malformed NIK or location)."""


@click.group(help="MPP counter officers: citizen accounts bound to one MPP location. An officer signs in with their "
                  "own account and a second factor, and verifies citizens in person at /counter.")
def officers():
    pass


def _officer_dict(officer, person) -> dict:
    from idp.authn.services import has_second_factor
    from idp.identity.nik import mask_nik
    from idp.identity.services import decrypt_nik

    return {
        "id": officer.id,
        "person_id": person.id,
        "nik": mask_nik(decrypt_nik(person)),  # never the NIK in full
        "name": person.name,
        "location_code": officer.location_code,
        "location_name": officer.location_name,
        "active": officer.active,
        "second_factor": has_second_factor(person.id),
        "created_at": officer.created_at,
        "created_by": officer.created_by,
        "disabled_at": officer.disabled_at,
    }


def _nik(raw: str) -> str:
    from idp.cli import EXIT_USAGE, _fail
    from idp.identity.nik import InvalidNIKError, normalize_nik

    try:
        return normalize_nik(raw)
    except InvalidNIKError:
        _fail("--nik: not 16 digits", EXIT_USAGE)


@officers.command("add", help="Make the account with this NIK an officer at an MPP location. The person must "
                              "already have a SatuAkun account, and needs a second factor before the counter "
                              "pages open. Adding a disabled officer enables them again at the given location."
                              + EXIT_HELP)
@click.option("--nik", required=True, help="The officer's own 16-digit NIK.")
@click.option("--location-code", required=True, help="Code of the MPP location, e.g. MPP-3374 (letters, digits, . _ -).")
@click.option("--location-name", required=True, help="Name of the MPP location, e.g. \"MPP Kota Semarang\".")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def officers_add(nik: str, location_code: str, location_name: str, as_json: bool):
    from idp.cli import EXIT_USAGE, _app, _fail, _out
    from idp.counter import services

    nik = _nik(nik)
    app = _app()
    with app.app_context():
        try:
            officer = services.add_officer(nik, location_code, location_name, actor="cli")
        except services.InvalidLocationError as exc:
            _fail(f"--{exc.field}: invalid value", EXIT_USAGE)
        except services.NoSuchPersonError:
            _fail("no account with this NIK: the officer first needs a SatuAkun account")
        except services.OfficerExistsError:
            _fail("this account is already an active officer")
        from idp.extensions import db
        from idp.identity.models import Person

        data = _officer_dict(officer, db.session.get(Person, officer.person_id))
    if not data["second_factor"] and not as_json:
        click.echo("note: this officer has no second factor yet; the counter pages need one", err=True)
    _out(as_json, data, f"officer {data['id']} added: {data['nik']} at {data['location_code']} ({data['location_name']})")


@officers.command("list", help="List officers (active and disabled) with masked NIKs." + EXIT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def officers_list(as_json: bool):
    from idp.cli import _app, _out
    from idp.counter import services

    app = _app()
    with app.app_context():
        rows = [_officer_dict(o, p) for o, p in services.list_officers()]
    text = "\n".join(
        f"{r['id']}\t{r['nik']}\t{r['location_code']}\t{'active' if r['active'] else 'disabled'}"
        f"\t{'2FA' if r['second_factor'] else 'no 2FA'}\t{r['name']}\t{r['location_name']}"
        for r in rows
    ) or "no officers"
    _out(as_json, rows, text)


@officers.command("disable", help="Withdraw an officer's counter access at once (the citizen account stays). "
                                  "Disabling a disabled officer changes nothing." + EXIT_HELP)
@click.option("--nik", required=True, help="The officer's 16-digit NIK.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def officers_disable(nik: str, as_json: bool):
    from idp.cli import _app, _fail, _out
    from idp.counter import services

    nik = _nik(nik)
    app = _app()
    with app.app_context():
        try:
            changed = services.disable_officer(nik, actor="cli")
        except services.NoSuchOfficerError:
            _fail("no officer with this NIK")
    _out(as_json, {"disabled": True, "changed": changed}, "disabled" if changed else "already disabled")
