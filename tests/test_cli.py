"""Operator CLI: --help everywhere, exit codes, --json output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from idp import cli
from tests.conftest import PASSWORD, new_nik

IDP = str(Path(sys.executable).parent / "idp")

COMMANDS = [
    [], ["init"], ["serve"], ["users"], ["users", "create"], ["users", "show"], ["users", "lock"], ["users", "unlock"],
    ["clients"], ["clients", "sync"], ["clients", "list"], ["clients", "show"], ["clients", "add"],
    ["clients", "rotate-secret"], ["clients", "disable"], ["keys"], ["keys", "list"], ["keys", "rotate"], ["purge"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "idp")
def test_every_command_has_help(args):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_init_from_scratch_creates_db_secrets_keys(tmp_path):
    config = tmp_path / "idp.toml"
    config.write_text(f'issuer = "https://idp.example"\ndatabase_url = "sqlite:///{tmp_path}/db.sqlite3"\nkeys_dir = "{tmp_path}/keys"\n')
    env = {"IDP_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(check=False, args=[IDP, "init", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert sorted(out["secrets_created"]) == ["kek", "nik_index", "pairwise", "session"]
    assert len(out["keys_created"]) == 4  # active + standby for ES256 and RS256
    for f in (tmp_path / "keys").iterdir():
        assert f.stat().st_mode & 0o777 == 0o600
    again = json.loads(subprocess.run(check=False, args=[IDP, "init", "--json"], env=env, capture_output=True, text=True, timeout=120).stdout)
    assert again == {"secrets_created": [], "keys_created": []}
    bad = subprocess.run(check=False, args=[IDP, "init"], env={**env, "IDP_CONFIG": str(tmp_path / "missing.toml")}, capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_users_lifecycle(runner, app):
    nik = new_nik()
    r = runner.invoke(cli.main, ["users", "create", "--nik", nik, "--name", "Ani", "--birthdate", "1990-01-01", "--password-stdin", "--json"], input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["nik"] != nik and data["nik"].endswith(nik[-4:])  # masked
    dup = runner.invoke(cli.main, ["users", "create", "--nik", nik, "--name", "Ani", "--birthdate", "1990-01-01"])
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad = runner.invoke(cli.main, ["users", "create", "--nik", "123", "--name", "Ani", "--birthdate", "1991-02-03"])
    assert bad.exit_code == 2
    short = runner.invoke(cli.main, ["users", "create", "--nik", new_nik(), "--name", "A", "--birthdate", "1991-02-03", "--password-stdin"], input="short\n")
    assert short.exit_code == 2
    assert json.loads(runner.invoke(cli.main, ["users", "show", "--nik", nik, "--json"]).output)["locked"] is False
    assert runner.invoke(cli.main, ["users", "lock", "--nik", nik]).exit_code == 0
    assert json.loads(runner.invoke(cli.main, ["users", "show", "--nik", nik, "--json"]).output)["locked"] is True
    assert runner.invoke(cli.main, ["users", "unlock", "--nik", nik]).exit_code == 0
    missing = runner.invoke(cli.main, ["users", "show", "--nik", new_nik()])
    assert missing.exit_code == 1


def test_clients_add_rotate_disable(runner, app, tmp_path):
    from idp.oidc import clients

    cdir = tmp_path / "clients"
    cdir.mkdir()
    app.config["IDP"]["clients_dir"]
    cfg_path = Path(runner.env["IDP_CONFIG"])
    cfg_path.write_text(cfg_path.read_text().replace(f'clients_dir = "{app.config["IDP"]["clients_dir"]}"', f'clients_dir = "{cdir}"'))
    r = runner.invoke(cli.main, ["clients", "add", "mpp-kota-y", "--name", "MPP Kota Y", "--redirect-uri", "https://y.go.id/cb", "--json"])
    assert r.exit_code == 0, r.output
    secret = json.loads(r.output)["client_secret"]
    text = (cdir / "mpp-kota-y.toml").read_text()
    assert secret not in text and "client_secret_hash" in text
    with app.app_context():
        assert clients.get_client("mpp-kota-y").check_client_secret(secret)
    rot = json.loads(runner.invoke(cli.main, ["clients", "rotate-secret", "mpp-kota-y", "--json"]).output)
    with app.app_context():
        c = clients.get_client("mpp-kota-y")
        assert c.check_client_secret(rot["client_secret"]) and not c.check_client_secret(secret)
    # the file and the database agree: re-syncing keeps the new secret
    assert runner.invoke(cli.main, ["clients", "sync", str(cdir)]).exit_code == 0
    with app.app_context():
        assert clients.get_client("mpp-kota-y").check_client_secret(rot["client_secret"])
    listed = json.loads(runner.invoke(cli.main, ["clients", "list", "--json"]).output)
    assert [c["client_id"] for c in listed] == ["mpp-kota-y"]
    assert runner.invoke(cli.main, ["clients", "disable", "mpp-kota-y"]).exit_code == 0
    with app.app_context():
        assert clients.get_client("mpp-kota-y") is None
    assert runner.invoke(cli.main, ["clients", "show", "nope"]).exit_code == 1


def test_purge_deletes_only_expired(runner, app, flow, person):
    from idp import clock

    tok = flow.token(flow.run(person.nik)["code"]).get_json()
    first = json.loads(runner.invoke(cli.main, ["purge", "--json"]).output)
    assert first["access tokens"] == 0 and first["authorization codes"] == 0
    assert flow.http.get("/userinfo", headers={"Authorization": "Bearer " + tok["access_token"]}).status_code == 200
    clock.advance(2 * 86400)
    later = json.loads(runner.invoke(cli.main, ["purge", "--json"]).output)
    assert later["access tokens"] == 1 and later["authorization codes"] == 1 and later["interactions"] == 1


def _clients_dir(runner, app, tmp_path) -> Path:
    """Point the runner's configuration at an empty clients directory."""
    cdir = tmp_path / "clients"
    cdir.mkdir()
    cfg_path = Path(runner.env["IDP_CONFIG"])
    cfg_path.write_text(cfg_path.read_text().replace(f'clients_dir = "{app.config["IDP"]["clients_dir"]}"', f'clients_dir = "{cdir}"'))
    return cdir


REGISTRATION_OPTIONS = [
    "--subject-type", "public", "--id-token-alg", "RS256",
    "--backchannel-logout-uri", "https://rp.example.go.id/bc", "--backchannel-logout-session-required",
    "--dpop-bound-access-tokens", "--identity-assurance",
    "--document-type", "kk", "--document-type", "ktp", "--document-file",
]
REGISTRATION_FIELDS = {
    "subject_type": "public", "id_token_signed_response_alg": "RS256",
    "backchannel_logout_uri": "https://rp.example.go.id/bc", "backchannel_logout_session_required": True,
    "dpop_bound_access_tokens": True, "identity_assurance": True, "document_types": ["kk", "ktp"], "document_file": True,
}


def test_clients_add_sets_every_registration_field(runner, app, tmp_path):
    import tomllib

    from idp.oidc import clients

    cdir = _clients_dir(runner, app, tmp_path)
    r = runner.invoke(cli.main, ["clients", "add", "rp-lengkap", "--name", "RP", "--redirect-uri", "https://rp.example.go.id/cb",
                                 *REGISTRATION_OPTIONS, "--json"])
    assert r.exit_code == 0, r.output
    written = tomllib.loads((cdir / "rp-lengkap.toml").read_text())
    assert {k: written[k] for k in REGISTRATION_FIELDS} == REGISTRATION_FIELDS
    shown = json.loads(runner.invoke(cli.main, ["clients", "show", "rp-lengkap", "--json"]).output)
    assert {k: shown[k] for k in REGISTRATION_FIELDS} == REGISTRATION_FIELDS
    assert {"doc:kk", "doc:ktp"} <= set(shown["scopes"])
    text = runner.invoke(cli.main, ["clients", "show", "rp-lengkap"]).output
    assert "dpop_bound_access_tokens: True" in text and "backchannel_logout_uri: https://rp.example.go.id/bc" in text
    with app.app_context():
        c = clients.get_client("rp-lengkap")
        assert {k: getattr(c, k) for k in REGISTRATION_FIELDS} == REGISTRATION_FIELDS
    # the file alone gives the same registration
    assert runner.invoke(cli.main, ["clients", "sync", str(cdir)]).exit_code == 0
    assert json.loads(runner.invoke(cli.main, ["clients", "show", "rp-lengkap", "--json"]).output) == shown


def test_clients_add_defaults_and_explicit_off(runner, app, tmp_path):
    cdir = _clients_dir(runner, app, tmp_path)
    r = runner.invoke(cli.main, ["clients", "add", "rp-biasa", "--name", "RP", "--redirect-uri", "https://rp.example.go.id/cb",
                                 "--no-dpop-bound-access-tokens"])
    assert r.exit_code == 0, r.output
    text = (cdir / "rp-biasa.toml").read_text()
    assert "dpop_bound_access_tokens = false" in text
    assert "subject_type" not in text and "document" not in text and "backchannel" not in text
    shown = json.loads(runner.invoke(cli.main, ["clients", "show", "rp-biasa", "--json"]).output)
    assert shown["subject_type"] == app.config["IDP"]["default_subject_type"]
    assert shown["id_token_signed_response_alg"] == "ES256"
    assert shown["document_types"] == [] and shown["backchannel_logout_uri"] is None
    assert not any(shown[k] for k in ("dpop_bound_access_tokens", "identity_assurance", "document_file",
                                      "backchannel_logout_session_required"))


@pytest.mark.parametrize(
    "options,field",
    [
        (["--subject-type", "sideways"], "subject_type"),
        (["--id-token-alg", "HS256"], "id_token_signed_response_alg"),
        (["--id-token-alg", "PS256"], "id_token_signed_response_alg"),  # not in the provider's signing_algs
        (["--backchannel-logout-uri", "http://rp.example.go.id/bc"], "backchannel_logout_uri"),
        (["--backchannel-logout-uri", ""], "backchannel_logout_uri"),
        (["--document-type", "library_card"], "document_types"),
        (["--document-file"], "document_file"),
    ],
)
def test_clients_add_rejects_bad_registration_fields(runner, app, tmp_path, options, field):
    from idp.oidc import clients

    cdir = _clients_dir(runner, app, tmp_path)
    r = runner.invoke(cli.main, ["clients", "add", "rp-salah", "--name", "RP", "--redirect-uri", "https://rp.example.go.id/cb",
                                 *options])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {cdir / 'rp-salah.toml'}: {field}: ")
    assert list(cdir.iterdir()) == []
    with app.app_context():
        assert clients.get_client("rp-salah") is None


def test_registration_writer_refuses_a_field_it_would_drop():
    from idp.oidc.tomlwriter import dump_registration

    with pytest.raises(ValueError, match="jwks"):
        dump_registration({"client_id": "rp", "jwks": {"keys": []}})
