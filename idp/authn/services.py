"""Sign-in and server-side SSO sessions.

The session cookie carries 256 random bits; the database keeps only their SHA-256, so
every node sees the same sessions and a database leak yields no usable cookie.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from sqlalchemy import select, update

from idp import clock, signals
from idp.audit.services import EventTag, record_event
from idp.authn import acr, passwords, throttle
from idp.authn.models import Session, TotpFactor
from idp.extensions import db
from idp.identity import services as identity
from idp.identity.models import Person


class InvalidCredentialsError(Exception):
    """Unknown NIK, wrong password, locked account: one error, one message (T36)."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _account_key(raw_nik: str) -> str:
    # Keyed by the blind index of the NIK as typed (or of the raw input when malformed),
    # so an unknown NIK is throttled exactly like a known one: no enumeration.
    from idp.identity.nik import InvalidNIKError, normalize_nik

    try:
        subject = identity.nik_index(normalize_nik(raw_nik))
    except InvalidNIKError:
        subject = "raw:" + raw_nik[:64]
    return throttle.key("pwd-acct", subject)


def authenticate_password(raw_nik: str, password: str, *, remote_addr: str) -> Person:
    """Check a NIK and password. Returns the person or raises InvalidCredentialsError.

    Runs one argon2id verification whatever the outcome, so an unknown NIK, a wrong
    password and a locked account cost the same time and give the same answer.
    Raises throttle.ThrottledError (too many recent failures for this NIK or address)
    and passwords.HashingBusyError under overload.
    """
    account_key, source_key = _account_key(raw_nik), throttle.key("pwd-src", remote_addr)
    throttle.check(account_key, source_key)
    person = identity.get_person_by_nik(raw_nik)
    stored = person.password_hash if person is not None else None
    ok, new_hash = passwords.verify_password(stored, password)
    if not ok or person is None or person.locked:
        record_event(
            EventTag.LOGIN_FAILURE,
            actor="citizen",
            person_id=person.id if person is not None else None,
            remote_addr=remote_addr,
        )
        db.session.commit()
        throttle.fail(account_key, throttle.ACCOUNT)
        throttle.fail(source_key, throttle.SOURCE)
        raise InvalidCredentialsError()
    if new_hash:
        person.password_hash = new_hash
    if not has_second_factor(person.id):
        throttle.reset(account_key)  # with MFA, only a full login resets it (below)
    return person


def has_second_factor(person_id: int) -> bool:
    from idp.authn import recovery, totp

    return totp.get_factor(person_id) is not None or recovery.remaining(person_id) > 0


class FactorLockedError(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


FACTOR_LOCK_AFTER = 10
FACTOR_LOCK_SECONDS = 900


def verify_second_factor(person: Person, code: str, *, remote_addr: str) -> list[str] | None:
    """Check a TOTP or recovery code. Returns the `amr` values added, or None.

    Per account, 10 consecutive wrong codes lock the authenticator for 15 minutes (T52);
    the counter survives new transactions and new password logins. Raises
    FactorLockedError while locked."""
    from idp.authn import recovery, totp

    now = clock.now()
    factor = db.session.get(TotpFactor, person.id)
    if factor is not None and factor.locked_until and factor.locked_until > now:
        raise FactorLockedError(factor.locked_until - now)
    code = (code or "").strip()
    amr = None
    confirmed = factor is not None and factor.confirmed_at is not None
    if confirmed and len(code) == 6 and code.isdigit():
        if totp.verify(factor, code):
            amr = ["otp"]
    elif recovery.use(person.id, code):
        amr = ["otp"]  # a look-up secret is a one-time code (RFC 8176 has no closer value)
    factor = db.session.get(TotpFactor, person.id)
    if amr is None:
        record_event(EventTag.MFA_FAILURE, actor="citizen", person_id=person.id, remote_addr=remote_addr)
        if factor is not None:
            factor.failures = (factor.failures or 0) + 1
            if factor.failures >= FACTOR_LOCK_AFTER:
                factor.locked_until = now + FACTOR_LOCK_SECONDS
                factor.failures = 0
        db.session.commit()
        return None
    if factor is not None:
        factor.failures = 0
    throttle.reset(throttle.key("pwd-acct", person.nik_index))  # a full login resets it
    db.session.commit()
    return amr


def start_session(person: Person, *, amr: list[str], remote_addr: str, acr_value: str = acr.LOA1) -> str:
    """Create a new SSO session (a fresh id after every authentication: T56).

    Returns the cookie value. Commits.
    """
    cfg = current_app.config["IDP"]
    now = clock.now()
    value = secrets.token_urlsafe(32)
    session = Session(
        id_hash=_hash(value),
        sid=secrets.token_urlsafe(16),
        person_id=person.id,
        auth_time=now,
        acr=acr_value,
        amr=amr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + cfg["session_absolute_ttl"],
        ended_at=None,
    )
    db.session.add(session)
    record_event(EventTag.LOGIN_SUCCESS, actor="citizen", person_id=person.id, remote_addr=remote_addr, amr=amr)
    db.session.commit()
    return value


def get_session(cookie_value: str | None) -> Session | None:
    """The live session for a cookie value, or None (ended, expired, idle, locked person)."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    session = db.session.get(Session, _hash(cookie_value))
    if session is None or session.ended_at is not None:
        return None
    now = clock.now()
    cfg = current_app.config["IDP"]
    if now >= session.expires_at or now - session.last_seen_at >= cfg["session_idle_ttl"]:
        return None
    person = db.session.get(Person, session.person_id)
    if person is None or person.locked:
        return None
    if now - session.last_seen_at >= 60:
        # Touch at most once a minute: keeps idle expiry honest without a write per request.
        session.last_seen_at = now
        db.session.commit()
    return session


def end_session(session: Session, *, actor: str = "citizen") -> None:
    """End one SSO session and revoke the refresh tokens issued under it. Commits."""
    now = clock.now()
    session.ended_at = now
    signals.session_ended.send(session.sid)
    record_event(EventTag.LOGOUT, actor=actor, person_id=session.person_id, sid=session.sid)
    db.session.commit()


def end_all_sessions(person_id: int) -> None:
    """End every live session of a person (the caller commits)."""
    now = clock.now()
    sids = db.session.execute(
        select(Session.sid).where(Session.person_id == person_id, Session.ended_at.is_(None))
    ).scalars().all()
    db.session.execute(
        update(Session).where(Session.person_id == person_id, Session.ended_at.is_(None)).values(ended_at=now)
    )
    for sid in sids:
        signals.session_ended.send(sid)


def list_sessions(person_id: int) -> list[Session]:
    """The person's live SSO sessions, newest first (for the account page, T61)."""
    now = clock.now()
    cfg = current_app.config["IDP"]
    rows = db.session.execute(
        select(Session).where(Session.person_id == person_id, Session.ended_at.is_(None), Session.expires_at > now)
        .order_by(Session.created_at.desc())
    ).scalars().all()
    return [s for s in rows if now - s.last_seen_at < cfg["session_idle_ttl"]]


def end_session_by_sid(person_id: int, sid: str) -> bool:
    """End one of the person's own sessions by its public id. Commits. False if not theirs."""
    session = db.session.execute(
        select(Session).where(Session.sid == sid, Session.person_id == person_id, Session.ended_at.is_(None))
    ).scalar_one_or_none()
    if session is None:
        return False
    end_session(session)
    return True
