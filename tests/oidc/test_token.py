"""Token endpoint, UserInfo, revocation, introspection: as an RP sees them."""

from __future__ import annotations

import base64
import threading
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from idp import clock
from tests.conftest import ISSUER, Flow


def _basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _userinfo(http, at):
    return http.get("/userinfo", headers={"Authorization": "Bearer " + at})


def _code(flow, person, **kw):
    return flow.run(person.nik, **kw)["code"]


def _jwks(http):
    return KeySet.import_key_set(http.get("/jwks").get_json())


def test_token_response_shape_and_headers(flow, person):
    resp = flow.token(_code(flow, person))
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert {"access_token", "id_token", "refresh_token", "scope"} <= set(body)


def test_T32_id_token_claims(flow, person, rp):
    c = rp[0]
    result = flow.run(person.nik, nonce="nonce-123")
    body = flow.token(result["code"]).get_json()
    token = jwt.decode(body["id_token"], _jwks(flow.http))
    h, claims = token.header, token.claims
    assert h["alg"] == "ES256" and h["kid"] in {k["kid"] for k in flow.http.get("/jwks").get_json()["keys"]}
    assert claims["iss"] == ISSUER and claims["aud"] == c.client_id and claims["azp"] == c.client_id
    assert claims["nonce"] == "nonce-123"
    assert claims["exp"] - claims["iat"] <= 300
    assert {"auth_time", "acr", "amr", "sid", "at_hash", "sub"} <= set(claims)
    assert claims["amr"] == ["pwd"]
    from authlib.oidc.core.util import create_half_hash

    assert claims["at_hash"] == create_half_hash(body["access_token"], "ES256").decode()
    # §5.4: scope claims go to UserInfo, not the ID token
    assert "name" not in claims


def test_rs256_for_clients_that_register_it(client, register_client, person):
    c, secret = register_client("rp-rsa", id_token_signed_response_alg="RS256")
    f = Flow(client, c, secret)
    body = f.token(f.run(person.nik)["code"]).get_json()
    assert jwt.decode(body["id_token"], _jwks(client)).header["alg"] == "RS256"


def test_claims_parameter_id_token_and_userinfo(flow, person):
    import json

    claims = json.dumps({"id_token": {"name": {"essential": True}}, "userinfo": {"email": None}})
    body = flow.token(_code(flow, person, scope="openid", claims=claims)).get_json()
    idt = jwt.decode(body["id_token"], _jwks(flow.http)).claims
    assert idt["name"] == "Budi Santoso"
    info = _userinfo(flow.http, body["access_token"]).get_json()
    assert info["email"] == "budi@contoh.go.id" and "name" not in info


def test_T34_pairwise_sub_per_sector(client, register_client, person):
    a, sa = register_client("rp-a")
    b, sb = register_client("rp-b")
    fa, fb = Flow(client, a, sa), Flow(client, b, sb)
    sub_a = _userinfo(client, fa.token(fa.run(person.nik)["code"]).get_json()["access_token"]).get_json()["sub"]
    sub_b = _userinfo(client, fb.token(fb.run(person.nik)["code"]).get_json()["access_token"]).get_json()["sub"]
    assert sub_a != sub_b and len(sub_a) <= 255 and person.nik not in sub_a
    again = _userinfo(client, fa.token(fa.run(person.nik)["code"]).get_json()["access_token"]).get_json()["sub"]
    assert again == sub_a


def test_public_subject_type(client, register_client, person):
    c, s = register_client("rp-public", subject_type="public")
    f = Flow(client, c, s)
    assert _userinfo(client, f.token(f.run(person.nik)["code"]).get_json()["access_token"]).get_json()["sub"] == person.public_id


def test_T07_wrong_verifier_burns_code(flow, person):
    code = _code(flow, person)
    bad = flow.token(code, code_verifier="x" * 43)
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_grant"
    again = flow.token(code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_missing_verifier(flow, person):
    resp = flow.token(_code(flow, person), code_verifier=None)
    assert resp.status_code == 400 and resp.get_json()["error"] in ("invalid_request", "invalid_grant")


@pytest.mark.parametrize("wait", [0, 30])
def test_T08_code_reuse_revokes_first_tokens(flow, person, wait):
    code = _code(flow, person)
    first = flow.token(code).get_json()
    clock.advance(wait)
    second = flow.token(code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    resp = _userinfo(flow.http, first["access_token"])
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    refresh = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"


def test_T10_code_bound_to_client(client, register_client, person):
    a, sa = register_client("rp-a")
    b, sb = register_client("rp-b", redirect_uris=["https://rp-a.example.go.id/cb"], sector_identifier="rp-a.example.go.id")
    fa = Flow(client, a, sa)
    code = fa.run(person.nik)["code"]
    fb = Flow(client, b, sb)
    fb.verifier = fa.verifier
    stolen = fb.token(code)
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    assert fa.token(code).get_json()["error"] == "invalid_grant"  # burnt


def test_T11_expired_code_and_redirect_mismatch(flow, person):
    code = _code(flow, person)
    clock.advance(61)
    assert flow.token(code).get_json()["error"] == "invalid_grant"
    code = _code(flow, person)
    resp = flow.token(code, redirect_uri="https://rp-test.example.go.id/other")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_concurrent_redemption_exactly_one_wins(app, flow, person):
    if app.config["IDP_BACKEND"] == "sqlite":
        pytest.skip("concurrency of one SQLite file is serialised; the race is tested on PostgreSQL")
    code = _code(flow, person)
    results = []

    def redeem():
        http = app.test_client()
        http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
        f = Flow(http, flow.rp, flow.secret)
        f.verifier = flow.verifier
        results.append(f.token(code).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 5


@pytest.mark.parametrize(
    "headers,data,status,error",
    [
        ({}, {}, 401, "invalid_client"),
        ({"Authorization": "Basic " + base64.b64encode(b"rp-test:wrong").decode()}, {}, 401, "invalid_client"),
        ({}, {"client_id": "rp-test"}, 401, "invalid_client"),
        ({}, {"client_id": "rp-test", "client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
def test_client_authentication_failures(flow, person, headers, data, status, error):
    code = _code(flow, person)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0], "code_verifier": flow.verifier, **data}
    resp = flow.http.post("/token", data=body, headers=headers)
    assert resp.status_code == status and resp.get_json()["error"] == error
    assert resp.headers["Cache-Control"] == "no-store"


def test_client_secret_post(client, register_client, person):
    c, secret = register_client("rp-post", token_endpoint_auth_method="client_secret_post")
    f = Flow(client, c)
    code = f.run(person.nik)["code"]
    resp = client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": c.redirect_uris[0],
                                        "code_verifier": f.verifier, "client_id": c.client_id, "client_secret": secret})
    assert resp.status_code == 200
    # the same client cannot use client_secret_basic
    f2 = Flow(client, c, secret)
    assert f2.token(f2.run(person.nik)["code"]).status_code == 401


def test_private_key_jwt(client, register_client, person):
    key = ECKey.generate_key("P-256", private=True)
    pub = key.as_dict(private=False)
    pub["kid"] = key.thumbprint()
    c, _secret = register_client("rp-pkjwt", token_endpoint_auth_method="private_key_jwt", jwks={"keys": [pub]})
    f = Flow(client, c)
    code = f.run(person.nik)["code"]

    def assertion(jti="j1", aud=ISSUER + "/token"):
        now = int(time.time())
        return jwt.encode({"alg": "ES256", "kid": pub["kid"]},
                          {"iss": c.client_id, "sub": c.client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60}, key)

    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": c.redirect_uris[0], "code_verifier": f.verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion()}
    resp = client.post("/token", data=data)
    assert resp.status_code == 200, resp.get_json()
    rt = resp.get_json()["refresh_token"]
    replay = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                         "client_assertion_type": data["client_assertion_type"], "client_assertion": data["client_assertion"]})
    # RFC 6749 §5.2: 401 is required only when the Authorization header was used
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_client"
    wrong_aud = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                            "client_assertion_type": data["client_assertion_type"],
                                            "client_assertion": assertion("j2", aud="https://evil")})
    assert wrong_aud.status_code == 400 and wrong_aud.get_json()["error"] == "invalid_client"
    ok = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                     "client_assertion_type": data["client_assertion_type"], "client_assertion": assertion("j3")})
    assert ok.status_code == 200


def test_refresh_confidential_not_rotated(flow, person):
    first = flow.token(_code(flow, person)).get_json()
    for _ in range(2):
        resp = flow.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert resp.status_code == 200
        body = resp.get_json()
        assert "refresh_token" not in body and "id_token" in body
        assert _userinfo(flow.http, body["access_token"]).status_code == 200
    idt = jwt.decode(body["id_token"], _jwks(flow.http)).claims
    orig = jwt.decode(first["id_token"], _jwks(flow.http)).claims
    assert idt["auth_time"] == orig["auth_time"] and idt["sub"] == orig["sub"] and "nonce" not in idt


def test_refresh_public_client_rotates_and_detects_reuse(client, register_client, person):
    c, _ = register_client("rp-spa", token_endpoint_auth_method="none")
    f = Flow(client, c)
    first = f.token(f.run(person.nik)["code"]).get_json()
    second = f.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    replay = f.token_request({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # the whole family is dead: the newest refresh token and access token too
    assert f.token_request({"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}).status_code == 400
    assert _userinfo(client, second["access_token"]).status_code == 401


def test_T26_refresh_misuse(client, register_client, person):
    a, sa = register_client("rp-a")
    _b, sb = register_client("rp-b")
    fa = Flow(client, a, sa)
    tok = fa.token(fa.run(person.nik, scope="openid profile")["code"]).get_json()
    other = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}, headers=_basic("rp-b", sb))
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_grant"
    wider = fa.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "scope": "openid profile email"})
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    unauth = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "client_id": "rp-a"})
    assert unauth.status_code == 401 and unauth.get_json()["error"] == "invalid_client"
    narrower = fa.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "scope": "openid"})
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "openid"


def test_refresh_idle_and_absolute_expiry(flow, person):
    tok = flow.token(_code(flow, person)).get_json()
    clock.advance(3601)
    assert flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400


def test_refresh_dies_when_account_locked(app, flow, person):
    from idp.identity import services as identity

    tok = flow.token(_code(flow, person)).get_json()
    with app.app_context():
        identity.set_locked(identity.get_person_by_nik(person.nik), True, actor="test")
    assert flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400
    assert _userinfo(flow.http, tok["access_token"]).status_code == 401


def test_no_refresh_token_without_grant(client, register_client, person):
    c, s = register_client("rp-norefresh", grant_types=["authorization_code"])
    f = Flow(client, c, s)
    body = f.token(f.run(person.nik)["code"]).get_json()
    assert "refresh_token" not in body


def test_client_credentials(client, register_client):
    _c, s = register_client("svc", grant_types=["client_credentials"], redirect_uris=[], post_logout_redirect_uris=[], scopes=["api", "openid"])
    resp = client.post("/token", data={"grant_type": "client_credentials", "scope": "api"}, headers=_basic("svc", s))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["scope"] == "api" and "refresh_token" not in body and "id_token" not in body
    # a machine token has no person: UserInfo refuses it
    assert _userinfo(client, body["access_token"]).status_code == 401


def test_client_credentials_not_registered(flow, person):
    resp = flow.token_request({"grant_type": "client_credentials"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("grant", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", ""])
def test_unsupported_grant_type(flow, grant):
    resp = flow.token_request({"grant_type": grant})
    assert resp.status_code == 400 and resp.get_json()["error"] in ("unsupported_grant_type", "invalid_request")


def test_token_endpoint_rejects_get(client):
    resp = client.get("/token")
    assert resp.status_code == 405


def test_oversized_body_413(client):
    resp = client.post("/token", data={"grant_type": "x" * 70000})
    assert resp.status_code == 413


# -- userinfo ------------------------------------------------------------------------------
def test_userinfo_get_post_and_errors(flow, person):
    at = flow.token(_code(flow, person, scope="openid profile email")).get_json()["access_token"]
    get = _userinfo(flow.http, at)
    assert get.status_code == 200 and get.headers["Cache-Control"] == "no-store"
    info = get.get_json()
    assert info["name"] == "Budi Santoso" and info["email"] == "budi@contoh.go.id" and "phone_number" not in info
    assert "nik" not in info
    post = flow.http.post("/userinfo", headers={"Authorization": "Bearer " + at})
    assert post.get_json() == info
    form = flow.http.post("/userinfo", data={"access_token": at})
    assert form.get_json() == info
    missing = flow.http.get("/userinfo")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = _userinfo(flow.http, "not-a-token")
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    clock.advance(601)
    assert _userinfo(flow.http, at).status_code == 401


def test_nik_claim_only_for_registered_clients(client, register_client, person):
    c, s = register_client("rp-nik", scopes=["openid", "profile", "nik"])
    f = Flow(client, c, s)
    info = _userinfo(client, f.token(f.run(person.nik, scope="openid nik")["code"]).get_json()["access_token"]).get_json()
    assert info["nik"] == person.nik
    # a client not registered for `nik` asking for it: the scope is dropped, nothing released
    c2, s2 = register_client("rp-nonik")
    f2 = Flow(client, c2, s2)
    info2 = _userinfo(client, f2.token(f2.run(person.nik, scope="openid nik")["code"]).get_json()["access_token"]).get_json()
    assert "nik" not in info2


# -- revocation and introspection ----------------------------------------------------------------
def test_revocation(flow, person):
    tok = flow.token(_code(flow, person)).get_json()
    r = flow.token_request({"token": tok["access_token"], "token_type_hint": "access_token"})
    resp = flow.http.post("/revoke", data={"token": tok["access_token"]}, headers=_basic(flow.rp.client_id, flow.secret))
    assert resp.status_code == 200
    assert _userinfo(flow.http, tok["access_token"]).status_code == 401
    # revoking the refresh token kills its grant
    resp = flow.http.post("/revoke", data={"token": tok["refresh_token"], "token_type_hint": "refresh_token"},
                          headers=_basic(flow.rp.client_id, flow.secret))
    assert resp.status_code == 200
    assert flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400
    # unknown token: 200 (RFC 7009 §2.2)
    assert flow.http.post("/revoke", data={"token": "nope"}, headers=_basic(flow.rp.client_id, flow.secret)).status_code == 200
    assert flow.http.post("/revoke", data={"token": "nope"}).status_code == 401
    del r


def test_revocation_of_other_clients_token_does_nothing(client, register_client, person):
    a, sa = register_client("rp-a")
    _b, sb = register_client("rp-b")
    fa = Flow(client, a, sa)
    tok = fa.token(fa.run(person.nik)["code"]).get_json()
    assert client.post("/revoke", data={"token": tok["access_token"]}, headers=_basic("rp-b", sb)).status_code == 200
    assert _userinfo(client, tok["access_token"]).status_code == 200


def test_introspection(client, flow, person, register_client):
    tok = flow.token(_code(flow, person)).get_json()
    resp = client.post("/introspect", data={"token": tok["access_token"]}, headers=_basic(flow.rp.client_id, flow.secret))
    body = resp.get_json()
    assert body["active"] is True and body["client_id"] == "rp-test" and body["iss"] == ISSUER and "sub" in body
    rt = client.post("/introspect", data={"token": tok["refresh_token"]}, headers=_basic(flow.rp.client_id, flow.secret)).get_json()
    assert rt["active"] is True
    _b, sb = register_client("rp-b")
    other = client.post("/introspect", data={"token": tok["access_token"]}, headers=_basic("rp-b", sb)).get_json()
    assert other == {"active": False}
    clock.advance(601)
    assert client.post("/introspect", data={"token": tok["access_token"]}, headers=_basic(flow.rp.client_id, flow.secret)).get_json() == {"active": False}
    assert client.post("/introspect", data={"token": "x"}).status_code == 401


def test_cors_for_browser_clients(client):
    pre = client.options("/token", headers={"Origin": "https://spa.go.id", "Access-Control-Request-Method": "POST"})
    assert pre.headers["Access-Control-Allow-Origin"] == "*" and "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert client.get("/jwks").headers["Access-Control-Allow-Origin"] == "*"
    # pages with cookies never get CORS
    assert "Access-Control-Allow-Origin" not in client.get("/").headers


def test_client_disabled_on_another_node_refused_within_cache_window(app, flow, person):
    """Token requests read client registrations from a per-node snapshot (≤ key_cache_seconds old)."""
    from sqlalchemy import update

    from idp.extensions import db
    from idp.oidc.models import Client

    tok = flow.token(flow.run(person.nik)["code"]).get_json()
    with app.app_context():  # another node disables the client: no local invalidation
        db.session.execute(update(Client).where(Client.client_id == "rp-test").values(disabled=True))
        db.session.commit()
    clock.advance(app.config["IDP"]["key_cache_seconds"])
    resp = flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
