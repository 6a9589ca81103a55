"""DPoP (RFC 9449): sender-constrained tokens at the token endpoint and the resources,
as a client holding a key (and an attacker holding only a copied token) sees them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import warnings

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from idp import clock
from tests.conftest import ISSUER, Flow, query

TOKEN_URL = ISSUER + "/token"
USERINFO_URL = ISSUER + "/userinfo"


class Holder:
    """A client's DPoP key and the proofs it makes (what a DPoP library does)."""

    def __init__(self, key=None, alg="ES256"):
        self.key = key or ECKey.generate_key("P-256")
        self.alg = alg

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(self, method="POST", url=TOKEN_URL, access_token=None, *, header=None, **claims):
        payload = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": clock.now()}
        if access_token is not None:
            payload["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False)}
        protected.update(header or {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # the EdDSA name (RFC 9864)
            return jws.serialize_compact(protected, json.dumps(payload), self.key, algorithms=[self.alg])


def _tokens(flow, person, holder=None, **kw):
    code = flow.run(person.nik, **kw)["code"]
    headers = {"DPoP": holder.proof()} if holder else {}
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    return _token_request(flow, data, headers)


def _token_request(flow, data, headers):
    if flow.secret:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{flow.rp.client_id}:{flow.secret}".encode()).decode()
    else:
        data.setdefault("client_id", flow.rp.client_id)
    return flow.http.post("/token", data=data, headers=headers)


def _userinfo(http, at, holder=None, scheme="DPoP", proof=None, **proof_kw):
    headers = {"Authorization": f"{scheme} {at}"}
    if proof is not None:
        headers["DPoP"] = proof
    elif holder is not None:
        headers["DPoP"] = holder.proof("GET", USERINFO_URL, at, **proof_kw)
    return http.get("/userinfo", headers=headers)


def _challenge(resp) -> str:
    return resp.headers.get("WWW-Authenticate", "")


@pytest.fixture
def public_flow(client, register_client):
    rp, _ = register_client("rp-spa", token_endpoint_auth_method="none")
    return Flow(client, rp)


# -- discovery and token endpoint --------------------------------------------------------------------
def test_discovery_advertises_dpop_algorithms(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert {"ES256", "PS256", "EdDSA"} <= set(meta["dpop_signing_alg_values_supported"])
    assert not {"none", "HS256"} & set(meta["dpop_signing_alg_values_supported"])


def test_proof_at_token_endpoint_binds_the_access_token(flow, person):
    holder = Holder()
    resp = _tokens(flow, person, holder)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["token_type"] == "DPoP"
    at = body["access_token"]
    ok = _userinfo(flow.http, at, holder)
    assert ok.status_code == 200 and ok.get_json()["sub"]
    # A copy of the token without the key is worthless: as a bearer token, with no proof,
    # with a proof from the thief's own key, or with the holder's proof for another token.
    bearer = _userinfo(flow.http, at, scheme="Bearer")
    assert bearer.status_code == 401 and _challenge(bearer).startswith("DPoP ") and 'error="invalid_token"' in _challenge(bearer)
    assert "Bearer" not in _challenge(bearer)
    missing = _userinfo(flow.http, at)
    assert missing.status_code == 401 and 'error="invalid_dpop_proof"' in _challenge(missing)
    thief = _userinfo(flow.http, at, Holder())
    assert thief.status_code == 401 and 'error="invalid_token"' in _challenge(thief)
    other = _userinfo(flow.http, at, proof=holder.proof("GET", USERINFO_URL, "another-token"))
    assert other.status_code == 401 and 'error="invalid_dpop_proof"' in _challenge(other)
    assert other.get_json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("alg", ["PS256", "Ed25519", "EdDSA"])
def test_rsa_and_ed25519_keys_work(flow, person, alg):
    from joserfc.jwk import OKPKey

    holder = Holder(RSAKey.generate_key(2048), alg) if alg == "PS256" else Holder(OKPKey.generate_key("Ed25519"), alg)
    body = _tokens(flow, person, holder).get_json()
    assert body["token_type"] == "DPoP"
    assert _userinfo(flow.http, body["access_token"], holder).status_code == 200


def test_without_a_proof_tokens_stay_bearer(flow, person):
    body = _tokens(flow, person).get_json()
    assert body["token_type"] == "Bearer"
    assert _userinfo(flow.http, body["access_token"], scheme="Bearer").status_code == 200
    # The DPoP scheme is only for bound tokens (RFC 9449 §7.1).
    resp = _userinfo(flow.http, body["access_token"], Holder())
    assert resp.status_code == 401 and 'error="invalid_token"' in _challenge(resp)


def test_request_without_credentials_is_told_both_schemes(client):
    resp = client.get("/userinfo")
    assert resp.status_code == 401 and resp.get_data() == b""
    challenge = _challenge(resp)
    assert challenge.startswith("Bearer ") and 'DPoP algs="' in challenge and "error=" not in challenge


def _b64json(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _bad_proof(case: str) -> str:
    holder = Holder()
    if case == "malformed":
        return "not-a-jwt"
    if case == "alg-none":
        header = {"typ": "dpop+jwt", "alg": "none", "jwk": holder.key.as_dict(private=False)}
        return f"{_b64json(header)}.{_b64json({'jti': 'x', 'htm': 'POST', 'htu': TOKEN_URL, 'iat': clock.now()})}."
    if case == "symmetric":
        return Holder(OctKey.generate_key(256), "HS256").proof(header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}})
    if case == "rs256":
        return Holder(RSAKey.generate_key(2048), "RS256").proof()
    if case == "rsa-1024":
        return _small_rsa_proof()
    if case == "rsa-claims-es256":
        # An RS256 signature under a header that names ES256 with the RSA key.
        rsa = Holder(RSAKey.generate_key(2048), "RS256")
        _, payload, signature = rsa.proof().split(".")
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": rsa.key.as_dict(private=False)}
        return f"{_b64json(header)}.{payload}.{signature}"
    return {
        "typ": lambda: holder.proof(header={"typ": "JWT"}),
        "private-jwk": lambda: holder.proof(header={"jwk": holder.key.as_dict(private=True)}),
        "wrong-key": lambda: holder.proof(header={"jwk": Holder().key.as_dict(private=False)}),
        "htm": lambda: holder.proof(method="GET"),
        "htu": lambda: holder.proof(url=ISSUER + "/userinfo"),
        "htu-host": lambda: holder.proof(url="https://evil.test/token"),
        "no-jti": lambda: holder.proof(jti=None),
        "stale": lambda: holder.proof(iat=clock.now() - 70),  # SECURITY.md T24
        "future": lambda: holder.proof(iat=clock.now() + 120),
        "iat-string": lambda: holder.proof(iat=str(clock.now())),
        "htu-userinfo": lambda: holder.proof(url="https://attacker@idp.test/token"),
    }[case]()


def _small_rsa_proof() -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from joserfc.jwk import RSAKey as _RSA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        key = _RSA.import_key(rsa.generate_private_key(65537, 1024))
    payload = {"jti": secrets.token_urlsafe(8), "htm": "POST", "htu": TOKEN_URL, "iat": clock.now()}
    header = {"typ": "dpop+jwt", "alg": "PS256", "jwk": key.as_dict(private=False)}
    registry = jws.JWSRegistry(algorithms=["PS256"])
    registry.max_header_length = 4096
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jws.serialize_compact(header, json.dumps(payload), key, algorithms=["PS256"], registry=registry)


BAD = {  # case: what the error_description names
    "malformed": "compact JWS", "alg-none": "alg", "symmetric": "alg", "rsa-claims-es256": "signature",
    "typ": "typ", "private-jwk": "private", "wrong-key": "signature", "htm": "htm", "htu": "htu", "htu-host": "htu",
    "no-jti": "jti", "stale": "fresh", "future": "fresh", "iat-string": "iat", "htu-userinfo": "htu",
    "rsa-1024": "key size", "rs256": "alg",
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_proofs_at_token_endpoint(flow, person, case):
    code = flow.run(person.nik)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    resp = _token_request(flow, data, {"DPoP": _bad_proof(case)})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_dpop_proof"
    assert BAD[case] in resp.get_json()["error_description"]
    assert resp.headers["Cache-Control"] == "no-store"
    # The code was not spent by the refused request: the client can retry with a good proof.
    retry = _token_request(flow, dict(data), {"DPoP": Holder().proof()})
    assert retry.status_code == 200 and retry.get_json()["token_type"] == "DPoP"


def test_htu_compared_after_normalisation(flow, person):
    holder = Holder()
    code = flow.run(person.nik)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    proof = holder.proof(url="HTTPS://IDP.TEST:443/token?x=1#f")
    assert _token_request(flow, data, {"DPoP": proof}).status_code == 200


def test_fractional_iat_is_a_numeric_date(flow, person):
    body = _tokens(flow, person).get_json()  # a bearer pair first, to get a code flow going
    assert body["token_type"] == "Bearer"
    holder = Holder()
    code = flow.run(person.nik)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    resp = _token_request(flow, data, {"DPoP": holder.proof(iat=clock.now() + 0.5)})
    assert resp.status_code == 200 and resp.get_json()["token_type"] == "DPoP"


def test_anonymous_token_requests_write_nothing(app, client):
    """The jti is spent only once the client has authenticated: junk costs no writes."""
    from idp.oidc.models import UsedJti

    for _ in range(3):
        resp = client.post("/token", data={"grant_type": "authorization_code", "code": "x", "client_id": "nobody"},
                           headers={"DPoP": Holder().proof()})
        assert resp.status_code in (400, 401)
    with app.app_context():
        assert UsedJti.query.count() == 0


def test_scope_errors_use_the_scheme_of_the_request(strict_flow, person):
    holder = Holder()
    resp = _tokens(strict_flow, person, holder)  # scope: openid profile, no doc: scope
    at = resp.get_json()["access_token"]
    url = ISSUER + "/claims/documents"
    denied = strict_flow.http.get("/claims/documents", headers={"Authorization": f"DPoP {at}",
                                                                  "DPoP": holder.proof("GET", url, at)})
    assert denied.status_code == 403 and denied.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    assert denied.headers["Access-Control-Expose-Headers"] == "WWW-Authenticate, DPoP-Nonce"


def test_two_proof_headers_refused(flow, person):
    code = flow.run(person.nik)["code"]
    holder = Holder()
    resp = flow.http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
              "code_verifier": flow.verifier},
        headers=[("DPoP", holder.proof()), ("DPoP", holder.proof()),
                 ("Authorization", "Basic " + base64.b64encode(f"{flow.rp.client_id}:{flow.secret}".encode()).decode())],
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_dpop_proof"


def test_a_proof_is_used_once(flow, person):
    holder = Holder()
    at = _tokens(flow, person, holder).get_json()["access_token"]
    proof = holder.proof("GET", USERINFO_URL, at)
    assert _userinfo(flow.http, at, proof=proof).status_code == 200
    replay = _userinfo(flow.http, at, proof=proof)
    assert replay.status_code == 401 and 'error="invalid_dpop_proof"' in _challenge(replay)
    assert "already used" in replay.get_json()["error_description"]


def test_a_proof_replayed_to_another_node_fails(flow, person, app, keys_dir):
    """The replay store is the shared database, not process memory."""
    from idp import create_app
    from tests.conftest import base_config

    holder = Holder()
    at = _tokens(flow, person, holder).get_json()["access_token"]
    proof = holder.proof("GET", USERINFO_URL, at)
    assert _userinfo(flow.http, at, proof=proof).status_code == 200
    other = create_app(base_config(keys_dir, app.config["SQLALCHEMY_DATABASE_URI"]))
    resp = _userinfo(other.test_client(), at, proof=proof)
    assert resp.status_code == 401 and 'error="invalid_dpop_proof"' in _challenge(resp)
    # A fresh proof works on that node: the token is the same everywhere.
    assert _userinfo(other.test_client(), at, holder).status_code == 200


def test_introspection_shows_the_binding(flow, person):
    holder = Holder()
    at = _tokens(flow, person, holder).get_json()["access_token"]
    auth = "Basic " + base64.b64encode(f"{flow.rp.client_id}:{flow.secret}".encode()).decode()
    info = flow.http.post("/introspect", data={"token": at}, headers={"Authorization": auth}).get_json()
    assert info["active"] is True and info["token_type"] == "DPoP" and info["cnf"] == {"jkt": holder.jkt}


# -- refresh tokens ------------------------------------------------------------------------------------
def _refresh(flow, rt, holder=None):
    headers = {"DPoP": holder.proof()} if holder else {}
    return _token_request(flow, {"grant_type": "refresh_token", "refresh_token": rt}, headers)


def test_public_client_refresh_token_is_bound_to_the_key(public_flow, person):
    holder = Holder()
    body = _tokens(public_flow, person, holder).get_json()
    rt = body["refresh_token"]
    assert _refresh(public_flow, rt).get_json()["error"] == "invalid_grant"
    assert _refresh(public_flow, rt, Holder()).get_json()["error"] == "invalid_grant"
    again = _refresh(public_flow, rt, holder)
    assert again.status_code == 200 and again.get_json()["token_type"] == "DPoP"
    # The rotated refresh token stays bound to the same key.
    assert _refresh(public_flow, again.get_json()["refresh_token"], Holder()).get_json()["error"] == "invalid_grant"


def test_confidential_client_refresh_may_bind_a_new_key(flow, person):
    body = _tokens(flow, person, Holder()).get_json()
    new = Holder()
    resp = _refresh(flow, body["refresh_token"], new)
    assert resp.status_code == 200 and resp.get_json()["token_type"] == "DPoP"
    assert _userinfo(flow.http, resp.get_json()["access_token"], new).status_code == 200


# -- authorization code binding (RFC 9449 §10) ---------------------------------------------------------
def test_dpop_jkt_binds_the_code_to_a_key(flow, person):
    holder = Holder()
    code = flow.run(person.nik, dpop_jkt=holder.jkt)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    assert _token_request(flow, dict(data), {}).get_json()["error"] == "invalid_grant"


def test_dpop_jkt_code_redeemed_with_the_same_key(flow, person):
    holder = Holder()
    code = flow.run(person.nik, dpop_jkt=holder.jkt)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    resp = _token_request(flow, data, {"DPoP": holder.proof()})
    assert resp.status_code == 200 and resp.get_json()["token_type"] == "DPoP"


def test_dpop_jkt_code_refused_for_another_key(flow, person):
    code = flow.run(person.nik, dpop_jkt=Holder().jkt)["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}
    assert _token_request(flow, data, {"DPoP": Holder().proof()}).get_json()["error"] == "invalid_grant"


def test_malformed_dpop_jkt_is_an_authorization_error(flow, person):
    resp = flow.authorize(dpop_jkt="not a thumbprint")
    assert resp.status_code == 302
    q = query(resp.headers["Location"])
    assert q["error"] == "invalid_request" and q["state"] and q["iss"] == ISSUER


# -- clients that must use DPoP (SECURITY.md T69) -----------------------------------------------------
@pytest.fixture
def strict_flow(client, register_client):
    rp, secret = register_client("rp-dpop", dpop_bound_access_tokens=True, document_types=["kk"])
    return Flow(client, rp, secret)


def test_registration_flag_validated(ctx):
    from idp.oidc import clients

    raw = {"client_id": "rp-x", "name": "X", "redirect_uris": ["https://x.go.id/cb"],
           "client_secret_hash": "sha256:" + "0" * 64, "dpop_bound_access_tokens": "yes"}
    with pytest.raises(clients.RegistrationError) as err:
        clients.validate_registration(raw, "rp-x.toml")
    assert err.value.field == "dpop_bound_access_tokens"


def test_high_assurance_client_gets_no_token_without_proof(strict_flow, person):
    resp = _tokens(strict_flow, person)  # SECURITY.md T24: a missing header is invalid_request
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"
    ok = _tokens(strict_flow, person, Holder())
    assert ok.status_code == 200 and ok.get_json()["token_type"] == "DPoP"


def test_document_claims_need_the_proof(strict_flow, person):
    holder = Holder()
    resp = strict_flow.authorize(scope="openid doc:kk")
    if "/login" in resp.headers.get("Location", ""):
        resp = strict_flow.follow(strict_flow.login(resp, person.nik))
    if "/consent" in resp.headers.get("Location", ""):
        resp = strict_flow.follow(strict_flow.consent(resp))
    code = query(resp.headers["Location"])["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": strict_flow.rp.redirect_uris[0],
            "code_verifier": strict_flow.verifier}
    at = _token_request(strict_flow, data, {"DPoP": holder.proof()}).get_json()["access_token"]
    url = ISSUER + "/claims/documents"
    bearer = strict_flow.http.get("/claims/documents", headers={"Authorization": f"Bearer {at}"})
    assert bearer.status_code == 401 and _challenge(bearer).startswith("DPoP ")
    ok = strict_flow.http.get("/claims/documents", headers={"Authorization": f"DPoP {at}",
                                                              "DPoP": holder.proof("GET", url, at)})
    assert ok.status_code == 200 and ok.get_json()["documents"] == []
    wrong_url = strict_flow.http.get("/claims/documents", headers={"Authorization": f"DPoP {at}",
                                                                     "DPoP": holder.proof("GET", USERINFO_URL, at)})
    assert wrong_url.status_code == 401 and 'error="invalid_dpop_proof"' in _challenge(wrong_url)


# -- server nonces (RFC 9449 §8, §9; SECURITY.md T24) ------------------------------------------------
def _code_data(flow, person):
    code = flow.run(person.nik)["code"]
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.rp.redirect_uris[0],
            "code_verifier": flow.verifier}


def test_every_dpop_answer_offers_a_nonce_and_a_current_one_is_accepted(flow, person):
    clock.freeze()  # nonces change each minute: the steps below must land on exact minutes
    holder = Holder()
    resp = _token_request(flow, _code_data(flow, person), {"DPoP": holder.proof()})
    nonce = resp.headers["DPoP-Nonce"]
    assert resp.status_code == 200 and len(nonce) == 43
    at = resp.get_json()["access_token"]
    ok = _userinfo(flow.http, at, holder, nonce=nonce)
    assert ok.status_code == 200 and ok.headers["DPoP-Nonce"]
    # Still good a minute later (the previous minute's nonce), not two minutes later.
    clock.advance(60)
    assert _userinfo(flow.http, at, holder, nonce=nonce).status_code == 200
    clock.advance(60)
    stale = _userinfo(flow.http, at, holder, nonce=nonce)
    assert stale.status_code == 401 and 'error="use_dpop_nonce"' in _challenge(stale)
    fresh = stale.headers["DPoP-Nonce"]
    assert fresh != nonce and _userinfo(flow.http, at, holder, nonce=fresh).status_code == 200


def test_a_stale_nonce_at_the_token_endpoint_asks_for_a_new_one(flow, person):
    holder = Holder()
    data = _code_data(flow, person)
    resp = _token_request(flow, dict(data), {"DPoP": holder.proof(nonce="made-up")})
    assert resp.status_code == 400 and resp.get_json()["error"] == "use_dpop_nonce"
    retry = _token_request(flow, dict(data), {"DPoP": holder.proof(nonce=resp.headers["DPoP-Nonce"])})
    assert retry.status_code == 200 and retry.get_json()["token_type"] == "DPoP"


def test_nonces_work_on_every_node(flow, person, app, keys_dir):
    from idp import create_app
    from tests.conftest import base_config

    holder = Holder()
    resp = _token_request(flow, _code_data(flow, person), {"DPoP": holder.proof()})
    at, nonce = resp.get_json()["access_token"], resp.headers["DPoP-Nonce"]
    other = create_app(base_config(keys_dir, app.config["SQLALCHEMY_DATABASE_URI"]))
    assert _userinfo(other.test_client(), at, holder, nonce=nonce).status_code == 200


def test_nonce_required_by_configuration(person, register_client, keys_dir, app):
    from idp import create_app
    from tests.conftest import base_config

    strict = create_app(base_config(keys_dir, app.config["SQLALCHEMY_DATABASE_URI"], dpop_nonce_required=True))
    http = strict.test_client()
    rp, secret = register_client()
    flow = Flow(http, rp, secret)
    holder = Holder()
    data = _code_data(flow, person)
    first = _token_request(flow, dict(data), {"DPoP": holder.proof()})
    assert first.status_code == 400 and first.get_json()["error"] == "use_dpop_nonce"
    second = _token_request(flow, dict(data), {"DPoP": holder.proof(nonce=first.headers["DPoP-Nonce"])})
    assert second.status_code == 200
