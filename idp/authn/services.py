"""Sign-in and server-side SSO sessions.

The session cookie carries 256 random bits; the database keeps only their SHA-256, so
every node sees the same sessions and a database leak yields no usable cookie.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from flask import current_app
from sqlalchemy import func, select, update

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
    # Read for every NIK, before the hash, so the lockout costs no extra time (T36).
    recovery_required = needs_recovery(account_key)
    person = identity.get_person_by_nik(raw_nik)
    stored = person.password_hash if person is not None else None
    ok, new_hash = passwords.verify_password(stored, password)
    if not ok or person is None or person.locked or recovery_required:
        record_event(
            EventTag.LOGIN_FAILURE,
            actor="citizen",
            person_id=person.id if person is not None else None,
            remote_addr=remote_addr,
            **({"recovery_required": True} if recovery_required else {}),
        )
        db.session.commit()
        failures = throttle.fail(account_key, throttle.ACCOUNT)
        throttle.fail(source_key, throttle.SOURCE)
        if failures == throttle.ACCOUNT.lockout and person is not None:
            record_event(EventTag.PASSWORD_LOCKED_OUT, actor="citizen", person_id=person.id, remote_addr=remote_addr)
            db.session.commit()
        raise InvalidCredentialsError()
    if new_hash:
        person.password_hash = new_hash
    if not has_second_factor(person.id):
        throttle.reset(account_key)  # with MFA, only a full login resets it (below)
    return person


def needs_recovery(account_key: str) -> bool:
    """Whether the password alone may no longer sign in to the account behind
    ``account_key`` (from `_account_key` or `password_throttle_key`): true after 100
    consecutive password failures (SECURITY.md "Password failures per account"), even for
    the right password, until a successful account recovery or a full multi-factor
    sign-in resets the counter. Callers answer exactly as for a wrong password (T36).
    The rule and its reasons are in idp/authn/throttle.py."""
    return throttle.locked_out(account_key, throttle.ACCOUNT)


def password_throttle_key(person: Person) -> str:
    """The per-account password failure counter of ``person`` (the key `_account_key` gives
    for their NIK)."""
    return throttle.key("pwd-acct", person.nik_index)


def has_second_factor(person_id: int) -> bool:
    from idp.authn import recovery, totp, webauthn

    return (
        totp.get_factor(person_id) is not None or recovery.remaining(person_id) > 0
        or webauthn.has_credentials(person_id)
    )


class FactorLockedError(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


class TotpBlockedError(Exception):
    """The authenticator app is refused after TOTP_RECOVERY_AFTER consecutive failures
    (see `_second_factor_result`); recovery codes and passkeys still work."""


FACTOR_LOCK_AFTER = 10
FACTOR_LOCK_SECONDS = 900
TOTP_RECOVERY_AFTER = 30


def totp_blocked(person_id: int) -> bool:
    """True when the person's authenticator app is refused until a recovery or a new
    enrolment (TOTP_RECOVERY_AFTER consecutive second-factor failures)."""
    factor = db.session.get(TotpFactor, person_id)
    return factor is not None and (factor.failures or 0) >= TOTP_RECOVERY_AFTER


def clear_failures(person: Person) -> None:
    """After a completed account recovery: the password lockout and the count of
    second-factor failures (with the app block and any lock) start again from zero.
    The caller commits."""
    throttle.reset(password_throttle_key(person), commit=False)
    db.session.execute(update(TotpFactor).where(TotpFactor.person_id == person.id).values(failures=0, locked_until=None))


def _check_factor_lock(person_id: int, now: int) -> None:
    factor = db.session.get(TotpFactor, person_id)
    if factor is not None and factor.locked_until and factor.locked_until > now:
        raise FactorLockedError(factor.locked_until - now)


def _second_factor_result(person: Person, amr: list[str] | None, now: int, remote_addr: str) -> list[str] | None:
    """Count a failure toward the per-account locks or reset the count after a success. Commits.

    SECURITY.md "TOTP" and T52: the count of consecutive second-factor failures survives
    new transactions and new password logins. Every 10th failure (10, 20, 30, ...) locks
    every second factor for 15 minutes and the citizen is told, once per lock (the
    increment is one atomic UPDATE, so of two nodes counting at once only one reaches the
    10th). From 30 on, the authenticator app is refused outright (TotpBlockedError): someone
    who keeps getting past the password step is guessing codes, so the password is known to
    them and must change. Recovery codes and passkeys still work, but a sign-in with them
    does not lift the block; a completed account recovery (which sets a new password) or a
    new enrolment of the app does."""
    factor = db.session.get(TotpFactor, person.id)
    if amr is None:
        record_event(EventTag.MFA_FAILURE, actor="citizen", person_id=person.id, remote_addr=remote_addr)
        locked = False
        if factor is not None:
            db.session.execute(
                update(TotpFactor).where(TotpFactor.person_id == person.id)
                .values(failures=func.coalesce(TotpFactor.failures, 0) + 1)
            )
            db.session.refresh(factor)
            if factor.failures % FACTOR_LOCK_AFTER == 0:
                factor.locked_until = now + FACTOR_LOCK_SECONDS
                locked = True
                record_event(EventTag.MFA_LOCKED, actor="citizen", person_id=person.id, remote_addr=remote_addr,
                             failures=factor.failures, totp_blocked=factor.failures >= TOTP_RECOVERY_AFTER)
        db.session.commit()
        if locked:
            from idp.authn import notices

            notices.notify_person(person, "factor_locked")
        return None
    if factor is not None and (factor.failures or 0) < TOTP_RECOVERY_AFTER:
        factor.failures = 0
    throttle.reset(password_throttle_key(person), commit=False)  # a full login resets it
    db.session.commit()
    return amr


def can_give_second_factor(person: Person) -> bool:
    """An enrolled factor, or at least a verified contact for a one-time code (oob.py)."""
    from idp.authn import oob

    return has_second_factor(person.id) or bool(oob.channels(person))


def verify_second_factor(person: Person, code: str, *, remote_addr: str, binding: str | None = None) -> list[str] | None:
    """Check a TOTP code, a recovery code or, when ``binding`` (the sign-in transaction's
    uid hash) is given, a code sent by SMS/WhatsApp/e-mail (oob.py). Returns the `amr`
    values added, or None.

    Per account, 10 consecutive wrong codes lock the authenticator for 15 minutes (T52);
    the counter survives new transactions and new password logins. Raises
    FactorLockedError while locked, and TotpBlockedError for an app code after 30
    (`_second_factor_result`); such a refused code is not counted."""
    from idp.authn import recovery, totp

    now = clock.now()
    _check_factor_lock(person.id, now)
    factor = db.session.get(TotpFactor, person.id)
    code = (code or "").strip()
    amr = None
    confirmed = factor is not None and factor.confirmed_at is not None
    if len(code) == 6 and code.isdigit():
        from idp.authn import oob

        blocked = confirmed and (factor.failures or 0) >= TOTP_RECOVERY_AFTER
        if confirmed and not blocked and totp.verify(factor, code):
            amr = ["otp"]
        elif binding is not None and oob.pending(person.id, binding) is not None:
            amr = oob.verify(person.id, code, binding=binding)
        elif blocked:
            raise TotpBlockedError()
    elif recovery.use(person.id, code):
        amr = ["otp"]  # a look-up secret is a one-time code (RFC 8176 has no closer value)
    return _second_factor_result(person, amr, now, remote_addr)


def verify_passkey_second_factor(person: Person, response: str, *, interaction: str, remote_addr: str) -> list[str] | None:
    """Check a passkey assertion as the second factor of ``person`` in the interaction whose
    uid hash is ``interaction``. Returns the `amr` values added (`hwk`/`swk`, `user`), or
    None. A refused assertion counts like a wrong code toward the lock (T52). Raises
    FactorLockedError while locked."""
    from idp.authn import webauthn

    now = clock.now()
    _check_factor_lock(person.id, now)
    try:
        amr = webauthn.authenticate(response, person_id=person.id, binding=interaction, remote_addr=remote_addr).amr
    except webauthn.PasskeyError as exc:
        logging.getLogger(__name__).info("passkey second factor refused: %s", exc.reason)
        amr = None
    return _second_factor_result(person, amr, now, remote_addr)


def authenticate_passkey(response: str, *, interaction: str, remote_addr: str) -> tuple[Person, list[str]]:
    """Passwordless sign-in with a passkey and user verification, in the interaction whose
    uid hash is ``interaction``. Returns the person and the `amr` values (key, `user`,
    `mfa`: possession plus the PIN or biometric that unlocked it; level 2, see acr.py).

    Raises InvalidCredentialsError (one answer for every refusal, as for passwords) and
    throttle.ThrottledError: refusals are counted per source address only, because the
    person is not known before the signature is checked and nobody must be able to lock
    someone else out by sending bad assertions for their credential id."""
    from idp.authn import webauthn

    source_key = throttle.key("passkey-src", remote_addr)
    throttle.check(source_key)
    person = None
    try:
        assertion = webauthn.authenticate(response, person_id=None, binding=interaction, remote_addr=remote_addr)
        person = db.session.get(Person, assertion.person_id)
        if person is None or person.locked:
            raise webauthn.PasskeyError("person locked", assertion.person_id)
    except webauthn.PasskeyError as exc:
        logging.getLogger(__name__).info("passkey sign-in refused: %s", exc.reason)
        record_event(EventTag.LOGIN_FAILURE, actor="citizen", person_id=exc.person_id, remote_addr=remote_addr, method="passkey")
        db.session.commit()
        throttle.fail(source_key, throttle.SOURCE)
        raise InvalidCredentialsError() from exc
    throttle.reset(throttle.key("pwd-acct", person.nik_index))  # a full (multi-factor) login resets it
    return person, [*assertion.amr, "mfa"]


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
        acr=acr.for_person(acr_value, person.identity_level or 1),
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


def sign_out_everywhere(person_id: int) -> None:
    """After a password reset, a credential reset by an officer or a takeover: every
    session ends and every access and refresh token of the person is revoked, on all
    nodes (the database is the only state). The caller commits."""
    end_all_sessions(person_id)
    signals.person_disabled.send(person_id)


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
