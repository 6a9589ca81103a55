"""ID tokens (OIDC Core §2, §3.1.3.6, §12.2), signed with the active provider key."""

from __future__ import annotations

import secrets
import warnings

from authlib.oidc.core.util import create_half_hash
from flask import current_app
from joserfc import jwt
from joserfc.jwk import import_key

from idp import clock
from idp.keys import store
from idp.oidc import claims as claims_svc


def issue(
    *,
    client,
    person,
    auth_time: int,
    acr: str,
    amr: list[str],
    sid: str | None,
    nonce: str | None,
    access_token: str | None,
    requested: dict,
    scopes: set[str],
) -> str:
    cfg = current_app.config["IDP"]
    alg = client.id_token_signed_response_alg
    kid, private = store.signing_key(alg)
    now = clock.now()
    payload = {
        "iss": cfg["issuer"],
        "sub": claims_svc.subject(person, client),
        "aud": client.client_id,
        "azp": client.client_id,
        "exp": now + cfg["id_token_ttl"],
        "iat": now,
        "auth_time": auth_time,
        "acr": acr,
        "amr": amr,
        "jti": secrets.token_urlsafe(12),
    }
    if sid:
        payload["sid"] = sid
    if nonce:
        payload["nonce"] = nonce
    if access_token:
        payload["at_hash"] = create_half_hash(access_token, alg).decode()
    # §5.4: with an access token, scope claims go to UserInfo; the ID token carries only
    # what was requested for it in the `claims` parameter.
    payload.update(claims_svc.release(person, client, scopes, requested, include_scope_claims=False))
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    return store.sign(header, payload, private, alg)


def verify_hint(token: str) -> dict | None:
    """Claims of an ID token we issued (signature and issuer checked, expiry ignored),
    for `id_token_hint` (OIDC Core §3.1.2.1; RP-Initiated Logout §2). None if invalid."""
    from joserfc.errors import JoseError
    from joserfc.jws import extract_compact

    if not isinstance(token, str) or len(token) > 16384:
        return None
    try:
        header = extract_compact(token.encode()).headers()
        kid = header.get("kid")
        alg = header.get("alg")
        if alg not in store.SUPPORTED_ALGS or not isinstance(kid, str):
            return None
        public = store.public_key(kid)
        if public is None or public.get("alg") != alg:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EdDSA name (RFC 9864), see keys.store.sign
            claims = jwt.decode(token, import_key(public), algorithms=[alg]).claims
    except (JoseError, ValueError, TypeError):
        return None
    if claims.get("iss") != current_app.config["IDP"]["issuer"]:
        return None
    return claims
