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
