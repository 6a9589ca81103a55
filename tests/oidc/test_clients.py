"""Client registrations: strict validation, all-or-nothing sync (file, field, reason)."""

import pytest

from idp.oidc import clients
from tests.conftest import ROOT

GOOD = {
    "client_id": "mpp-kota-x",
    "name": "MPP Kota X",
    "redirect_uris": ["https://mpp.kotax.go.id/cb"],
    "client_secret_hash": "sha256:" + "a" * 64,
}


@pytest.mark.parametrize(
    "change,field",
    [
        ({"client_id": "Bad Id"}, "client_id"),
        ({"name": ""}, "name"),
        ({"redirect_uris": ["http://mpp.kotax.go.id/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://mpp.kotax.go.id/cb#x"]}, "redirect_uris"),
        ({"redirect_uris": "https://mpp.kotax.go.id/cb"}, "redirect_uris"),
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method"),
        ({"client_secret_hash": "plaintext-secret"}, "client_secret_hash"),
        ({"grant_types": ["implicit"]}, "grant_types"),
        ({"scopes": ["profile"]}, "scopes"),
        ({"claims": ["nik"]}, "claims"),
        ({"subject_type": "random"}, "subject_type"),
        ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
        ({"client_secret": "x"}, "client_secret"),
        ({"token_endpoint_auth_method": "private_key_jwt", "client_secret_hash": None, "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]}}, "jwks"),
        ({"redirect_uris": ["https://a.go.id/cb", "https://b.go.id/cb"]}, "sector_identifier"),
    ],
)
def test_bad_registration_names_field(change, field):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(clients.RegistrationError) as exc:
        clients.validate_registration(data, "clients/mpp-kota-x.toml")
    assert exc.value.field == field and "clients/mpp-kota-x.toml" in str(exc.value)


def test_loopback_http_allowed_and_defaults():
    data = clients.validate_registration({**GOOD, "redirect_uris": ["http://127.0.0.1:8080/cb"]}, "x.toml")
    assert data["subject_type"] == "pairwise" and data["sector_identifier"] == "127.0.0.1"
    assert data["grant_types"] == ["authorization_code"]


def test_repo_clients_are_valid():
    regs = clients.read_directory(ROOT / "clients")
    assert "mpp-kabupaten-contoh" in {r.data["client_id"] for r in regs}


def test_sync_is_all_or_nothing(runner, app, tmp_path):
    (tmp_path / "good-one.toml").write_text('client_id = "good-one"\nname = "Good"\nredirect_uris = ["https://g.go.id/cb"]\n'
                                             'token_endpoint_auth_method = "none"\n')
    (tmp_path / "zz-bad.toml").write_text('client_id = "zz-bad"\nname = "Bad"\nredirect_uris = ["http://evil/cb"]\n')
    from idp.cli import clients_sync

    result = runner.invoke(clients_sync, [str(tmp_path)])
    assert result.exit_code == 1
    assert "zz-bad.toml: redirect_uris:" in result.output
    with app.app_context():
        assert clients.get_client("good-one") is None


def test_file_name_must_match_client_id(tmp_path):
    (tmp_path / "other.toml").write_text('client_id = "good-one"\nname = "Good"\nredirect_uris = ["https://g.go.id/cb"]\n'
                                         'token_endpoint_auth_method = "none"\n')
    with pytest.raises(clients.RegistrationError, match="file name"):
        clients.read_directory(tmp_path)


def test_disabled_client_cannot_authorize(client, register_client, flow):
    register_client("rp-test", disabled=True)
    assert flow.authorize().status_code == 400


def test_logo_loaded_and_served(client, app):
    from idp.oidc import clients as svc

    with app.app_context():
        regs = svc.read_directory(ROOT / "clients")
        svc.sync(regs, actor="test")
    resp = client.get("/clients/mpp-kabupaten-contoh/logo.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data.startswith(b"\x89PNG")
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert client.get("/clients/nope/logo.png").status_code == 404


@pytest.mark.parametrize("logo,reason", [("../../etc/passwd", "inside"), ("missing.png", "cannot read"), ("bad.png", "PNG")])
def test_bad_logo(tmp_path, logo, reason):
    (tmp_path / "bad.png").write_bytes(b"<svg onload=alert(1)>")
    with pytest.raises(clients.RegistrationError, match=reason):
        clients.validate_registration({**GOOD, "logo": logo}, str(tmp_path / "mpp-kota-x.toml"))
