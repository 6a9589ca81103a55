"""Interop: an independent, OpenID Certified relying-party library (Node `openid-client`
v6 by panva, pinned in node/package-lock.json) against a real gunicorn-served provider.

One run of node/rp.mjs does discovery, the code flow with PKCE S256 + state + nonce,
ID token validation (signature via JWKS, iss, aud, azp, exp, nonce; at_hash checked by
the script), UserInfo, refresh, revocation (RFC 7009), RP-initiated logout and a
prompt=none request after it; with a client_secret_basic client (ES256 ID tokens,
pairwise sub) and a private_key_jwt client (RS256 ID tokens, public sub); then DPoP
(RFC 9449) with a public client registered `dpop_bound_access_tokens`: dpop_jkt, bound
code exchange, UserInfo with and without the key, bound refresh. The script
prints one JSON line per step; the tests below assert on them, one test per step.

Needs `node` and `npm ci` in tests/interop/node (scripts/test.sh does that).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from tests import live

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).resolve().parent / "node"
NIK = "3174010101900123"
NAME = "Siti Interop Rahayu"
REDIRECT_BASIC = "http://127.0.0.1:9/cb-basic"
REDIRECT_PKJWT = "http://127.0.0.1:9/cb-pkjwt"
POST_LOGOUT = "http://127.0.0.1:9/logged-out"
REDIRECT_DPOP = "http://127.0.0.1:9/cb-dpop"
BASIC_ID = "interop-basic"
PKJWT_ID = "interop-pkjwt"
DPOP_ID = "interop-dpop"


def _toml_value(value) -> str:
    """TOML for str / list / dict values (JSON strings of ASCII are TOML basic strings)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, str) and value.isascii()
    return json.dumps(value)


def _write_client(directory: Path, fields: dict) -> None:
    text = "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items())
    (directory / f"{fields['client_id']}.toml").write_text(text, encoding="utf-8")


def _common(client_id: str, redirect_uri: str) -> dict:
    return {
        "client_id": client_id,
        "name": f"Interop RP {client_id}",
        "region_code": "31.74",
        "purpose": "Uji interoperabilitas dengan openid-client.",
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile"],
    }


def _node_ready() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (the interop test needs Node.js >= 20)"
    if not (NODE_DIR / "node_modules" / "openid-client" / "package.json").exists():
        return "openid-client is not installed: run `npm ci` in tests/interop/node (scripts/test.sh does)"
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Start the provider, register two clients and a citizen, run rp.mjs once.

    Returns (steps by name, context)."""
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("interop")
    clients_dir = base / "clients"
    clients_dir.mkdir()

    secret = secrets.token_urlsafe(32)
    _write_client(clients_dir, {
        **_common(BASIC_ID, REDIRECT_BASIC),
        "token_endpoint_auth_method": "client_secret_basic",
        "client_secret_hash": "sha256:" + hashlib.sha256(secret.encode()).hexdigest(),
        "subject_type": "pairwise",
        "sector_identifier": "interop-basic.example",
        "id_token_signed_response_alg": "ES256",
    })
    key = ECKey.generate_key(
        "P-256", parameters={"kid": "rp-" + secrets.token_hex(4), "alg": "ES256", "use": "sig"}, private=True
    )
    _write_client(clients_dir, {
        **_common(PKJWT_ID, REDIRECT_PKJWT),
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]},
        "subject_type": "public",
        "id_token_signed_response_alg": "RS256",
    })

    _write_client(clients_dir, {
        **_common(DPOP_ID, REDIRECT_DPOP),
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
        "id_token_signed_response_alg": "ES256",
    })

    server = live.start(base / "server", clients_dir)
    try:
        password = "Interop-" + secrets.token_urlsafe(12)
        created = server.idp(
            "users", "create", "--nik", NIK, "--name", NAME, "--birthdate", "1990-01-01", "--password-stdin",
            input=password + "\n",
        )
        assert created.returncode == 0, created.stderr
        config = {
            "issuer": server.url,
            "citizen": {"nik": NIK, "password": password},
            "basic": {
                "client_id": BASIC_ID, "client_secret": secret, "redirect_uri": REDIRECT_BASIC,
                "post_logout_redirect_uri": POST_LOGOUT, "alg": "ES256",
            },
            "pkjwt": {
                "client_id": PKJWT_ID, "private_jwk": key.as_dict(private=True), "redirect_uri": REDIRECT_PKJWT,
                "alg": "RS256",
            },
            "dpop": {"client_id": DPOP_ID, "redirect_uri": REDIRECT_DPOP, "alg": "ES256"},
        }
        proc = subprocess.run(check=False, args=
            ["node", "rp.mjs"], cwd=NODE_DIR, env={**os.environ, "RP_CONFIG": json.dumps(config)},
            capture_output=True, text=True, timeout=45,
        )
    finally:
        server.stop()
    steps = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            steps[entry["step"]] = entry
    log = (base / "server" / "gunicorn.log").read_text(errors="replace")[-3000:]
    return steps, {"issuer": server.url, "proc": proc, "log": log}


def step(run, name: str) -> dict:
    steps, ctx = run
    entry = steps.get(name)
    proc = ctx["proc"]
    detail = f"\nrp.mjs exit {proc.returncode}\nstderr:\n{proc.stderr[-3000:]}\ngunicorn log:\n{ctx['log']}"
    if entry is None:
        pytest.fail(f"rp.mjs did not reach step {name!r}{detail}")
    assert entry["ok"], f"step {name!r} failed: {json.dumps(entry.get('error'), indent=1)}{detail}"
    return entry


def _check_id_token(s: dict, issuer: str, client_id: str, alg: str) -> dict:
    """Claims openid-client does not insist on, or that we want to see exactly."""
    assert s["has_id_token"]
    header, claims = s["id_token_header"], s["id_token_claims"]
    assert header["alg"] == alg and header.get("kid")
    assert claims["iss"] == issuer
    assert claims["aud"] == client_id or claims["aud"] == [client_id]
    assert claims.get("azp", client_id) == client_id
    assert isinstance(claims["sub"], str) and claims["sub"]
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"] < claims["exp"]
    assert claims.get("acr"), "acr missing"
    assert claims.get("sid"), "sid missing"
    assert "pwd" in claims.get("amr", [])
    # OIDC Core §3.1.3.6: at_hash = left half of SHA-256 of the access token (ES256/RS256).
    assert claims.get("at_hash") and claims["at_hash"] == s["at_hash_expected"]
    assert s["token_type"].lower() == "bearer"
    assert "openid" in s["scope"].split()
    return claims


# -- tests, in the order rp.mjs runs the steps ------------------------------------------------
def test_discovery(run):
    s = step(run, "discovery")
    issuer = run[1]["issuer"]
    assert s["issuer"] == issuer
    for ep in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
               "revocation_endpoint", "end_session_endpoint"):
        assert s[ep].startswith(issuer + "/"), ep
    assert s["supports_pkce"] and "S256" in s["code_challenge_methods_supported"]
    assert {"client_secret_basic", "private_key_jwt"} <= set(s["token_endpoint_auth_methods_supported"])
    assert s["authorization_response_iss_parameter_supported"] is True


def test_code_flow_client_secret_basic(run):
    s = step(run, "basic_code_flow")
    issuer = run[1]["issuer"]
    assert s["pages"] == ["login", "consent"]
    sent = s["auth_request_params"]
    assert sent["code_challenge_method"] == "S256" and sent["state"] and sent["nonce"]
    assert s["final_redirect_status"] in (302, 303)
    assert s["callback_origin_path"] == REDIRECT_BASIC
    assert s["callback_params"] == ["code", "iss", "state"]
    assert s["callback_iss"] == issuer  # RFC 9207
    assert s["state_echoed"]
    claims = _check_id_token(s, issuer, BASIC_ID, "ES256")
    assert claims["nonce"] == s["sent_nonce"]
    assert s["has_refresh_token"]
    # The signature was checked against the provider's JWKS (enableNonRepudiationChecks).
    assert s["id_token_header"]["kid"] in s["jwks_cache_kids"]


def test_userinfo(run):
    flow = step(run, "basic_code_flow")
    s = step(run, "basic_userinfo")
    assert s["body"]["sub"] == flow["id_token_claims"]["sub"]
    assert s["body"]["name"] == NAME
    assert s["body"].get("birthdate") == "1990-01-01"


def test_refresh_client_secret_basic(run):
    flow = step(run, "basic_code_flow")
    s = step(run, "basic_refresh")
    assert s["has_access_token"] and s["access_token_changed"]
    original = flow["id_token_claims"]
    claims = _check_id_token(s, run[1]["issuer"], BASIC_ID, "ES256")
    # OIDC Core §12.2: same iss, sub, aud, azp; auth_time of the original authentication.
    assert claims["sub"] == original["sub"]
    assert claims["auth_time"] == original["auth_time"]
    assert claims.get("nonce") in (None, original["nonce"])
    ui = step(run, "basic_userinfo_after_refresh")
    assert ui["status"] == 200 and ui["body"]["sub"] == original["sub"]


def test_revoked_access_token_is_refused_at_userinfo(run):
    s = step(run, "basic_revoke_access_token")
    after = s["userinfo_after"]
    assert after["status"] == 401, after
    assert after["challenge_error"] == "invalid_token", after
    step(run, "basic_revoke_unknown_token")  # RFC 7009 §2.2: 200 for an unknown token


def test_code_flow_private_key_jwt_reuses_sso_session(run):
    basic = step(run, "basic_code_flow")
    s = step(run, "pkjwt_code_flow")
    issuer = run[1]["issuer"]
    assert s["pages"] == ["consent"]  # signed in already: consent for the new client only
    assert s["callback_iss"] == issuer and s["state_echoed"]
    claims = _check_id_token(s, issuer, PKJWT_ID, "RS256")
    assert claims["nonce"] == s["sent_nonce"]
    assert claims["sid"] == basic["id_token_claims"]["sid"]
    assert claims["auth_time"] == basic["id_token_claims"]["auth_time"]
    # public sub here, pairwise sub for the other client: they must differ.
    assert claims["sub"] != basic["id_token_claims"]["sub"]
    assert s["id_token_header"]["kid"] in s["jwks_cache_kids"]


def test_refresh_private_key_jwt(run):
    flow = step(run, "pkjwt_code_flow")
    s = step(run, "pkjwt_refresh")
    claims = _check_id_token(s, run[1]["issuer"], PKJWT_ID, "RS256")
    assert claims["sub"] == flow["id_token_claims"]["sub"]
    assert s["userinfo"]["status"] == 200 and s["userinfo"]["body"]["sub"] == claims["sub"]


def test_wrong_client_credentials_are_refused(run):
    s = step(run, "client_auth_negative")
    for case in ("wrong_secret", "wrong_private_key"):
        err = s[case]
        assert err is not None, f"{case}: the token endpoint accepted it"
        assert err.get("error") == "invalid_client", (case, err)
    # RFC 6749 §5.2: 401 when the client authenticated with the Authorization header;
    # for a client assertion in the body, 400 or 401.
    assert s["wrong_secret"]["status"] == 401
    assert s["wrong_private_key"]["status"] in (400, 401)


def test_revoked_refresh_token(run):
    s = step(run, "pkjwt_revoke_refresh_token")
    err = s["refresh_after_revoke_error"]
    assert err is not None and err.get("error") == "invalid_grant", err
    # RFC 7009 §2.1: the access tokens of the same grant go too.
    assert s["userinfo_status_after"] == 401


def test_rp_initiated_logout(run):
    s = step(run, "logout")
    assert {"id_token_hint", "post_logout_redirect_uri", "state", "client_id"} <= set(s["end_session_params"])
    assert s["redirected"], f"no redirect to the post_logout_redirect_uri: {s['page']}"
    assert s["status"] in (302, 303)
    assert s["location"] == POST_LOGOUT
    assert s["state_echoed"] and set(s["location_params"]) == {"state"}
    assert "satuakun" in s["cookies_before"] and "satuakun" not in s["cookies_after"]


def test_prompt_none_after_logout_is_login_required(run):
    s = step(run, "prompt_none_after_logout")
    issuer = run[1]["issuer"]
    assert s["location"] == REDIRECT_BASIC
    assert s["params"]["error"] == "login_required", s["params"]
    assert s["params"]["iss"] == issuer
    assert s["state_echoed"]
    # openid-client checked state and iss, then surfaced the error response.
    err = s["library_error"]
    assert err and err["name"] == "AuthorizationResponseError" and err["error"] == "login_required", err


# -- DPoP (RFC 9449) through openid-client's own DPoP support ---------------------------------------
def test_dpop_code_flow_binds_tokens(run):
    s = step(run, "dpop_code_flow")
    assert "ES256" in s["dpop_signing_alg_values_supported"]
    assert s["token_type"].lower() == "dpop" and s["has_refresh_token"] and s["has_id_token"]
    assert s["id_token_claims"]["aud"] in (DPOP_ID, [DPOP_ID])


def test_dpop_userinfo_needs_the_key(run):
    s = step(run, "dpop_userinfo")
    assert s["body"]["sub"]
    stolen = s["stolen"]
    assert stolen["status"] == 401 and stolen["www_authenticate"].startswith("DPoP ")
    assert 'error="invalid_token"' in stolen["www_authenticate"]
    other = s["other_key"]
    assert other["status"] == 401 and 'error="invalid_token"' in (other["www_authenticate"] or "")


def test_dpop_refresh_is_bound_for_a_public_client(run):
    s = step(run, "dpop_refresh")
    assert s["token_type"].lower() == "dpop" and s["userinfo_sub"]
    # This client is registered with dpop_bound_access_tokens: no proof, no tokens (§5.2, T24).
    err = s["refresh_without_key_error"]
    assert err is not None and err.get("error") == "invalid_request", err


def test_rp_script_completed(run):
    step(run, "done")
    assert run[1]["proc"].returncode == 0
