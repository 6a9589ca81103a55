"""DPoP proofs (RFC 9449): sender-constrained access tokens.

A client that sends a `DPoP` header to the token endpoint gets tokens bound to the key in
its proof (token_type "DPoP"); it must then present, with each such token, a fresh proof
signed by the same key (`Authorization: DPoP <token>` + `DPoP: <proof>` with `ath`).
A client registered with `dpop_bound_access_tokens = true` gets nothing without a proof.

`check_proof` performs every check of RFC 9449 §4.3: one header, a compact JWS with
`typ` dpop+jwt, an asymmetric `alg` we support, a public `jwk` (no private members) that
verifies the signature, `jti`/`htm`/`htu`/`iat` present and matching the request, `iat`
within the accepted window, `ath` when a token comes with it, and `jti` never seen before
(within the window, shared by every node through the database, so a replay to another
node fails as well). JOSE parsing and verification are joserfc's.

Server nonces (§8, §9): every response to a request with a DPoP proof carries a fresh
`DPoP-Nonce`; a proof that carries a nonce must carry a current one, else the answer is
`use_dpop_nonce` with a new nonce (the client retries once). With `dpop_nonce_required`
a proof without a nonce is answered the same way. Nonces are stateless: an HMAC of the
current minute under a key derived from the server secret, so every node issues and
accepts the same ones without shared state; one stays valid for 60-120 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import warnings
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.extensions import db

# Asymmetric algorithms only (§4.3 item 5), as FAPI 2.0 allows them (no RS256: PKCS#1 v1.5);
# advertised as dpop_signing_alg_values_supported. EdDSA: the pre-RFC 9864 name of Ed25519.
ALGS = ("ES256", "ES384", "PS256", "Ed25519", "EdDSA")
_KEY_TYPES = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
MAX_PROOF_LENGTH = 8192
MAX_AGE = 60  # seconds a proof stays acceptable after its iat (SECURITY.md T24: 70 s is stale)
MAX_SKEW = 60  # seconds a proof's iat may lie in the future (client clocks)
NONCE_PERIOD = 60  # a nonce is minted per minute; the current and the previous one are accepted
JKT_RE = re.compile(r"[A-Za-z0-9_-]{43}")
MIN_RSA_BITS, MAX_RSA_BITS = 2048, 8192

# joserfc's default header limit (512 bytes) is below an RSA public jwk in the header.
_REGISTRY = JWSRegistry(algorithms=list(ALGS))
_REGISTRY.max_header_length = 4096


class DPoPError(Exception):
    """A proof failed a check. ``str()`` is the public error_description; ``error`` the
    OAuth error code."""

    error = "invalid_dpop_proof"


class DPoPNonceError(DPoPError):
    """The proof needs a (fresh) server nonce: answer with `use_dpop_nonce` and a new one."""

    error = "use_dpop_nonce"


def _nonce_key() -> bytes:
    from flask import current_app

    cache = current_app.extensions.setdefault("idp_dpop_nonce_key", {})
    if "key" not in cache:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        secret = current_app.extensions["idp_secrets"]["session"]
        secret = secret if isinstance(secret, bytes) else secret.encode()
        cache["key"] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"satuakun dpop nonce").derive(secret)
    return cache["key"]


def _nonce_for(period: int) -> str:
    return _b64(hmac.new(_nonce_key(), str(period).encode(), hashlib.sha256).digest())


def new_nonce() -> str:
    """The nonce to send in `DPoP-Nonce` now."""
    return _nonce_for(clock.now() // NONCE_PERIOD)


def _nonce_ok(nonce) -> bool:
    if not isinstance(nonce, str) or len(nonce) > 64:
        return False
    period = clock.now() // NONCE_PERIOD
    return any(hmac.compare_digest(nonce, _nonce_for(p)) for p in (period, period - 1))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(access_token: str) -> str:
    """§4.2: base64url(SHA-256(ASCII access token))."""
    return _b64(hashlib.sha256(access_token.encode()).digest())


def _normalise(uri: str) -> tuple[str, str, int | None, str] | None:
    """RFC 3986 §6.2.2/6.2.3 comparison form without query and fragment (§4.3 item 9):
    case of scheme and host, default port. Paths compare as sent (clients use the URL
    from discovery); a URI with user information never matches."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    return scheme, parts.hostname.lower(), port, parts.path or "/"


def header_value(headers) -> str | None:
    """The one `DPoP` header, None if absent; more than one is an error (§4.3 item 1)."""
    values = headers.getlist("DPoP")
    if not values:
        return None
    if len(values) > 1:
        raise DPoPError("Exactly one DPoP header is allowed")
    return values[0]


def check_proof(proof: str, *, method: str, uri: str, access_token: str | None = None, record: bool = True) -> str:
    """Verify a DPoP proof for a request. Returns the key's thumbprint (jkt).

    With ``record`` the jti is written and committed here (`remember`), so a replay fails
    even if the request it came with fails later. The token endpoint passes False and
    records it once the client has authenticated (server.DPoPBinding), so anonymous
    requests cause no writes; `g.dpop_jti` keeps what to record."""
    if not isinstance(proof, str) or not proof or len(proof) > MAX_PROOF_LENGTH:
        raise DPoPError("The DPoP proof is missing or too long")
    try:
        unverified = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY)
    except (JoseError, ValueError, UnicodeError):
        raise DPoPError("The DPoP proof is not a compact JWS") from None
    header = unverified.headers()
    if header.get("typ") != "dpop+jwt":
        raise DPoPError("The DPoP proof must have typ dpop+jwt")
    alg = header.get("alg")
    if alg not in ALGS:
        raise DPoPError("The DPoP proof alg is not supported")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in _KEY_TYPES:
        raise DPoPError("The DPoP proof must carry a public jwk")
    if _PRIVATE_MEMBERS & set(jwk):
        raise DPoPError("The DPoP proof jwk must not contain private key material")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # key size: checked just below
            key = _KEY_TYPES[jwk["kty"]].import_key(jwk)
        if jwk["kty"] == "RSA" and not MIN_RSA_BITS <= key.raw_value.key_size <= MAX_RSA_BITS:
            raise DPoPError("The DPoP proof RSA key size is not acceptable")
        with warnings.catch_warnings():
            # Only the deprecation of the name "EdDSA" (RFC 9864); other warnings stand.
            warnings.filterwarnings("ignore", message=".*EdDSA.*", category=SecurityWarning)
            verified = jws.deserialize_compact(proof, key, algorithms=[alg], registry=_REGISTRY)
        claims = json.loads(verified.payload)
    except DPoPError:
        raise
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise DPoPError("The DPoP proof signature is invalid") from None
    if not isinstance(claims, dict):
        raise DPoPError("The DPoP proof payload is not a JSON object")

    jti, htm, htu, iat = (claims.get(k) for k in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise DPoPError("The DPoP proof jti is missing or invalid")
    if htm != method:
        raise DPoPError("The DPoP proof htm does not match the request")
    if not isinstance(htu, str) or _normalise(htu) is None or _normalise(htu) != _normalise(uri):
        raise DPoPError("The DPoP proof htu does not match the request")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or not math.isfinite(iat):  # RFC 7519 NumericDate
        raise DPoPError("The DPoP proof iat is missing or invalid")
    now = clock.now()
    if iat > now + MAX_SKEW or iat < now - MAX_AGE:
        raise DPoPError("The DPoP proof is not fresh")
    if access_token is not None and claims.get("ath") != ath(access_token):
        raise DPoPError("The DPoP proof ath does not match the access token")
    nonce = claims.get("nonce")
    if nonce is not None and not _nonce_ok(nonce):
        raise DPoPNonceError("The DPoP proof nonce is not current: use the DPoP-Nonce header")
    if nonce is None and _nonce_required():
        raise DPoPNonceError("A DPoP proof nonce is required: use the DPoP-Nonce header")

    jkt = key.thumbprint()
    if record:
        remember(jkt, jti)
    else:
        from flask import g

        g.dpop_jti = jti
    return jkt


def _nonce_required() -> bool:
    from flask import current_app

    return bool(current_app.config["IDP"]["dpop_nonce_required"])


def remember(jkt: str, jti: str) -> None:
    """A proof is used once (§11.1), on whichever node sees it first. Commits the session
    (callers have nothing else pending); raises DPoPError for a replay."""
    expires_at = clock.now() + MAX_AGE + MAX_SKEW
    from idp.oidc.models import UsedJti
    from idp.oidc.tokens import hash_secret

    db.session.add(UsedJti(key=hash_secret(f"dpop\x00{jkt}\x00{jti}"), expires_at=expires_at))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DPoPError("The DPoP proof was already used") from None


def challenge(error: str | None = None, description: str | None = None) -> str:
    """A `WWW-Authenticate: DPoP ...` challenge (§7.1)."""
    value = f'DPoP algs="{" ".join(ALGS)}"'
    if error:
        value += f', error="{error}"'
        if description:
            value += f', error_description="{description}"'
    return value
