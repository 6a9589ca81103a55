"""Account recovery rules (issue #3 "Recovery"; SECURITY.md T36, T46, T52).

A server-side state machine bound to one browser, as registration is:

1. ``start``: NIK + date of birth (checked against what the account holds) + a channel
   (SMS or e-mail). A 6-digit code goes to the account's *verified* contact on that
   channel, valid `reset_code_ttl_sms` (10 min) or `reset_code_ttl_email` (30 min),
   `otp_max_attempts` (5) tries, single use. Whatever the facts, the browser sees the same
   next page: an unknown NIK, a wrong date of birth, a locked account or no verified
   contact on that channel give a recovery whose code can never be right (T36). Sends are
   capped per NIK as typed and per source address, visibly (the same for every NIK), and
   per destination silently (a refusal there would tell that the destination exists).
   For the same reason a failed delivery is logged, not shown.
2. ``verify_code``.
3. When the account has a second factor it must be given now (``verify_factor`` for an
   app or recovery code, ``verify_passkey`` for a passkey), through the same functions as
   the login, so failures count exactly as there: 5 void the recovery, 10 consecutive lock
   the factor for 15 minutes, 30 block the app (idp/authn/services.py). A reset never
   removes or skips a second factor (T46). Without one the contact code suffices (the
   account is password-only, level 1) and the new password needs 15 characters.
4. ``complete``: the new password; the password lockout and the second-factor failure
   count are cleared, every session and token of the person ends, an audit event is
   written, and every verified contact is told.

Whoever has lost every factor (or the contact) cannot recover online: an officer at an
MPP counter checks the KTP in person (idp/counter).

Every function takes plain values and raises a domain error the view maps to a page.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from flask import current_app
from sqlalchemy import select

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn import notices, password_policy, passwords, ratelimit, recovery, totp, webauthn
from idp.authn import services as authn
from idp.authn.ratelimit import Limit, RateLimitedError
from idp.extensions import db
from idp.identity import contact as contacts
from idp.identity import nik as nik_mod
from idp.identity import services as identity
from idp.identity.models import Person
from idp.notify import services as notify
from idp.recovery.models import Recovery

log = logging.getLogger(__name__)

__all__ = [
    "CHANNELS",
    "CodeExpiredError",
    "InvalidCodeError",
    "RateLimitedError",
    "RecoveryStateError",
    "RecoveryVoidError",
    "complete",
    "factor_choices",
    "get",
    "passkey_options",
    "resend_code",
    "start",
    "verify_code",
    "verify_factor",
    "verify_passkey",
]

CHANNELS = ("sms", "email")
RECOVERY_TTL = 3600  # a recovery lives one hour from its start (the e-mail code alone: 30 min)
CODE_DIGITS = 6
MAX_SENDS_PER_RECOVERY = 3
FACTOR_TRANSACTION_LIMIT = 5  # as a sign-in transaction (T52)

# SECURITY.md "SMS/WA/e-mail codes": 1 per 60 s, 3 per 15 min, 10 per day per number;
# the same per NIK as typed, so repeated requests for one NIK are refused alike whether
# or not it has an account.
SEND_CAPS = (Limit(1, 60), Limit(3, 900), Limit(10, 86400))
SENDS_PER_ADDRESS = (Limit(20, 3600), Limit(100, 86400))


class RecoveryStateError(Exception):
    """No live recovery in this browser, or a step was skipped."""


class InvalidCodeError(Exception):
    def __init__(self, attempts_left: int):
        super().__init__(attempts_left)
        self.attempts_left = attempts_left


class CodeExpiredError(Exception):
    """The code expired or was tried too many times; a new one may be sent."""


class RecoveryVoidError(Exception):
    """Too many wrong second factors: this recovery is over; the citizen starts again."""


def _hash_handle(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def _code_hash(rec_id: int, code: str) -> str:
    key = current_app.extensions["idp_secrets"]["session"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, f"recovery:{rec_id}:{code}".encode(), hashlib.sha256).hexdigest()


def code_ttl(channel: str) -> int:
    """Lifetime in seconds of a reset code sent on ``channel``."""
    cfg = current_app.config["IDP"]
    return cfg["reset_code_ttl_email"] if channel == "email" else cfg["reset_code_ttl_sms"]


def get(handle: str | None) -> Recovery | None:
    """The live recovery behind a browser's handle, or None."""
    if not handle or len(handle) > 128:
        return None
    rec = db.session.execute(select(Recovery).where(Recovery.handle_hash == _hash_handle(handle))).scalar_one_or_none()
    if rec is None or rec.expires_at <= clock.now():
        return None
    return rec


def _require_step(rec: Recovery | None, *steps: str) -> Recovery:
    if rec is None or rec.step not in steps:
        raise RecoveryStateError()
    return rec


def _person(rec: Recovery) -> Person:
    person = db.session.get(Person, rec.person_id) if rec.person_id is not None else None
    if person is None or person.locked:
        raise RecoveryStateError()
    return person


def _destination(person: Person, channel: str) -> str | None:
    """The person's verified contact on ``channel``, or None."""
    return dict(notices.verified_contacts(person)).get(channel)


def start(raw_nik: str, birthdate: str, channel: str, *, locale: str, remote_addr: str) -> tuple[str, Recovery]:
    """Open a recovery and send a code if the facts match (see the module docstring).

    ``birthdate`` is an ISO date. Returns (handle for the browser, recovery): the same
    whether or not a code was sent. Raises InvalidNIKError (a NIK that is not well formed,
    or a date of birth other than the one the NIK itself encodes: both follow from the
    input alone), InvalidContactError("contact.channel") or RateLimitedError.
    """
    if channel not in CHANNELS:
        raise contacts.InvalidContactError("contact.channel")
    parsed = nik_mod.parse_nik(raw_nik)
    nik_mod.check_nik_birthdate(parsed, birthdate)
    index = identity.nik_index(parsed.value)
    ratelimit.hit("recovery:send", ratelimit.subject("addr", remote_addr), SENDS_PER_ADDRESS)
    ratelimit.hit("recovery:send", ratelimit.subject("nik", index), SEND_CAPS)
    person = db.session.execute(select(Person).where(Person.nik_index == index)).scalar_one_or_none()
    eligible = person is not None and not person.locked and person.birthdate == birthdate
    destination = _destination(person, channel) if eligible else None
    now = clock.now()
    handle = secrets.token_urlsafe(32)
    rec = Recovery(
        handle_hash=_hash_handle(handle), nik_index=index, person_id=person.id if destination else None,
        channel=channel, step="code", code_attempts=0, codes_sent=0, factor_failures=0,
        created_at=now, expires_at=now + RECOVERY_TTL,
    )
    db.session.add(rec)
    db.session.flush()
    # The audit trail names the account when the NIK is known, matched or not: the owner
    # and an officer can see attempts on it. Nothing of this reaches the browser.
    record_event(EventTag.RECOVERY_REQUESTED, actor="citizen", person_id=person.id if person is not None else None,
                 remote_addr=remote_addr, channel=channel, matched=destination is not None)
    db.session.commit()
    _send(rec, destination, locale=locale)
    return handle, rec


def _send(rec: Recovery, destination: str | None, *, locale: str) -> None:
    """Issue a new code (the previous one stops working) and deliver it to ``destination``
    (None: a code nobody receives). The caller has committed. Commits."""
    if destination is not None:
        try:
            ratelimit.hit("notify:send", ratelimit.subject("dest", destination), SEND_CAPS)
        except RateLimitedError:
            # Refused silently: the browser must not learn that this destination exists.
            log.info("recovery: destination cap reached, no code sent", extra={"channel": rec.channel})
            destination = None
    ttl = code_ttl(rec.channel)
    rec.codes_sent += 1
    rec.code_attempts = 0
    rec.code_hash = None
    rec.code_expires_at = clock.now() + ttl
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    if destination is not None:
        rec.code_hash = _code_hash(rec.id, code)
    db.session.commit()
    if destination is None:
        return
    # Sent after the commit: a failed delivery leaves a code nobody received, which
    # expires. Not shown to the browser, which must not learn that a contact exists.
    try:
        notify.send("password_reset_code", rec.channel, destination, locale=locale, code=code, minutes=ttl // 60)
    except notify.DeliveryError:
        log.warning("recovery: code not delivered", extra={"channel": rec.channel})


def resend_code(rec: Recovery | None, *, locale: str, remote_addr: str) -> None:
    """Send a new code for the same recovery. Raises RecoveryStateError or RateLimitedError."""
    rec = _require_step(rec, "code")
    if rec.codes_sent >= MAX_SENDS_PER_RECOVERY:
        raise RateLimitedError(max(1, rec.expires_at - clock.now()))
    ratelimit.hit("recovery:send", ratelimit.subject("addr", remote_addr), SENDS_PER_ADDRESS)
    ratelimit.hit("recovery:send", ratelimit.subject("nik", rec.nik_index), SEND_CAPS)
    destination = None
    if rec.person_id is not None:
        person = db.session.get(Person, rec.person_id)
        if person is not None and not person.locked:
            destination = _destination(person, rec.channel)
    _send(rec, destination, locale=locale)


def verify_code(rec: Recovery | None, code: str, *, remote_addr: str) -> str:
    """Check the code: `otp_max_attempts` tries, single use. Returns the next step
    ("factor" or "password"). Raises InvalidCodeError(attempts_left), CodeExpiredError or
    RecoveryStateError."""
    rec = _require_step(rec, "code")
    now = clock.now()
    limit = current_app.config["IDP"]["otp_max_attempts"]
    if rec.code_expires_at is None or rec.code_expires_at <= now or rec.code_attempts >= limit:
        raise CodeExpiredError()
    code = "".join(ch for ch in (code or "") if not ch.isspace())[:32]
    ok = rec.code_hash is not None and hmac.compare_digest(rec.code_hash, _code_hash(rec.id, code))
    if not ok:
        rec.code_attempts += 1
        db.session.commit()
        left = limit - rec.code_attempts
        if left <= 0:
            raise CodeExpiredError()
        raise InvalidCodeError(left)
    person = _person(rec)
    rec.code_hash, rec.code_expires_at, rec.code_verified_at = None, None, now
    rec.step = "factor" if authn.has_second_factor(person.id) else "password"
    record_event(EventTag.RECOVERY_CODE_VERIFIED, actor="citizen", person_id=person.id, remote_addr=remote_addr,
                 channel=rec.channel)
    db.session.commit()
    return rec.step


def factor_choices(rec: Recovery | None) -> dict[str, bool]:
    """What the second-factor page may offer: ``codes`` (an app code or a recovery code),
    ``app_blocked`` (the app is refused after 30 failures), ``passkey``. When none is
    usable the recovery cannot go on online. Raises RecoveryStateError."""
    rec = _require_step(rec, "factor")
    person = _person(rec)
    app = totp.get_factor(person.id) is not None
    blocked = app and authn.totp_blocked(person.id)
    codes_left = recovery.remaining(person.id) > 0
    return {"codes": (app and not blocked) or codes_left, "app_blocked": blocked,
            "passkey": webauthn.has_credentials(person.id)}


def _binding(rec: Recovery) -> str:
    # Passkey challenges for this recovery are bound to it, as a login's are to its interaction.
    return f"recovery:{rec.handle_hash}"


def passkey_options(rec: Recovery | None) -> str | None:
    """navigator.credentials.get() options for the person's passkeys, or None without one."""
    rec = _require_step(rec, "factor")
    person = _person(rec)
    if not webauthn.has_credentials(person.id):
        return None
    return webauthn.authentication_options(person_id=person.id, binding=_binding(rec))


def _factor_result(rec: Recovery, amr: list[str] | None, remote_addr: str) -> bool:
    if amr is not None:
        rec.step, rec.factor_verified_at = "password", clock.now()
        db.session.commit()
        return True
    rec.factor_failures += 1
    if rec.factor_failures >= FACTOR_TRANSACTION_LIMIT:
        rec.step = "void"
        record_event(EventTag.RECOVERY_VOID, actor="citizen", person_id=rec.person_id, remote_addr=remote_addr)
        db.session.commit()
        raise RecoveryVoidError()
    db.session.commit()
    return False


def verify_factor(rec: Recovery | None, code: str, *, remote_addr: str) -> bool:
    """An authenticator-app or recovery code as the second factor. Returns whether it was
    accepted. Raises RecoveryVoidError (the 5th failure), authn.FactorLockedError,
    authn.TotpBlockedError, passwords.HashingBusyError or RecoveryStateError."""
    rec = _require_step(rec, "factor")
    amr = authn.verify_second_factor(_person(rec), code, remote_addr=remote_addr)
    return _factor_result(rec, amr, remote_addr)


def verify_passkey(rec: Recovery | None, response: str, *, remote_addr: str) -> bool:
    """A passkey assertion as the second factor; as ``verify_factor``."""
    rec = _require_step(rec, "factor")
    amr = authn.verify_passkey_second_factor(_person(rec), response, interaction=_binding(rec), remote_addr=remote_addr)
    return _factor_result(rec, amr, remote_addr)


def password_minimum(rec: Recovery | None) -> int:
    """The shortest new password allowed: 8 with a second factor, 15 without."""
    rec = _require_step(rec, "password")
    if authn.has_second_factor(_person(rec).id):
        return password_policy.MIN_WITH_SECOND_FACTOR
    return password_policy.MIN_WITHOUT_SECOND_FACTOR


def complete(rec: Recovery | None, password: str, *, locale: str, remote_addr: str) -> Person:
    """Set the new password and end everything that was signed in (T46).

    The second factors stay as they are. Clears the password lockout and the count of
    second-factor failures (a factor was given in this recovery, or the account has none),
    ends every session and revokes every access and refresh token of the person, writes
    `account:password:reset`, commits, then tells every verified contact. Returns the
    person. Raises WeakPasswordError or RecoveryStateError (also when a second factor
    appeared since the code was checked: the recovery goes back to that step).
    """
    rec = _require_step(rec, "password")
    person = _person(rec)
    with_factor = authn.has_second_factor(person.id)
    if with_factor and rec.factor_verified_at is None:
        rec.step = "factor"
        db.session.commit()
        raise RecoveryStateError()
    password_policy.check_new_password(password, nik=identity.decrypt_nik(person), birthdate=person.birthdate,
                                       name=person.name, has_second_factor=with_factor)
    now = clock.now()
    person.password_hash = passwords.hash_password(password)
    person.updated_at = now
    authn.clear_failures(person)
    authn.sign_out_everywhere(person.id)
    record_event(EventTag.PASSWORD_RESET, actor="citizen", person_id=person.id, remote_addr=remote_addr,
                 channel=rec.channel, second_factor=with_factor)
    rec.step, rec.completed_at = "done", now
    db.session.commit()
    notices.notify_person(person, "password_changed", locale=locale)
    return person
