"""Signing-key lifecycle: generate, rotate, retire, revoke, import, rewrap.

Every change is one database transaction, so a process killed at any point leaves the
previous state (exactly one active key per algorithm, guarded by a partial unique index)
and re-running completes the operation. Concurrent operators or cron jobs on several
nodes race on conditional UPDATEs: one wins, the others see "already done".

Timing (SECURITY.md "Signing keys"): a standby key is published `key_prepublish_seconds`
(48 h) before it may sign, so relying parties that cache the JWKS for up to 24 h have it;
a replaced key stays published `key_retire_seconds` (7 days) so every token it signed
still verifies. Revocation removes a key at once and promotes the standby immediately.
"""

from __future__ import annotations

import json
import socket
import warnings

from flask import current_app
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.keys import envelope, store
from idp.keys.models import SigningKey


class KeyError_(Exception):
    """Base of key lifecycle errors (named to avoid shadowing the builtin)."""


class NotDueError(KeyError_):
    pass


class StandbyNotReadyError(KeyError_):
    def __init__(self, alg: str, age: int, needed: int):
        super().__init__(
            f"{alg}: the standby key has been published {age} s, it needs {needed} s before it may sign "
            f"(relying parties may not have it yet); use --force in an emergency"
        )


class ConcurrentChangeError(KeyError_):
    pass


class UnknownKeyError(KeyError_):
    pass


class InvalidKeyError(KeyError_):
    pass


def _cfg():
    return current_app.config["IDP"]


def _audit(tag: EventTag, actor: str, **data) -> None:
    record_event(tag, actor=actor, host=socket.gethostname(), **data)


def _active(alg: str) -> SigningKey | None:
    return db.session.execute(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.state == "active")
    ).scalar_one_or_none()


def _lock(alg: str) -> None:
    """Queue changes to one algorithm's keys: lock all its rows (PostgreSQL; SQLite
    serialises writers anyway). A waiter's next statement sees the winner's commit."""
    db.session.execute(select(SigningKey.kid).where(SigningKey.alg == alg).with_for_update()).all()


def _standby(alg: str) -> SigningKey | None:
    return db.session.execute(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.state == "next").order_by(SigningKey.created_at)
    ).scalars().first()


def generate(alg: str, *, actor: str, state: str = "next") -> SigningKey:
    """Generate a key (published as standby by default). Commits."""
    if alg not in store.SUPPORTED_ALGS:
        raise InvalidKeyError(f"unsupported algorithm {alg}")
    row = store.seal(store.new_private_key(alg), alg, state)
    db.session.add(row)
    _audit(EventTag.KEY_GENERATED, actor, kid=row.kid, alg=alg, state=state)
    db.session.commit()
    store.invalidate_cache()
    return row


def ensure(actor: str) -> list[str]:
    """Each configured algorithm gets an active key and a standby key. Commits.

    Safe when several nodes start at once: the partial unique index lets one active
    insert win; the others roll back and find the winner's key."""
    created = []
    for alg in store.configured_algs():
        if _active(alg) is None:
            row = store.seal(store.new_private_key(alg), alg, "active")
            db.session.add(row)
            _audit(EventTag.KEY_GENERATED, actor, kid=row.kid, alg=alg, state="active")
            try:
                db.session.commit()
                created.append(row.kid)
            except IntegrityError:
                db.session.rollback()
        if _standby(alg) is None:
            created.append(generate(alg, actor=actor).kid)
    store.invalidate_cache()
    return created


def _swap(alg: str, old: SigningKey | None, new: SigningKey, *, now: int, old_state: str) -> None:
    """Demote ``old`` and promote ``new`` in the current transaction, guarded against races."""
    if old is not None:
        values = {"state": old_state}
        if old_state == "retiring":
            values["retire_after"] = now + _cfg()["key_retire_seconds"]
        else:
            values["revoked_at"] = now
        done = db.session.execute(
            update(SigningKey).where(SigningKey.kid == old.kid, SigningKey.state == "active").values(**values)
        ).rowcount
        if done != 1:
            raise ConcurrentChangeError(f"{alg}: another operator or node changed the active key")
    done = db.session.execute(
        update(SigningKey).where(SigningKey.kid == new.kid, SigningKey.state == "next").values(state="active", activated_at=now)
    ).rowcount
    if done != 1:
        raise ConcurrentChangeError(f"{alg}: the standby key was taken by another rotation")


def rotate(alg: str, *, actor: str, if_older_than: int | None = None, force: bool = False) -> SigningKey:
    """Planned rotation: the standby key becomes active, the active key starts retiring,
    a new standby is published. One transaction. Commits.

    Raises NotDueError (``if_older_than`` not reached), StandbyNotReadyError (the standby
    is younger than the pre-publication window and not ``force``), ConcurrentChangeError
    (someone else rotated at the same moment: nothing to do)."""
    cfg = _cfg()
    now = clock.now()
    _lock(alg)
    old = _active(alg)
    if if_older_than is not None and old is not None and now - (old.activated_at or old.created_at) < if_older_than:
        db.session.rollback()
        raise NotDueError(f"{alg}: the active key is younger than {if_older_than} s")
    new = _standby(alg)
    if new is None:
        if not force:
            db.session.rollback()
            generate(alg, actor=actor)
            raise StandbyNotReadyError(alg, 0, cfg["key_prepublish_seconds"])
        new = store.seal(store.new_private_key(alg), alg, "next")
        db.session.add(new)
        db.session.flush()
    age = now - new.created_at
    if age < cfg["key_prepublish_seconds"] and not force:
        db.session.rollback()
        raise StandbyNotReadyError(alg, age, cfg["key_prepublish_seconds"])
    try:
        _swap(alg, old, new, now=now, old_state="retiring")
        standby = store.seal(store.new_private_key(alg), alg, "next")
        db.session.add(standby)
        _audit(EventTag.KEY_ROTATED, actor, alg=alg, activated=new.kid, retiring=old.kid if old else None, standby=standby.kid)
        db.session.commit()
    except (ConcurrentChangeError, IntegrityError):
        db.session.rollback()
        raise ConcurrentChangeError(f"{alg}: another rotation happened at the same time") from None
    store.invalidate_cache()
    return new


def retire(kid: str, *, actor: str) -> SigningKey:
    """Stop publishing a standby key, or end a retiring key's grace period now. Commits."""
    row = store.get_key(kid)
    if row is None:
        raise UnknownKeyError(kid)
    if row.state == "active":
        raise InvalidKeyError("the active key is replaced with 'idp keys rotate' (or 'revoke' if compromised)")
    if row.state == "revoked":
        raise InvalidKeyError("the key is revoked")
    row.state = "retiring"
    row.retire_after = clock.now()
    _audit(EventTag.KEY_RETIRED, actor, kid=kid, alg=row.alg)
    db.session.commit()
    if store.configured_algs() and row.alg in store.configured_algs() and _standby(row.alg) is None:
        generate(row.alg, actor=actor)
    store.invalidate_cache()
    return row


def revoke(kid: str, *, actor: str, reason: str) -> SigningKey:
    """Compromise: remove the key from the JWKS at once. If it was active, the standby key
    signs from now on (no propagation wait: it is already published) and a new standby is
    generated. Commits."""
    row = store.get_key(kid)
    if row is None:
        raise UnknownKeyError(kid)
    if row.state == "revoked":
        return row
    now = clock.now()
    try:
        if row.state == "active":
            new = _standby(row.alg)
            if new is None:
                new = store.seal(store.new_private_key(row.alg), row.alg, "next")
                db.session.add(new)
                db.session.flush()
            _swap(row.alg, row, new, now=now, old_state="revoked")
        else:
            row.state, row.revoked_at = "revoked", now
        db.session.execute(update(SigningKey).where(SigningKey.kid == kid).values(revoked_reason=reason[:500]))
        _audit(EventTag.KEY_REVOKED, actor, kid=kid, alg=row.alg, reason=reason[:500])
        db.session.commit()
    except (ConcurrentChangeError, IntegrityError):
        db.session.rollback()
        raise ConcurrentChangeError(f"{kid}: changed by another operator at the same time") from None
    if _standby(row.alg) is None:
        generate(row.alg, actor=actor)
    store.invalidate_cache()
    db.session.refresh(row)
    return row


def import_private_key(data: str, alg: str, *, actor: str) -> SigningKey:
    """Import a PEM or JWK private key as a standby key (FAPI 2 §5.4: RSA >= 2048, EC
    P-256, Ed25519 only; duplicate kid refused). Commits."""
    try:
        with warnings.catch_warnings():
            # joserfc warns about small keys; we refuse them below with a clear message.
            warnings.simplefilter("ignore")
            if data.lstrip().startswith("{"):
                key = import_key(json.loads(data))
            else:
                key = {"ES256": ECKey, "RS256": RSAKey, "PS256": RSAKey, "EdDSA": OKPKey}[alg].import_key(data)
    except Exception:  # noqa: BLE001 - any parse failure is the same answer
        raise InvalidKeyError("not a private key in PEM or JWK form") from None
    if not key.is_private:
        raise InvalidKeyError("a public key cannot sign")
    kty = key.key_type
    if alg in ("RS256", "PS256"):
        if kty != "RSA" or key.raw_value.key_size < 2048:
            raise InvalidKeyError("RSA keys must be at least 2048 bits")
    elif alg == "ES256":
        if kty != "EC" or key.as_dict().get("crv") != "P-256":
            raise InvalidKeyError("ES256 needs an EC key on P-256")
    elif alg == "EdDSA":
        if kty != "OKP" or key.as_dict().get("crv") != "Ed25519":
            raise InvalidKeyError("EdDSA needs an Ed25519 key")
    else:
        raise InvalidKeyError(f"unsupported algorithm {alg}")
    if store.get_key(key.thumbprint()) is not None:
        raise InvalidKeyError("a key with this kid already exists")
    row = store.seal(key, alg, "next")
    db.session.add(row)
    _audit(EventTag.KEY_IMPORTED, actor, kid=row.kid, alg=alg)
    db.session.commit()
    store.invalidate_cache()
    return row


def rewrap(*, actor: str, progress=None, batch: int = 1000) -> int:
    """Re-encrypt, under the current KEK, every private key, TOTP seed, NIK (people and
    registrations) and local-registry record still encrypted under
    the previous one (``IDP_SECRET_KEK_PREVIOUS`` / keys/kek_previous.key). Batched and
    idempotent: safe to interrupt and re-run. Returns the number of values rewrapped.

    Procedure (README runbook): install the new KEK as `kek` and the old one as
    `kek_previous` on every node, run this once, then remove `kek_previous`."""
    from idp.authn.models import TotpFactor
    from idp.identity.models import Person

    current = store.kek()
    count = 0
    for row in db.session.execute(select(SigningKey)).scalars():
        if not envelope.decrypts_with(current, row.private_encrypted, row.kid.encode()):
            plain = envelope.decrypt_any(store.keks(), row.private_encrypted, row.kid.encode())
            row.private_encrypted = envelope.encrypt(current, plain, row.kid.encode())
            count += 1
    for factor in db.session.execute(select(TotpFactor)).scalars():
        aad = f"totp:{factor.person_id}".encode()
        if not envelope.decrypts_with(current, factor.secret_encrypted, aad):
            plain = envelope.decrypt_any(store.keks(), factor.secret_encrypted, aad)
            factor.secret_encrypted = envelope.encrypt(current, plain, aad)
            count += 1
    db.session.commit()
    from idp.documents.models import Document
    from idp.registration.models import Registration
    from idp.registry.local import RegistryRecord

    # (model, ciphertext attribute, associated data of a row): the large tables, batched.
    for model, attr, aad in (
        (Person, "nik_encrypted", lambda row: b"person.nik"),
        (Registration, "nik_encrypted", lambda row: b"person.nik"),
        (RegistryRecord, "payload_encrypted", lambda row: b"registry.record:" + row.nik_index.encode()),
        # Per-document data keys (idp/documents/services.py); erased documents have none.
        (Document, "data_key_wrapped", lambda row: b"document.key:" + row.public_id.encode()),
    ):
        last_id = 0
        while True:
            rows = db.session.execute(select(model).where(model.id > last_id).order_by(model.id).limit(batch)).scalars().all()
            if not rows:
                break
            for row in rows:
                blob = getattr(row, attr)
                if blob is not None and not envelope.decrypts_with(current, blob, aad(row)):
                    plain = envelope.decrypt_any(store.keks(), blob, aad(row))
                    setattr(row, attr, envelope.encrypt(current, plain, aad(row)))
                    count += 1
            last_id = rows[-1].id
            db.session.commit()
            if progress:
                progress(last_id, count)
    _audit(EventTag.KEK_REWRAPPED, actor, values=count)
    db.session.commit()
    return count
