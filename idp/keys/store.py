"""Signing keys: generation, encryption at rest, JWKS, and a short per-node cache.

- Private keys are AES-256-GCM encrypted under the KEK (keys/envelope.py); the kid is
  the associated data, so a ciphertext moved to another row does not decrypt.
- `kid` is the RFC 7638 JWK thumbprint.
- One active key per algorithm is enforced by a partial unique index.
- Every node re-reads keys at most `key_cache_seconds` after a change elsewhere, and at
  once when asked about a kid it does not know.
"""

from __future__ import annotations

import json
import threading

from flask import current_app
from joserfc.jwk import ECKey, RSAKey, import_key
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.keys import envelope
from idp.keys.models import SigningKey

SUPPORTED_ALGS = ("ES256", "RS256")
PUBLISHED_STATES = ("next", "active", "retiring")


class NoActiveKeyError(RuntimeError):
    pass


def _kek() -> bytes:
    return current_app.extensions["idp_secrets"]["kek"]


def _new_private_key(alg: str):
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(3072, private=True)
    raise ValueError(f"unsupported algorithm {alg}")


def generate_key(alg: str, *, state: str, actor: str) -> SigningKey:
    """Create and store a key in `state`. The caller commits."""
    key = _new_private_key(alg)
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    now = clock.now()
    row = SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        private_encrypted=envelope.encrypt(_kek(), json.dumps(key.as_dict(private=True)).encode(), kid.encode()),
        public_jwk=public,
        created_at=now,
        activated_at=now if state == "active" else None,
    )
    db.session.add(row)
    record_event(EventTag.KEY_GENERATED, actor=actor, kid=kid, alg=alg, state=state)
    return row


def ensure_keys(actor: str) -> list[str]:
    """Generate an active key for each supported algorithm that has none. Commits.

    Safe when several nodes start at once: the partial unique index lets one insert win;
    the others roll back and find the winner's key."""
    created = []
    for alg in SUPPORTED_ALGS:
        exists = db.session.execute(
            select(SigningKey.kid).where(SigningKey.alg == alg, SigningKey.state == "active")
        ).first()
        if exists:
            continue
        kid = generate_key(alg, state="active", actor=actor).kid
        try:
            db.session.commit()
            created.append(kid)
        except IntegrityError:
            db.session.rollback()
    invalidate_cache()
    return created


def rotate(alg: str, *, actor: str) -> SigningKey:
    """Make a new key active; the old one keeps verifying until its tokens expire. Commits."""
    cfg = current_app.config["IDP"]
    now = clock.now()
    # Published long enough for every token it signed to expire, plus RP JWKS caching (24 h).
    keep = max(cfg["id_token_ttl"], cfg["access_token_ttl"]) + 24 * 3600
    for old in db.session.execute(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.state == "active")
    ).scalars():
        old.state = "retiring"
        old.retire_after = now + keep
    db.session.flush()
    new = generate_key(alg, state="active", actor=actor)
    record_event(EventTag.KEY_ROTATED, actor=actor, kid=new.kid, alg=alg)
    db.session.commit()
    invalidate_cache()
    return new


def list_keys() -> list[SigningKey]:
    return list(db.session.execute(select(SigningKey).order_by(SigningKey.created_at)).scalars())


# -- per-node cache -------------------------------------------------------------------
class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.loaded_at = -10**9
        self.generation = 0
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
    rows = db.session.execute(
        select(SigningKey).where(SigningKey.state.in_(PUBLISHED_STATES)).order_by(SigningKey.created_at.desc())
    ).scalars().all()
    active = {}
    published = {}
    for row in rows:
        if row.state == "retiring" and row.retire_after is not None and row.retire_after <= now:
            continue
        published[row.kid] = row.public_jwk
        if row.state == "active":
            private = json.loads(envelope.decrypt(_kek(), row.private_encrypted, row.kid.encode()))
            # Imported once per load, not per signature (importing costs more than signing).
            active[row.alg] = (row.kid, import_key(private))
    cache = _c()
    with cache.lock:
        cache.active = active
        cache.published = published
        cache.jwks_bytes = json.dumps({"keys": list(published.values())}, separators=(",", ":")).encode()
        cache.loaded_at = now
        cache.generation += 1


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
