"""Discovery and JWKS (T16, T28)."""

from tests.conftest import ISSUER


def test_T28_discovery_document(client):
    resp = client.get("/.well-known/openid-configuration")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    meta = resp.get_json()
    assert meta["issuer"] == ISSUER
    for key, value in meta.items():
        if key.endswith("_endpoint") or key == "jwks_uri":
            assert value.startswith(ISSUER + "/"), key
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    for key, value in meta.items():
        if key.endswith("alg_values_supported"):
            assert "none" not in value, key
    assert {"openid", "offline_access", "nik"} <= set(meta["scopes_supported"])
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert meta["claims_parameter_supported"] is True
    assert set(meta["ui_locales_supported"]) == {"id", "en"}


def test_T28_jwks_public_only(client):
    resp = client.get("/jwks")
    assert resp.status_code == 200 and "max-age" in resp.headers["Cache-Control"]
    keys = resp.get_json()["keys"]
    kids = [k["kid"] for k in keys]
    # an active and a pre-published standby key per algorithm
    assert len(kids) == len(set(kids)) == 4
    for k in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k)
        if k["kty"] == "EC":
            assert k["crv"] == "P-256" and k["alg"] == "ES256"
        else:
            assert k["kty"] == "RSA" and k["alg"] == "RS256"
            import base64

            n = base64.urlsafe_b64decode(k["n"] + "==")
            assert len(n) * 8 >= 2048


def test_keys_encrypted_at_rest(app):
    from idp.extensions import db
    from idp.keys.models import SigningKey

    with app.app_context():
        for row in db.session.query(SigningKey):
            assert b'"d"' not in row.private_encrypted and b"PRIVATE" not in row.private_encrypted


def test_health_and_metrics(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    client.get("/.well-known/openid-configuration")
    body = client.get("/metrics").get_data(as_text=True)
    assert "idp_http_requests_total" in body


def test_fast_path_answers_like_flask(app, client):
    """Discovery and JWKS skip Flask; their headers must match what Flask would send."""
    fast = client.get("/.well-known/openid-configuration")
    with app.test_request_context():
        from flask import current_app

        slow = current_app.test_client().get("/.well-known/openid-configuration")  # same app: fast path too
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                 "Strict-Transport-Security", "Cache-Control", "Access-Control-Allow-Origin", "Content-Type"):
        assert fast.headers.get(name), name
    assert fast.get_json() == slow.get_json()
    head = client.head("/jwks")
    assert head.status_code == 200 and head.data == b""
    # a stale key cache falls through to Flask, which reloads it
    app.extensions["idp_key_cache"].loaded_at = -10**9
    assert len(client.get("/jwks").get_json()["keys"]) == 4
