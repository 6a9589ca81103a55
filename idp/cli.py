"""Operator CLI: `idp --help`. Exit codes: 0 ok, 1 operation failed, 2 usage/config error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from idp import config as config_mod
from idp.counter.cli import officers as officers_group
from idp.documents.cli import documents as documents_group
from idp.oidc.backchannel_cli import backchannel as backchannel_group
from idp.privacy.cli import privacy as privacy_group
from idp.registry.cli import registry as registry_group

EXIT_FAILED = 1
EXIT_USAGE = 2


def _app():
    from idp import create_app
    from idp.keys.secrets import MissingSecretError

    try:
        return create_app()
    except config_mod.ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except MissingSecretError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _out(as_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _fail(message: str, code: int = EXIT_FAILED):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(help="SatuAkun identity provider. Configuration: the TOML file named by IDP_CONFIG.")
def main():
    pass


# -- init / serve ---------------------------------------------------------------------------------
@main.command(help="Create or migrate the database, create missing secrets and signing keys.")
@click.option("--demo", is_flag=True, help="Also load clients/ and the demo citizen (development).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def init(demo: bool, as_json: bool):
    from idp.keys import secrets as secrets_mod

    try:
        cfg = config_mod.from_environment()
    except config_mod.ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    created_secrets = secrets_mod.ensure(config_mod.resolve_path(cfg["keys_dir"]))
    app = _app()
    from idp.db import upgrade

    with app.app_context():
        upgrade(app)
        from idp.keys import lifecycle

        created_keys = lifecycle.ensure(actor="cli:init")
        result = {"secrets_created": created_secrets, "keys_created": created_keys}
        if demo or cfg["seed_demo"]:
            from idp import demo as demo_mod

            result["demo"] = demo_mod.seed(app)
    _out(as_json, result, "\n".join([
        "database: up to date",
        f"secrets created: {', '.join(created_secrets) or 'none'}",
        f"signing keys created: {', '.join(created_keys) or 'none'}",
    ] + ([f"demo: {result['demo']}"] if "demo" in result else [])))


@main.command(help="Run the development server (production: gunicorn 'idp.wsgi:app').")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int):
    app = _app()
    app.run(host=host, port=port, debug=False, threaded=True)


@main.command(help="Delete expired codes, interactions, tokens and sessions (safe to run from cron on any node).")
@click.option("--keep", default=86400, show_default=True, type=int, help="Keep expired/revoked rows this many seconds.")
@click.option("--json", "as_json", is_flag=True)
def purge(keep: int, as_json: bool):
    from idp.ops.purge import purge as run_purge

    app = _app()

    def progress(label: str, n: int) -> None:
        if not as_json:
            click.echo(f"  {label}: {n} deleted so far", err=True)

    with app.app_context():
        counts = run_purge(keep, progress)
    _out(as_json, counts, "\n".join(f"{k}: {v} deleted" for k, v in counts.items()))


# -- users ----------------------------------------------------------------------------------------
@main.group(help="Citizen accounts (operators and tests; self-registration is separate).")
def users():
    pass


def _person_dict(person, nik: str | None = None) -> dict:
    from idp.identity.nik import mask_nik

    return {
        "id": person.id,
        "nik": mask_nik(nik) if nik else None,
        "name": person.name,
        "birthdate": person.birthdate,
        "email": person.email,
        "phone_number": person.phone_number,
        "locked": person.locked,
        "created_at": person.created_at,
    }


@users.command("create", help="Create a citizen account. The password is read from stdin.")
@click.option("--nik", required=True, help="16-digit NIK.")
@click.option("--name", required=True)
@click.option("--birthdate", required=True, help="YYYY-MM-DD")
@click.option("--email")
@click.option("--phone")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--json", "as_json", is_flag=True)
def users_create(nik, name, birthdate, email, phone, password_stdin, as_json):
    from idp.identity import services as identity
    from idp.identity.nik import InvalidNIKError

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not 8 <= len(password) <= 128:
            _fail("password must be 8 to 128 characters", EXIT_USAGE)
    app = _app()
    with app.app_context():
        try:
            person = identity.create_person(
                nik=nik, name=name, birthdate=birthdate, password=password, email=email, phone_number=phone,
                actor="cli",
            )
        except InvalidNIKError as exc:  # the code only: never echo the NIK
            _fail(f"--nik: invalid ({exc.code})", EXIT_USAGE)
        except identity.InvalidPersonError as exc:
            _fail(f"--{exc}: invalid value", EXIT_USAGE)
        except identity.PersonExistsError:
            _fail("an account with this NIK already exists")
        data = _person_dict(person, identity.decrypt_nik(person))
    _out(as_json, data, f"created person {data['id']} ({data['nik']})")


def _require_person(nik: str):
    from idp.identity import services as identity

    person = identity.get_person_by_nik(nik)
    if person is None:
        _fail("no account with this NIK")
    return person


@users.command("show", help="Show an account by NIK.")
@click.option("--nik", required=True)
@click.option("--json", "as_json", is_flag=True)
def users_show(nik, as_json):
    from idp.identity import services as identity

    app = _app()
    with app.app_context():
        person = _require_person(nik)
        data = _person_dict(person, identity.decrypt_nik(person))
    _out(as_json, data, "\n".join(f"{k}: {v}" for k, v in data.items()))


@users.command("lock", help="Lock an account: ends its sessions and revokes its tokens.")
@click.option("--nik", required=True)
def users_lock(nik):
    from idp.identity import services as identity

    app = _app()
    with app.app_context():
        identity.set_locked(_require_person(nik), True, actor="cli")
    click.echo("locked")


@users.command("unlock", help="Unlock an account.")
@click.option("--nik", required=True)
def users_unlock(nik):
    from idp.identity import services as identity

    app = _app()
    with app.app_context():
        identity.set_locked(_require_person(nik), False, actor="cli")
    click.echo("unlocked")


@users.command("sign-out", help="End every session of an account and revoke all its tokens, on every node "
               "(the account stays usable; the citizen signs in again). T61.")
@click.option("--nik", required=True)
@click.option("--reason", required=True, help="Recorded in the audit log.")
@click.option("--json", "as_json", is_flag=True)
def users_sign_out(nik, reason, as_json):
    from idp.audit.services import EventTag, record_event
    from idp.authn import services as authn
    from idp.extensions import db

    app = _app()
    with app.app_context():
        person = _require_person(nik)
        ended = len(authn.list_sessions(person.id))
        authn.sign_out_everywhere(person.id)
        record_event(EventTag.SESSIONS_ENDED_BY_OPERATOR, actor="cli", person_id=person.id, reason=reason[:200], sessions=ended)
        db.session.commit()
    _out(as_json, {"sessions_ended": ended}, f"{ended} session(s) ended; tokens revoked")


# -- clients --------------------------------------------------------------------------------------
@main.group(help="Relying-party registrations (clients/*.toml).")
def clients():
    pass


def _client_dict(c) -> dict:
    return {
        "client_id": c.client_id, "name": c.name, "region_code": c.region_code,
        "token_endpoint_auth_method": c.token_endpoint_auth_method, "grant_types": c.grant_types,
        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "scopes": c.scopes, "claims": c.claims, "subject_type": c.subject_type,
        "sector_identifier": c.sector_identifier, "id_token_signed_response_alg": c.id_token_signed_response_alg,
        "identity_assurance": c.identity_assurance, "document_types": c.document_types,
        "document_file": c.document_file, "document_purposes": c.document_purposes or {},
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens, "disabled": c.disabled, "source": c.source,
    }


def _require_client(client_id: str):
    from idp.extensions import db
    from idp.oidc.models import Client

    c = db.session.get(Client, client_id)
    if c is None:
        _fail(f"no client {client_id!r}")
    return c


@clients.command("sync", help="Validate every DIR/*.toml and load them all, or nothing.")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def clients_sync(directory, as_json):
    from idp.oidc import clients as svc

    app = _app()
    directory = directory or config_mod.resolve_path(app.config["IDP"]["clients_dir"])
    if not directory.is_dir():
        _fail(f"{directory}: not a directory", EXIT_USAGE)
    with app.app_context():
        try:
            regs = svc.read_directory(directory)
        except svc.RegistrationError as exc:
            if as_json:
                click.echo(json.dumps({"error": {"file": exc.source, "field": exc.field, "reason": exc.reason}}))
            _fail(str(exc))
        written = svc.sync(regs, actor="cli")
    _out(as_json, {"synced": written}, f"synced {len(written)} client(s): {', '.join(written)}")


@clients.command("list", help="List registered clients.")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json):
    from idp.oidc import clients as svc

    app = _app()
    with app.app_context():
        rows = [_client_dict(c) for c in svc.list_clients()]
    _out(as_json, rows, "\n".join(
        f"{r['client_id']:<32} {r['token_endpoint_auth_method']:<20} {'DISABLED ' if r['disabled'] else ''}{r['name']}" for r in rows
    ) or "(no clients)")


@clients.command("show", help="Show one client.")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def clients_show(client_id, as_json):

    app = _app()
    with app.app_context():
        c = _require_client(client_id)
        data = _client_dict(c)
    _out(as_json, data, "\n".join(f"{k}: {v}" for k, v in data.items()))


@clients.command("add", help="Write clients/CLIENT_ID.toml and load it; prints a new secret once.")
@click.argument("client_id")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--region-code", default="")
@click.option("--purpose", default="")
@click.option("--auth-method", default="client_secret_basic", type=click.Choice(["client_secret_basic", "client_secret_post", "none"]))
@click.option("--scope", "scopes", multiple=True, default=["openid", "profile"])
@click.option("--refresh/--no-refresh", default=True, help="Allow the refresh_token grant.")
@click.option("--subject-type", metavar="pairwise|public", help="Default: the provider's default_subject_type.")
@click.option("--id-token-alg", metavar="ALG", help="ID token signing algorithm, one of the provider's signing_algs "
              "(default ES256).")
@click.option("--backchannel-logout-uri", metavar="URI", help="Back-Channel Logout 1.0 endpoint of the client.")
@click.option("--backchannel-logout-session-required/--no-backchannel-logout-session-required", default=None,
              help="The client requires `sid` in logout tokens (always sent).")
@click.option("--dpop-bound-access-tokens/--no-dpop-bound-access-tokens", default=None,
              help="RFC 9449 §5.2: issue tokens only with a DPoP proof.")
@click.option("--identity-assurance/--no-identity-assurance", default=None,
              help="May request OIDC4IDA verified_claims.")
@click.option("--document-type", "document_types", multiple=True, metavar="CODE",
              help="A document type it may request (scope doc:CODE); repeatable.")
@click.option("--document-file/--no-document-file", default=None, help="May also receive the document files.")
@click.option("--json", "as_json", is_flag=True)
def clients_add(client_id, name, redirect_uris, post_logout, region_code, purpose, auth_method, scopes, refresh,
                subject_type, id_token_alg, backchannel_logout_uri, backchannel_logout_session_required,
                dpop_bound_access_tokens, identity_assurance, document_types, document_file, as_json):
    from idp.oidc import clients as svc
    from idp.oidc.tomlwriter import dump_registration

    app = _app()
    path = config_mod.resolve_path(app.config["IDP"]["clients_dir"]) / f"{client_id}.toml"
    if path.exists():
        _fail(f"{path} exists")
    secret = None
    raw = {
        "client_id": client_id, "name": name, "region_code": region_code, "purpose": purpose,
        "redirect_uris": list(redirect_uris), "post_logout_redirect_uris": list(post_logout),
        "token_endpoint_auth_method": auth_method, "scopes": list(scopes),
        "grant_types": ["authorization_code"] + (["refresh_token"] if refresh else []),
    }
    # Only what was given goes into the file; validate_registration supplies the defaults.
    optional = {
        "subject_type": subject_type, "id_token_signed_response_alg": id_token_alg,
        "backchannel_logout_uri": backchannel_logout_uri,
        "backchannel_logout_session_required": backchannel_logout_session_required,
        "dpop_bound_access_tokens": dpop_bound_access_tokens, "identity_assurance": identity_assurance,
        "document_types": list(document_types) or None, "document_file": document_file,
    }
    raw.update({k: v for k, v in optional.items() if v is not None})
    if auth_method != "none":
        secret, raw["client_secret_hash"] = svc.new_secret()
    with app.app_context():
        try:
            svc.validate_registration(raw, str(path))
        except svc.RegistrationError as exc:
            _fail(str(exc), EXIT_USAGE)
        path.write_text(dump_registration(raw), encoding="utf-8")
        svc.sync([svc.Registration(str(path), svc.validate_registration(raw, str(path)))], actor="cli")
    _out(as_json, {"client_id": client_id, "client_secret": secret, "file": str(path)},
         f"added {client_id} ({path})" + (f"\nclient_secret (shown once): {secret}" if secret else ""))


@clients.command("rotate-secret", help="Issue a new client secret (shown once); the old one stops working.")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def clients_rotate_secret(client_id, as_json):
    from idp.audit.services import EventTag, record_event
    from idp.extensions import db
    from idp.oidc import clients as svc
    from idp.oidc.tomlwriter import set_field

    app = _app()
    with app.app_context():
        c = _require_client(client_id)
        if c.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            _fail(f"{client_id} does not authenticate with a secret")
        secret, hashed = svc.new_secret()
        if c.source and Path(c.source).exists():
            set_field(Path(c.source), "client_secret_hash", hashed)
        c.client_secret_hash = hashed
        record_event(EventTag.CLIENT_SECRET_ROTATED, actor="cli", client_id=client_id)
        db.session.commit()
        svc.invalidate_client_cache()
    _out(as_json, {"client_id": client_id, "client_secret": secret}, f"client_secret (shown once): {secret}")


@clients.command("disable", help="Disable a client: it can no longer sign anyone in or use tokens.")
@click.argument("client_id")
def clients_disable(client_id):
    from idp.audit.services import EventTag, record_event
    from idp.extensions import db
    from idp.oidc.tomlwriter import set_field

    app = _app()
    with app.app_context():
        c = _require_client(client_id)
        c.disabled = True
        if c.source and Path(c.source).exists():
            set_field(Path(c.source), "disabled", True)
        record_event(EventTag.CLIENT_DISABLED, actor="cli", client_id=client_id)
        db.session.commit()
        from idp.oidc.clients import invalidate_client_cache

        invalidate_client_cache()
    click.echo("disabled")


# -- keys -----------------------------------------------------------------------------------------
@main.group(help="Provider signing keys: states next (published standby), active (signing), retiring, revoked.")
def keys():
    pass


def _duration(value: str) -> int:
    """'90d', '12h', '30m', '45s' or plain seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        if value[-1:] in units:
            return int(value[:-1]) * units[value[-1]]
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use e.g. 90d, 12h, 30m or seconds") from None


def _key_dict(k) -> dict:
    return {"kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created_at, "activated_at": k.activated_at,
            "retire_after": k.retire_after, "revoked_at": k.revoked_at, "revoked_reason": k.revoked_reason}


def _lifecycle_call(fn, *args, **kwargs):
    from idp.keys import lifecycle

    try:
        return fn(*args, **kwargs)
    except lifecycle.UnknownKeyError as exc:
        _fail(f"no key {exc}")
    except (lifecycle.InvalidKeyError, lifecycle.StandbyNotReadyError, lifecycle.ConcurrentChangeError) as exc:
        _fail(str(exc))


@keys.command("list", help="List signing keys: kid, alg, state, created, activated, retire-after.")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json):
    from idp.keys import store

    app = _app()
    with app.app_context():
        rows = [_key_dict(k) for k in store.list_keys()]
    _out(as_json, rows, "\n".join(
        f"{r['kid']}  {r['alg']:<6} {r['state']:<9} created {r['created_at']}"
        + (f" activated {r['activated_at']}" if r["activated_at"] else "")
        + (f" retire-after {r['retire_after']}" if r["retire_after"] else "")
        for r in rows
    ) or "(no keys)")


@keys.command("generate", help="Generate a standby key (published, not signing until a rotation).")
@click.option("--alg", required=True, type=click.Choice(["ES256", "RS256", "PS256", "EdDSA"]))
@click.option("--json", "as_json", is_flag=True)
def keys_generate(alg, as_json):
    from idp.keys import lifecycle

    app = _app()
    with app.app_context():
        row = _lifecycle_call(lifecycle.generate, alg, actor="cli")
        data = _key_dict(row)
    _out(as_json, data, f"generated {data['kid']} ({alg}, standby)")


@keys.command("rotate", help="Activate the standby key; the old key retires; a new standby is published. "
              "Safe from cron on every node: at most one rotation happens.")
@click.option("--alg", type=click.Choice(["ES256", "RS256", "PS256", "EdDSA"]), multiple=True, help="Default: every configured algorithm.")
@click.option("--if-older-than", "older", help="Only if the active key is older than this (e.g. 90d).")
@click.option("--force", is_flag=True, help="Emergency: activate a standby younger than the pre-publication window.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(alg, older, force, as_json):
    from idp.keys import lifecycle, store

    threshold = _duration(older) if older else None
    app = _app()
    results = {}
    failed = False
    with app.app_context():
        for a in alg or store.configured_algs():
            try:
                results[a] = {"activated": lifecycle.rotate(a, actor="cli", if_older_than=threshold, force=force).kid}
            except lifecycle.NotDueError:
                results[a] = {"skipped": "not due"}
            except lifecycle.ConcurrentChangeError:
                results[a] = {"skipped": "rotated by another node at the same time"}
            except lifecycle.StandbyNotReadyError as exc:
                results[a] = {"error": str(exc)}
                failed = True
    _out(as_json, results, "\n".join(f"{a}: {', '.join(f'{k} {v}' for k, v in r.items())}" for a, r in results.items()))
    if failed:
        sys.exit(EXIT_FAILED)


@keys.command("retire", help="Stop publishing a standby or retiring key.")
@click.argument("kid")
def keys_retire(kid):
    from idp.keys import lifecycle

    app = _app()
    with app.app_context():
        _lifecycle_call(lifecycle.retire, kid, actor="cli")
    click.echo(f"retired {kid}")


@keys.command("revoke", help="Compromised key: out of the JWKS at once; if active, the standby signs from now on. "
              "A kid may start with '-': put options first and '--' before it (keys revoke --reason R -- KID).")
@click.argument("kid")
@click.option("--reason", required=True)
@click.option("--json", "as_json", is_flag=True)
def keys_revoke(kid, reason, as_json):
    from idp.keys import lifecycle

    app = _app()
    with app.app_context():
        row = _lifecycle_call(lifecycle.revoke, kid, actor="cli", reason=reason)
        data = _key_dict(row)
    _out(as_json, data, f"revoked {kid}")


@keys.command("export-jwks", help="Print the public JWK Set relying parties should accept now.")
def keys_export_jwks():
    from idp.keys import store

    app = _app()
    with app.app_context():
        click.echo(json.dumps(store.public_jwks(), indent=2))


@keys.command("import", help="Import a private key (PEM or JWK file) as a standby key.")
@click.argument("path", type=click.File("r"))
@click.option("--alg", required=True, type=click.Choice(["ES256", "RS256", "PS256", "EdDSA"]))
@click.option("--json", "as_json", is_flag=True)
def keys_import(path, alg, as_json):
    from idp.keys import lifecycle

    app = _app()
    with app.app_context():
        row = _lifecycle_call(lifecycle.import_private_key, path.read(), alg, actor="cli")
        data = _key_dict(row)
    _out(as_json, data, f"imported {data['kid']} ({alg}, standby)")


@keys.command("rewrap", help="Re-encrypt private keys and NIKs under the current KEK (after installing a new "
              "KEK with the old one as kek_previous on every node).")
@click.option("--json", "as_json", is_flag=True)
def keys_rewrap(as_json):
    from idp.keys import lifecycle

    app = _app()
    if "kek_previous" not in app.extensions["idp_secrets"]:
        click.echo("note: no kek_previous configured; only values not under the current KEK would fail", err=True)

    def progress(last_id, count):
        if not as_json:
            click.echo(f"  people up to id {last_id}: {count} values rewrapped so far", err=True)

    with app.app_context():
        count = lifecycle.rewrap(actor="cli", progress=progress)
    _out(as_json, {"rewrapped": count}, f"rewrapped {count} value(s)")


main.add_command(registry_group)
main.add_command(officers_group)
main.add_command(backchannel_group)
main.add_command(privacy_group)
main.add_command(documents_group)

if __name__ == "__main__":
    main()
