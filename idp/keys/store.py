"""Signing keys at rest and in each node's cache; JWKS.

- Private keys are AES-256-GCM encrypted under the KEK (keys/envelope.py); the kid is
  the associated data, so a ciphertext moved to another row does not decrypt.
- `kid` is the RFC 7638 JWK thumbprint.
- States (keys/lifecycle.py changes them): next (published, not signing), active
  (signing; one per algorithm, enforced by a partial unique index), retiring
  (published until `retire_after`), revoked (gone at once).
- Every node re-reads keys at most `key_cache_seconds` after a change elsewhere, and at
  once when asked about a kid it does not know.
"""

from __future__ import annotations

import json
import threading
import warnings

from flask import current_app
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key
from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.keys import envelope
from idp.keys.models import SigningKey

SUPPORTED_ALGS = ("ES256", "RS256", "PS256", "EdDSA")
PUBLISHED_STATES = ("next", "active", "retiring")
RSA_BITS = 3072


class NoActiveKeyError(RuntimeError):
    pass


def kek() -> bytes:
    return current_app.extensions["idp_secrets"]["kek"]


def keks() -> list[bytes]:
    """KEKs that may decrypt: the current one, then the previous one during a rewrap."""
    secrets = current_app.extensions["idp_secrets"]
    return [secrets["kek"]] + ([secrets["kek_previous"]] if secrets.get("kek_previous") else [])


def configured_algs() -> tuple[str, ...]:
    return tuple(current_app.config["IDP"]["signing_algs"])


def new_private_key(alg: str):
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg in ("RS256", "PS256"):
        return RSAKey.generate_key(RSA_BITS, private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", private=True)
    raise ValueError(f"unsupported algorithm {alg}")


def seal(key, alg: str, state: str) -> SigningKey:
    """A SigningKey row for a joserfc private key (not added to the session)."""
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    now = clock.now()
    return SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        private_encrypted=envelope.encrypt(kek(), json.dumps(key.as_dict(private=True)).encode(), kid.encode()),
        public_jwk=public,
        created_at=now,
        activated_at=now if state == "active" else None,
    )


def unseal(row: SigningKey, key: bytes | None = None):
    """The joserfc private key of a row (decrypted with ``key`` or the current KEK)."""
    blob, aad = row.private_encrypted, row.kid.encode()
    plain = envelope.decrypt(key, blob, aad) if key else envelope.decrypt_any(keks(), blob, aad)
    return import_key(json.loads(plain))


def list_keys() -> list[SigningKey]:
    return list(db.session.execute(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)).scalars())


def get_key(kid: str) -> SigningKey | None:
    return db.session.get(SigningKey, kid)


def public_jwks() -> dict:
    """The JWK Set every relying party should accept now (read from the database)."""
    now = clock.now()
    rows = db.session.execute(
        select(SigningKey).where(SigningKey.state.in_(PUBLISHED_STATES)).order_by(SigningKey.created_at.desc())
    ).scalars()
    return {"keys": [r.public_jwk for r in rows if not (r.state == "retiring" and r.retire_after and r.retire_after <= now)]}


# -- per-node cache -------------------------------------------------------------------
class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.loaded_at = -10**9
        self.active: dict[str, tuple[str, object]] = {}
        self.published: dict[str, dict] = {}
        self.jwks_bytes = b'{"keys":[]}'


def _c() -> _Cache:
    # One cache per app (tests run several apps in one process).
    return current_app.extensions.setdefault("idp_key_cache", _Cache())


def invalidate_cache() -> None:
    _c().loaded_at = -10**9


def _load() -> None:
    now = clock.now()
    jwks = public_jwks()
    published = {k["kid"]: k for k in jwks["keys"]}
    active = {}
    for row in db.session.execute(select(SigningKey).where(SigningKey.state == "active")).scalars():
        # Imported once per load, not per signature (importing costs more than signing).
        active[row.alg] = (row.kid, unseal(row))
    cache = _c()
    with cache.lock:
        cache.active = active
        cache.published = published
        cache.jwks_bytes = json.dumps(jwks, separators=(",", ":")).encode()
        cache.loaded_at = now


def _fresh() -> _Cache:
    cache = _c()
    if clock.now() - cache.loaded_at >= current_app.config["IDP"]["key_cache_seconds"]:
        _load()
    return cache


def signing_key(alg: str):
    """(kid, private joserfc key) of the active key for ``alg``. Raises NoActiveKeyError."""
    cache = _fresh()
    try:
        return cache.active[alg]
    except KeyError:
        _load()
        if alg not in cache.active:
            raise NoActiveKeyError(alg) from None
        return cache.active[alg]


def jwks_bytes() -> bytes:
    return _fresh().jwks_bytes


def public_key(kid: str) -> dict | None:
    """The published public JWK for ``kid``; an unknown kid triggers a reload."""
    cache = _fresh()
    if kid not in cache.published:
        _load()
    return cache.published.get(kid)


def sign(header: dict, payload: dict, key, alg: str) -> str:
    from joserfc import jwt

    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864); RPs still expect it.
        warnings.simplefilter("ignore")
        return jwt.encode(header, payload, key, algorithms=[alg])
