"""Recovery codes: 10 single-use look-up secrets of 12 Crockford base32 characters (60
bits), shown once, stored argon2id-hashed; a new set replaces the old (T53)."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update

from idp import clock
from idp.authn import passwords
from idp.authn.models import RecoveryCode
from idp.extensions import db

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
COUNT = 10
LENGTH = 12


def normalize(code: str) -> str:
    """Upper-case, drop separators and spaces, map look-alikes (Crockford decoding)."""
    code = "".join(ch for ch in code.upper() if ch.isalnum())
    return code.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def generate(person_id: int) -> list[str]:
    """A new set, replacing any old one. Returns the codes for display (once). Commits."""
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    now = clock.now()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))
    for code in codes:
        db.session.add(RecoveryCode(person_id=person_id, code_hash=passwords.hash_password(code), created_at=now))
    db.session.commit()
    return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in codes]


def remaining(person_id: int) -> int:
    return len(db.session.execute(
        select(RecoveryCode.id).where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))
    ).all())


def use(person_id: int, raw: str) -> bool:
    """Consume a matching unused code. Commits on success."""
    code = normalize(raw)
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return False
    rows = db.session.execute(
        select(RecoveryCode).where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))
    ).scalars().all()
    for row in rows:
        ok, _ = passwords.verify_password(row.code_hash, code)
        if ok:
            won = db.session.execute(
                update(RecoveryCode).where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None)).values(used_at=clock.now())
            ).rowcount
            db.session.commit()
            return won == 1
    return False
