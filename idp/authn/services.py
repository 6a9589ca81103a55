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
from idp.authn import acr, passwords
from idp.authn.models import Session
from idp.extensions import db
from idp.identity import services as identity
from idp.identity.models import Person


class InvalidCredentialsError(Exception):
    """Unknown NIK, wrong password, locked account: one error, one message (T36)."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def authenticate_password(raw_nik: str, password: str, *, remote_addr: str) -> Person:
    """Check a NIK and password. Returns the person or raises InvalidCredentialsError.

    Runs one argon2id verification whatever the outcome, so an unknown NIK, a wrong
    password and a locked account cost the same time and give the same answer.
    Raises passwords.HashingBusyError under overload.
    """
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
        raise InvalidCredentialsError()
    if new_hash:
        person.password_hash = new_hash
    return person


def start_session(person: Person, *, amr: list[str], remote_addr: str) -> str:
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
        acr=acr.LOA1,
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
