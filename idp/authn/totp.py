"""TOTP second factor (RFC 6238, pyotp): 30 s steps, ±1 step window, each step accepted
once (last accepted step stored with an atomic compare-and-set, T50), seeds encrypted
at rest, a pending seed stays server-side until a valid code confirms it."""

from __future__ import annotations

import pyotp
from sqlalchemy import or_, update

from idp import clock
from idp.authn.models import TotpFactor
from idp.extensions import db
from idp.keys import envelope
from idp.keys.store import kek, keks

STEP = 30
WINDOW = 1
ISSUER_NAME = "SatuAkun"


def _aad(person_id: int) -> bytes:
    return f"totp:{person_id}".encode()


def secret_of(factor: TotpFactor) -> str:
    return envelope.decrypt_any(keks(), factor.secret_encrypted, _aad(factor.person_id)).decode()


def get_factor(person_id: int) -> TotpFactor | None:
    """The confirmed authenticator of a person, or None."""
    factor = db.session.get(TotpFactor, person_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


def start_enrolment(person_id: int) -> str:
    """Create (or replace) a pending seed; returns it (shown as QR and text). Commits."""
    secret = pyotp.random_base32()
    factor = db.session.get(TotpFactor, person_id)
    if factor is None:
        factor = TotpFactor(person_id=person_id, created_at=clock.now(), failures=0)
        db.session.add(factor)
    elif factor.confirmed_at is not None:
        # Replacing a confirmed factor: keep it working until the new one is confirmed.
        return _pending_replacement(person_id, secret)
    factor.secret_encrypted = envelope.encrypt(kek(), secret.encode(), _aad(person_id))
    factor.last_step = None
    db.session.commit()
    return secret


def _pending_replacement(person_id: int, secret: str) -> str:
    from flask import session

    # The new seed waits in the signed session cookie (encrypted) until confirmed.
    session["totp_pending"] = envelope.encrypt(kek(), secret.encode(), _aad(person_id)).hex()
    return secret


def pending_secret(person_id: int) -> str | None:
    from flask import session

    factor = db.session.get(TotpFactor, person_id)
    if factor is not None and factor.confirmed_at is None:
        return secret_of(factor)
    blob = session.get("totp_pending")
    if blob:
        try:
            return envelope.decrypt_any(keks(), bytes.fromhex(blob), _aad(person_id)).decode()
        except Exception:  # noqa: BLE001 - a bad or foreign blob is no pending seed
            return None
    return None


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The time step (±1) whose code equals ``code``, or None. Constant-time compare."""
    if not (isinstance(code, str) and len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    current = now // STEP
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            found = step
    return found


def confirm_enrolment(person_id: int, code: str) -> bool:
    """Activate the pending seed if ``code`` is valid. Commits."""
    from flask import session

    secret = pending_secret(person_id)
    now = clock.now()
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    factor = db.session.get(TotpFactor, person_id)
    factor.secret_encrypted = envelope.encrypt(kek(), secret.encode(), _aad(person_id))
    factor.confirmed_at = now
    factor.last_step = step
    factor.failures = 0
    factor.locked_until = None
    session.pop("totp_pending", None)
    db.session.commit()
    return True


def uri(secret: str, label: str) -> str:
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=label, issuer_name=ISSUER_NAME)


def verify(factor: TotpFactor, code: str) -> bool:
    """Accept ``code`` once. The UPDATE ... WHERE last_step < step is the compare-and-set:
    two nodes given the same code race in the database and one wins."""
    step = matching_step(secret_of(factor), code, clock.now())
    if step is None:
        return False
    won = db.session.execute(
        update(TotpFactor)
        .where(TotpFactor.person_id == factor.person_id, or_(TotpFactor.last_step.is_(None), TotpFactor.last_step < step))
        .values(last_step=step)
    ).rowcount
    db.session.commit()
    return won == 1
