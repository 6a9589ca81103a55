"""Counter enrolment rules (issue #3): the physical MPP serves those who cannot do it alone.

An operator makes a citizen account an officer bound to one MPP location (`idp officers
add`). At the counter the officer looks a citizen up by NIK, checks a document and the
photo on it against the person in front of them, has the population registry confirm the
data, and then:

- ``create``: opens an account for a NIK that has none (identity level 3, no password);
- ``verify``: raises an existing account to identity level 3;
- ``take_over``: binds a self-registered account (level 1, perhaps opened by someone who
  knew the citizen's leaked data) to the person in front of the officer: password, second
  factors, contacts, consents, sessions and tokens of the earlier claimant are gone;
- ``reset``: the citizen's own account, locked out or every factor lost: password and
  second factors are removed, contacts replaced, the account unlocked.

Knowledge alone never binds a NIK (SECURITY.md T39): every outcome needs the document,
the photo comparison and a registry match, and a later in-person verification takes the
NIK over from any earlier unverified claim. Every officer action writes an audit event in
the same transaction as the change, with the officer (person id), the location, the
citizen (person id) and the reason.

Except ``verify``, each outcome ends with an activation code: 12 Crockford base32
characters (60 bits, as recovery codes), argon2id-hashed, single use, valid
``activation_code_ttl`` (24 h by default: it was handed over in person, on paper or to a
contact the citizen gave at the counter, and the citizen needs time to get home to a
device; a reset code sent to an unproven contact lives minutes instead). A new code voids
the older unused ones; 5 wrong tries void it. With it the citizen chooses a password at
/activate, which answers the same for an unknown NIK, a wrong code and an expired or void
code, and is throttled per NIK and per address like the password.

Services take plain values and raise domain errors; views map them to pages.
"""

from __future__ import annotations

import datetime
import logging
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, select, update

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn import password_policy, passwords, ratelimit, recovery, throttle
from idp.authn import services as authn
from idp.authn.models import RecoveryCode, TotpFactor, WebAuthnChallenge, WebAuthnCredential, WebAuthnUser
from idp.authn.ratelimit import Limit, RateLimitedError
from idp.consent.models import Consent
from idp.counter.models import ActivationCode, Officer
from idp.extensions import db
from idp.identity import contact as contacts
from idp.identity import nik as nik_mod
from idp.identity import services as identity
from idp.identity.models import Person
from idp.notify import services as notify
from idp.notify.services import DeliveryError

log = logging.getLogger(__name__)

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "DOCUMENT_TYPES",
    "ActionNotAllowedError",
    "ActivationFailedError",
    "CitizenStatus",
    "Handover",
    "InPersonCheck",
    "InvalidCheckError",
    "InvalidLocationError",
    "InvalidReasonError",
    "NoSuchOfficerError",
    "NoSuchPersonError",
    "NotVerifiedError",
    "OfficerExistsError",
    "Outcome",
    "RateLimitedError",
    "RegistryUnavailableError",
    "SelfServiceError",
    "activate",
    "add_officer",
    "describe",
    "disable_officer",
    "get_active_officer",
    "list_officers",
    "lookup",
    "verify_in_person",
]

MAX_REASON = 200
# OIDC4IDA document types (claims._evidence publishes them as document_details.type).
DOCUMENT_TYPES = ("idcard", "passport", "driving_permit")
ACTIONS = ("create", "verify", "take_over", "reset")
CHANNELS = ("printed", "sms", "email")
MAX_CODE_ATTEMPTS = 5
# An officer looks citizens up for the people at the counter, not in bulk: these caps stop
# a stolen or curious officer account from turning the counter into a NIK oracle.
LOOKUPS_PER_OFFICER = (Limit(60, 3600), Limit(300, 86400))
CHECKS_PER_OFFICER = (Limit(30, 3600), Limit(150, 86400))
_LOCATION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
# A NIK (or any long number) typed into the free-text reason is masked before it is stored
# or logged (SECURITY.md T92).
_LONG_NUMBER = re.compile(r"\d[\d .-]{8,}\d")


class NoSuchPersonError(Exception):
    """No account has this NIK."""


class OfficerExistsError(Exception):
    """The person is already an active officer."""


class NoSuchOfficerError(Exception):
    """The person is not an officer."""


class InvalidLocationError(ValueError):
    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class InvalidReasonError(ValueError):
    """The reason is missing or longer than MAX_REASON characters."""


class InvalidCheckError(ValueError):
    """A field of the in-person check is missing or wrong; ``code`` is a message key."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class SelfServiceError(Exception):
    """Officers never act on their own account (another officer must)."""


class ActionNotAllowedError(Exception):
    """The chosen action does not fit the account as it is now (it changed since the
    look-up, or e.g. take-over of an account already verified in person)."""


class NotVerifiedError(Exception):
    """The population registry does not confirm the data; nothing was changed."""


class RegistryUnavailableError(Exception):
    def __init__(self, retry_after: int = 60):
        super().__init__(retry_after)
        self.retry_after = retry_after


class ActivationFailedError(Exception):
    """Unknown NIK, wrong, expired, used or void code, locked account: one error (T36)."""


# -- officers (operators, `idp officers`) -----------------------------------------------------
def get_active_officer(person_id: int) -> Officer | None:
    """The active officer record of a person, or None."""
    officer = db.session.execute(select(Officer).where(Officer.person_id == person_id)).scalar_one_or_none()
    return officer if officer is not None and officer.active else None


def _location(code: str, name: str) -> tuple[str, str]:
    code = (code or "").strip()
    if not _LOCATION_CODE.fullmatch(code):
        raise InvalidLocationError("location-code")
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise InvalidLocationError("location-name")
    return code, name


def add_officer(raw_nik: str, location_code: str, location_name: str, *, actor: str) -> Officer:
    """Make the account with this NIK an officer at the location (a disabled officer is
    enabled again, at the new location). Commits. Returns the officer.

    Raises InvalidLocationError(field), NoSuchPersonError, OfficerExistsError."""
    code, name = _location(location_code, location_name)
    person = identity.get_person_by_nik(raw_nik)
    if person is None:
        raise NoSuchPersonError()
    now = clock.now()
    officer = db.session.execute(select(Officer).where(Officer.person_id == person.id)).scalar_one_or_none()
    if officer is not None and officer.active:
        raise OfficerExistsError()
    if officer is None:
        officer = Officer(person_id=person.id, created_at=now, created_by=actor[:128])
        db.session.add(officer)
    officer.location_code, officer.location_name, officer.active, officer.disabled_at = code, name, True, None
    db.session.flush()
    record_event(EventTag.OFFICER_ADDED, actor=actor, person_id=person.id, officer=officer.id, location_code=code)
    db.session.commit()
    return officer


def list_officers() -> list[tuple[Officer, Person]]:
    """Every officer (active or not) with their account, oldest first."""
    rows = db.session.execute(select(Officer, Person).join(Person, Person.id == Officer.person_id).order_by(Officer.id)).all()
    return [(o, p) for o, p in rows]


def disable_officer(raw_nik: str, *, actor: str) -> bool:
    """Withdraw counter access at once (every counter request checks it). Commits.
    Returns False when the officer was already disabled. Raises NoSuchOfficerError."""
    person = identity.get_person_by_nik(raw_nik)
    officer = None
    if person is not None:
        officer = db.session.execute(select(Officer).where(Officer.person_id == person.id)).scalar_one_or_none()
    if officer is None:
        raise NoSuchOfficerError()
    if not officer.active:
        return False
    officer.active, officer.disabled_at = False, clock.now()
    record_event(EventTag.OFFICER_DISABLED, actor=actor, person_id=person.id, officer=officer.id,
                 location_code=officer.location_code)
    db.session.commit()
    return True


# -- look-up ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CitizenStatus:
    """What an officer may see about a NIK: never the name or full contacts (the officer
    reads those from the document and from the citizen)."""

    nik_masked: str
    exists: bool
    identity_level: int | None = None
    has_password: bool = False
    totp: bool = False
    passkeys: int = 0
    recovery_codes: int = 0
    locked: bool = False
    phone: str | None = None
    phone_verified: bool = False
    email: str | None = None
    email_verified: bool = False
    activation_pending: bool = False

    @property
    def has_second_factor(self) -> bool:
        return self.totp or self.passkeys > 0 or self.recovery_codes > 0

    @property
    def actions(self) -> tuple[str, ...]:
        """The outcomes an in-person verification may have for this account."""
        if not self.exists:
            return ("create",)
        if (self.identity_level or 1) < 3:
            return ("verify", "take_over", "reset")
        return ("verify", "reset")


def clean_reason(raw: str | None) -> str:
    reason = " ".join((raw or "").split())
    if not reason or len(reason) > MAX_REASON:
        raise InvalidReasonError()
    return _LONG_NUMBER.sub(lambda m: "*" * len(m.group()), reason)


def _live_code(person_id: int) -> ActivationCode | None:
    return db.session.execute(
        select(ActivationCode).where(
            ActivationCode.person_id == person_id, ActivationCode.used_at.is_(None), ActivationCode.voided_at.is_(None),
            ActivationCode.expires_at > clock.now(), ActivationCode.attempts < MAX_CODE_ATTEMPTS,
        ).order_by(ActivationCode.id.desc())
    ).scalars().first()


def _status(nik: str, person: Person | None) -> CitizenStatus:
    from idp.authn import totp, webauthn

    masked = nik_mod.mask_nik(nik)
    if person is None:
        return CitizenStatus(nik_masked=masked, exists=False)
    return CitizenStatus(
        nik_masked=masked, exists=True, identity_level=person.identity_level or 1,
        has_password=bool(person.password_hash), totp=totp.get_factor(person.id) is not None,
        passkeys=len(webauthn.list_credentials(person.id)), recovery_codes=recovery.remaining(person.id),
        locked=bool(person.locked),
        phone=contacts.mask_phone(person.phone_number) if person.phone_number else None,
        phone_verified=bool(person.phone_number and person.phone_number_verified),
        email=contacts.mask_email(person.email) if person.email else None,
        email_verified=bool(person.email and person.email_verified),
        activation_pending=_live_code(person.id) is not None,
    )


def _not_self(officer: Officer, person: Person | None) -> None:
    if person is not None and person.id == officer.person_id:
        raise SelfServiceError()


def describe(officer: Officer, raw_nik: str) -> CitizenStatus:
    """The account status behind a NIK, without an audit event: only to show again a page
    whose look-up was audited (a form that came back with an error). Raises InvalidNIKError,
    SelfServiceError."""
    nik = nik_mod.normalize_nik(raw_nik)
    person = identity.get_person_by_nik(nik)
    _not_self(officer, person)
    return _status(nik, person)


def audit_action(tag: EventTag, officer: Officer, person_id: int | None, reason: str, remote_addr: str, **data) -> None:
    record_event(tag, actor=f"officer:{officer.person_id}", person_id=person_id, officer_id=officer.person_id,
                 location_code=officer.location_code, reason=reason, remote_addr=remote_addr, **data)


def lookup(officer: Officer, raw_nik: str, reason: str, *, remote_addr: str) -> CitizenStatus:
    """Look a citizen up by NIK for the reason given; audited (`counter:citizen:looked_up`,
    with the blind index when no account exists, so misuse stays traceable).

    Returns the CitizenStatus. Raises InvalidReasonError, InvalidNIKError (malformed NIK),
    SelfServiceError, RateLimitedError."""
    reason = clean_reason(reason)
    nik = nik_mod.normalize_nik(raw_nik)
    person = identity.get_person_by_nik(nik)
    _not_self(officer, person)
    ratelimit.hit("counter:lookup", ratelimit.subject("officer", str(officer.id)), LOOKUPS_PER_OFFICER)
    extra = {} if person is not None else {"nik_index": identity.nik_index(nik)}
    audit_action(EventTag.COUNTER_LOOKED_UP, officer, person.id if person else None, reason, remote_addr,
           account=person is not None, **extra)
    db.session.commit()
    return _status(nik, person)


# -- in-person verification -------------------------------------------------------------------
@dataclass(frozen=True)
class InPersonCheck:
    """What the officer confirms at the counter, typed from the document."""

    nik: str
    name: str
    birthdate: str  # ISO date
    document_type: str
    photo_matches: bool
    birthplace: str | None = None


@dataclass(frozen=True)
class Handover:
    """How the activation code reaches the citizen, and the contacts they give (stored
    unverified: proving them is the citizen's own later step)."""

    channel: str = "printed"
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Outcome:
    action: str
    person_id: int
    nik_masked: str
    # The activation code, formatted, when the officer must hand it over (printed, or the
    # message could not be sent); None otherwise. Shown once, never stored in clear.
    code: str | None = None
    channel: str | None = None
    destination: str | None = None  # masked
    delivered: bool = False
    expires_at: int | None = None
    unlocked: bool = False


def _registry_check(officer: Officer, person_id: int | None, nik: str, name: str, birthdate: str, birthplace: str | None):
    from idp.registry import services as registry
    from idp.registry.base import RegistryUnavailableError as Down
    from idp.registry.base import VerificationRequest

    request = VerificationRequest(nik=nik, full_name=name, birthdate=datetime.date.fromisoformat(birthdate),
                                  birthplace=birthplace)
    try:
        return registry.verify(request, actor=f"officer:{officer.person_id}", person_id=person_id)
    except Down as exc:
        raise RegistryUnavailableError(exc.retry_after) from None


def _document_evidence(officer: Officer, document_type: str, now: int, txn: str) -> dict:
    """OIDC4IDA evidence (claims._evidence): a document checked in person (vpip)."""
    return {"type": "document", "check_method": "vpip", "document_type": document_type, "officer_id": officer.id,
            "location_code": officer.location_code, "location_name": officer.location_name, "time": now, "txn": txn}


def _check_action(action: str, person: Person | None) -> None:
    if action == "create" and person is not None:
        raise ActionNotAllowedError()
    if action != "create" and person is None:
        raise ActionNotAllowedError()
    if action == "take_over" and (person.identity_level or 1) >= 3:
        # Verified in person already: a dispute goes through "reset" and an incident.
        raise ActionNotAllowedError()


def _handover(action: str, handover: Handover) -> tuple[str | None, str | None, str | None]:
    """(channel, phone, email), normalised. Raises InvalidCheckError, InvalidContactError."""
    phone = contacts.normalize_phone(handover.phone) if handover.phone and handover.phone.strip() else None
    email = contacts.normalize_email(handover.email) if handover.email and handover.email.strip() else None
    if action == "verify":
        return None, None, None
    if handover.channel not in CHANNELS:
        raise InvalidCheckError("counter.channel")
    if (handover.channel == "sms" and not phone) or (handover.channel == "email" and not email):
        raise InvalidCheckError("counter.destination")
    return handover.channel, phone, email


def _remove_credentials(person: Person, phone: str | None, email: str | None) -> None:
    """Password, second factors and contacts go; the contacts the citizen gave at the
    counter come in, unverified; every session and token ends (the caller commits)."""
    person.password_hash = None
    for model in (TotpFactor, RecoveryCode, WebAuthnCredential, WebAuthnChallenge, WebAuthnUser):
        db.session.execute(delete(model).where(model.person_id == person.id))
    person.phone_number, person.phone_number_verified = phone, False
    person.email, person.email_verified = email, False
    db.session.execute(update(ActivationCode).where(
        ActivationCode.person_id == person.id, ActivationCode.used_at.is_(None), ActivationCode.voided_at.is_(None),
    ).values(voided_at=clock.now()))
    authn.sign_out_everywhere(person.id)


def _new_code(person_id: int, officer: Officer, channel: str, now: int) -> tuple[str, ActivationCode]:
    """A fresh code; older unused codes of the person are void (the caller commits)."""
    db.session.execute(update(ActivationCode).where(
        ActivationCode.person_id == person_id, ActivationCode.used_at.is_(None), ActivationCode.voided_at.is_(None),
    ).values(voided_at=now))
    code = "".join(secrets.choice(recovery.ALPHABET) for _ in range(recovery.LENGTH))
    row = ActivationCode(person_id=person_id, code_hash=passwords.hash_password(code), channel=channel,
                         expires_at=now + current_app.config["IDP"]["activation_code_ttl"], attempts=0,
                         created_by_officer_id=officer.id, created_at=now)
    db.session.add(row)
    return f"{code[:4]}-{code[4:8]}-{code[8:]}", row


def verify_in_person(officer: Officer, check: InPersonCheck, action: str, reason: str, *,
                     handover: Handover = Handover(), remote_addr: str, locale: str = "id") -> Outcome:
    """Record an in-person verification and carry out ``action`` (see the module docstring).

    The registry is asked before anything is written: a mismatch or an outage changes
    nothing but the audit trail. Returns the Outcome (with the activation code to hand over
    when there is one). Raises InvalidReasonError, InvalidCheckError, InvalidNIKError,
    InvalidContactError, SelfServiceError, ActionNotAllowedError, RateLimitedError,
    RegistryUnavailableError, NotVerifiedError."""
    reason = clean_reason(reason)
    if action not in ACTIONS:
        raise InvalidCheckError("counter.action")
    if check.document_type not in DOCUMENT_TYPES:
        raise InvalidCheckError("counter.document")
    if not check.photo_matches:
        raise InvalidCheckError("counter.photo")
    parsed = nik_mod.parse_nik(check.nik)
    nik_mod.check_nik_birthdate(parsed, check.birthdate)
    name = " ".join((check.name or "").split())
    if not name or len(name) > 200:
        raise InvalidCheckError("counter.name")
    birthplace = " ".join((check.birthplace or "").split())[:100] or None
    channel, phone, email = _handover(action, handover)
    person = identity.get_person_by_nik(parsed.value)
    _not_self(officer, person)
    _check_action(action, person)

    ratelimit.hit("counter:check", ratelimit.subject("officer", str(officer.id)), CHECKS_PER_OFFICER)
    person_id = person.id if person is not None else None
    result = _registry_check(officer, person_id, parsed.value, name, check.birthdate, birthplace)
    if not result.matched:
        audit_action(EventTag.COUNTER_NOT_VERIFIED, officer, person_id, reason, remote_addr, action=action,
               document_type=check.document_type)
        db.session.commit()
        raise NotVerifiedError()

    from idp.registration.services import registry_evidence

    now = clock.now()
    txn = secrets.token_hex(8)
    document = _document_evidence(officer, check.document_type, now, txn)
    actor = f"officer:{officer.person_id}"
    common = {"action": action, "document_type": check.document_type, "txn": txn}
    if action == "create":
        try:
            person = identity.create_person(
                nik=parsed.value, name=name, birthdate=check.birthdate, password=None, actor=actor, email=email,
                phone_number=phone, gender=result.gender or ("female" if parsed.female else "male"),
                birthplace=birthplace, identity_level=3, evidence=[registry_evidence(result), document], commit=False,
            )
        except identity.PersonExistsError:
            raise ActionNotAllowedError() from None  # opened meanwhile: look it up again
        person.email_verified = person.phone_number_verified = False
        audit_action(EventTag.COUNTER_ACCOUNT_CREATED, officer, person.id, reason, remote_addr, **common)
    else:
        person.identity_level, person.identity_verified_at, person.updated_at = 3, now, now
        person.name = name
        if birthplace:
            person.birthplace = birthplace
        if action == "take_over":
            # The earlier claim's evidence, consents and credentials belong to whoever made it.
            person.evidence = [registry_evidence(result), document]
            db.session.execute(delete(Consent).where(Consent.person_id == person.id))
            _remove_credentials(person, phone, email)
            audit_action(EventTag.COUNTER_TAKEN_OVER, officer, person.id, reason, remote_addr, **common)
        else:
            person.evidence = [*(person.evidence or []), document]
            if action == "reset":
                _remove_credentials(person, phone, email)
                audit_action(EventTag.COUNTER_CREDENTIALS_RESET, officer, person.id, reason, remote_addr,
                       unlocked=bool(person.locked), **common)
    audit_action(EventTag.COUNTER_VERIFIED, officer, person.id, reason, remote_addr, **common)
    code = row = None
    if channel is not None:
        code, row = _new_code(person.id, officer, channel, now)
        audit_action(EventTag.COUNTER_CODE_ISSUED, officer, person.id, reason, remote_addr, channel=channel, txn=txn)
    unlocked = action == "reset" and bool(person.locked)
    if unlocked:
        identity.set_locked(person, False, actor=actor)  # commits the whole change with its events
    else:
        db.session.commit()

    outcome = Outcome(action=action, person_id=person.id, nik_masked=nik_mod.mask_nik(parsed.value), unlocked=unlocked)
    if code is None:
        return outcome
    destination = phone if channel == "sms" else email if channel == "email" else None
    delivered = False
    if destination is not None:
        try:
            notify.send("activation_code", channel, destination, locale=locale, code=code,
                        hours=max(1, current_app.config["IDP"]["activation_code_ttl"] // 3600))
            delivered = True
        except DeliveryError:
            # The code exists; the officer hands it over on paper instead.
            log.warning("counter: activation code not delivered", extra={"channel": channel})
    masked = (contacts.mask_phone(destination) if channel == "sms" else contacts.mask_email(destination)) if destination else None
    return Outcome(action=action, person_id=person.id, nik_masked=outcome.nik_masked, code=None if delivered else code,
                   channel=channel, destination=masked, delivered=delivered, expires_at=row.expires_at, unlocked=unlocked)


# -- activation (public) ----------------------------------------------------------------------
def _activation_key(raw_nik: str) -> str:
    # As for passwords: keyed by the blind index of the NIK as typed, or by the raw input
    # when malformed, so an unknown NIK is throttled exactly like a known one.
    try:
        subject = identity.nik_index(nik_mod.normalize_nik(raw_nik))
    except nik_mod.InvalidNIKError:
        subject = "raw:" + (raw_nik or "")[:64]
    return throttle.key("act-acct", subject)


def activate(raw_nik: str, raw_code: str, password: str, *, remote_addr: str) -> Person:
    """Set the first password of an account with its activation code. Returns the person.

    One argon2id verification runs whatever the outcome. A wrong code counts toward the
    code's 5 tries and the per-NIK and per-address throttles. The code is checked before
    the password rules, so only its holder learns why a password is refused, and a refused
    password leaves the code usable. Raises ActivationFailedError, throttle.ThrottledError,
    password_policy.WeakPasswordError, passwords.HashingBusyError."""
    account_key, source_key = _activation_key(raw_nik), throttle.key("act-src", remote_addr)
    throttle.check(account_key, source_key)
    person = identity.get_person_by_nik(raw_nik or "")
    row = _live_code(person.id) if person is not None else None
    code = recovery.normalize((raw_code or "")[:64])
    ok, _ = passwords.verify_password(row.code_hash if row is not None else None, code)
    if not ok or row is None or person.locked:
        if row is not None:
            db.session.execute(update(ActivationCode).where(ActivationCode.id == row.id)
                               .values(attempts=ActivationCode.attempts + 1))
            db.session.execute(update(ActivationCode).where(
                ActivationCode.id == row.id, ActivationCode.attempts >= MAX_CODE_ATTEMPTS, ActivationCode.voided_at.is_(None),
            ).values(voided_at=clock.now()))
        record_event(EventTag.ACTIVATION_FAILED, actor="citizen", person_id=person.id if person is not None else None,
                     remote_addr=remote_addr)
        db.session.commit()
        throttle.fail(account_key, throttle.ACCOUNT)
        throttle.fail(source_key, throttle.SOURCE)
        raise ActivationFailedError()
    value = password_policy.check_new_password(password, nik=identity.decrypt_nik(person), birthdate=person.birthdate,
                                               name=person.name)
    now = clock.now()
    won = db.session.execute(update(ActivationCode).where(
        ActivationCode.id == row.id, ActivationCode.used_at.is_(None), ActivationCode.voided_at.is_(None),
    ).values(used_at=now)).rowcount
    if won != 1:  # used by a concurrent request
        db.session.rollback()
        raise ActivationFailedError()
    db.session.execute(update(ActivationCode).where(
        ActivationCode.person_id == person.id, ActivationCode.used_at.is_(None), ActivationCode.voided_at.is_(None),
    ).values(voided_at=now))
    person.password_hash = passwords.hash_password(value)
    person.updated_at = now
    record_event(EventTag.ACTIVATION_COMPLETED, actor="citizen", person_id=person.id, remote_addr=remote_addr,
                 channel=row.channel)
    db.session.commit()
    throttle.reset(account_key)
    throttle.reset(throttle.key("pwd-acct", person.nik_index))
    return person
