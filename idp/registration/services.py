"""Self-registration rules (issue #3): identity checked against the population registry,
then a contact proven with a one-time code, then a password; only then an account.

Enumeration (T40): whether a NIK already has an account changes nothing the browser
sees. At the contact step the entered contact receives, instead of a code, a message
saying the NIK is already registered, and the owner is told out of band; the browser
moves to the code page either way. A registration that never proves a contact expires
and binds nothing (T39); an officer's in-person verification later takes the NIK over.

Every function takes plain values and raises a domain error the view maps to a page.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn import password_policy, ratelimit
from idp.authn.ratelimit import Limit, RateLimitedError
from idp.extensions import db
from idp.identity import contact as contacts
from idp.identity import nik as nik_mod
from idp.identity import services as identity
from idp.identity.models import Person
from idp.keys import envelope
from idp.notify import services as notify
from idp.notify.services import DeliveryError
from idp.registration.models import Registration

log = logging.getLogger(__name__)

__all__ = [
    "CodeExpiredError",
    "DeliveryError",
    "Identity",
    "InvalidCodeError",
    "NotVerifiedError",
    "RateLimitedError",
    "RegistrationStateError",
    "RegistryUnavailableError",
    "claim_sign_in",
    "complete",
    "get",
    "parse_birthdate",
    "resend_code",
    "start",
    "submit_contact",
    "verify_code",
]

REGISTRATION_TTL = 1800  # a provisional registration lives 30 minutes
SIGN_IN_WINDOW = 600  # the finished registration may sign its browser in once, within 10 min
CODE_DIGITS = 6
MAX_SENDS_PER_REGISTRATION = 5

# SECURITY.md "SMS/WA/e-mail codes": 1 per 60 s, 3 per 15 min, 10 per day per number.
SEND_CAPS = (Limit(1, 60), Limit(3, 900), Limit(10, 86400))
# Registry checks: the registration form must not become a registry oracle.
CHECKS_PER_ADDRESS = (Limit(20, 3600), Limit(100, 86400))
CHECKS_PER_NIK = (Limit(5, 3600), Limit(10, 86400))
SENDS_PER_ADDRESS = (Limit(30, 3600),)
# The owner hears about attempts on their NIK at most once an hour.
OWNER_NOTICES = (Limit(1, 3600),)


class RegistryUnavailableError(Exception):
    def __init__(self, retry_after: int = 60):
        super().__init__(retry_after)
        self.retry_after = retry_after


class NotVerifiedError(Exception):
    """The data given does not match the population registry (no detail is given out)."""


class RegistrationStateError(Exception):
    """No live registration in this browser, or a step was skipped."""


class InvalidCodeError(Exception):
    def __init__(self, attempts_left: int):
        super().__init__(attempts_left)
        self.attempts_left = attempts_left


class CodeExpiredError(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    nik: str
    name: str
    birthdate: str  # ISO date
    birthplace: str | None = None


def _ttl(name: str) -> int:
    return current_app.config["IDP"][name]


def _code_hash(reg_id: int, code: str) -> str:
    key = current_app.extensions["idp_secrets"]["session"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, f"registration:{reg_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _hash_handle(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def parse_birthdate(raw: str) -> str:
    """Accept yyyy-mm-dd (the date input) and dd-mm-yyyy / dd/mm/yyyy typed by hand."""
    raw = (raw or "").strip()
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            value = datetime.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        if value > datetime.date.today() or value.year < 1900:
            break
        return value.isoformat()
    raise nik_mod.InvalidNIKError("registration.birthdate")


def get(handle: str | None) -> Registration | None:
    """The live registration behind a browser's handle, or None."""
    if not handle:
        return None
    reg = db.session.execute(select(Registration).where(Registration.handle_hash == _hash_handle(handle))).scalar_one_or_none()
    if reg is None or reg.expires_at <= clock.now():
        return None
    return reg


def _registry_check(ident: Identity):
    from idp.registry import services as registry
    from idp.registry.base import RegistryUnavailableError as Down
    from idp.registry.base import VerificationRequest

    request = VerificationRequest(nik=ident.nik, full_name=ident.name, birthdate=datetime.date.fromisoformat(ident.birthdate),
                                  birthplace=ident.birthplace)
    try:
        return registry.verify(request)
    except Down as exc:
        raise RegistryUnavailableError(exc.retry_after) from None


def registry_evidence(result) -> dict:
    """OIDC4IDA evidence for a registry match: an electronic record checked by data."""
    return {"type": "electronic_record", "check_method": "data", "record_type": "population_register",
            "registry": result.registry, "source_id": result.source_id, "time": result.checked_at}


def start(ident: Identity, *, remote_addr: str) -> tuple[str, Registration]:
    """Check the identity against the registry and open a registration.

    Returns (handle for the browser, registration). Raises InvalidNIKError (bad NIK or
    date of birth not matching it), RateLimitedError, RegistryUnavailableError (nothing is
    stored) or NotVerifiedError.
    """
    parsed = nik_mod.parse_nik(ident.nik)
    nik_mod.check_nik_birthdate(parsed, ident.birthdate)
    name = " ".join(ident.name.split())
    if not name or len(name) > 200:
        raise nik_mod.InvalidNIKError("registration.name")
    ident = Identity(nik=parsed.value, name=name, birthdate=ident.birthdate,
                     birthplace=" ".join((ident.birthplace or "").split())[:100] or None)
    index = identity.nik_index(ident.nik)
    ratelimit.hit("registration:check", ratelimit.subject("addr", remote_addr), CHECKS_PER_ADDRESS)
    ratelimit.hit("registration:check", ratelimit.subject("nik", index), CHECKS_PER_NIK)
    result = _registry_check(ident)
    if not result.matched:
        record_event(EventTag.REGISTRATION_NOT_VERIFIED, actor="citizen", remote_addr=remote_addr)
        db.session.commit()
        raise NotVerifiedError()
    now = clock.now()
    handle = secrets.token_urlsafe(32)
    reg = Registration(
        handle_hash=_hash_handle(handle), nik_index=index, nik_encrypted=identity.encrypt_nik(ident.nik),
        name=ident.name, birthdate=ident.birthdate, birthplace=ident.birthplace,
        gender=result.gender or ("female" if parsed.female else "male"),
        evidence=registry_evidence(result),
        step="contact", code_attempts=0, codes_sent=0, created_at=now, expires_at=now + REGISTRATION_TTL,
    )
    db.session.add(reg)
    record_event(EventTag.REGISTRATION_STARTED, actor="citizen", remote_addr=remote_addr)
    db.session.commit()
    return handle, reg


def _require_step(reg: Registration | None, *steps: str) -> Registration:
    if reg is None or reg.step not in steps:
        raise RegistrationStateError()
    return reg


def _nik(reg: Registration) -> str:
    from idp.keys.store import keks

    return envelope.decrypt_any(keks(), reg.nik_encrypted, b"person.nik").decode()


def _owner(reg: Registration) -> Person | None:
    return db.session.execute(select(Person).where(Person.nik_index == reg.nik_index)).scalar_one_or_none()


def _tell_owner(owner: Person, locale: str) -> None:
    """Out-of-band notice to the real owner of a NIK someone tried to register again."""
    try:
        ratelimit.hit("registration:owner_notice", ratelimit.subject("person", str(owner.id)), OWNER_NOTICES)
    except RateLimitedError:
        return
    for channel, address in (("sms", owner.phone_number if owner.phone_number_verified else None),
                             ("email", owner.email if owner.email_verified else None)):
        if address:
            try:
                notify.send("registration_attempt", channel, address, locale=locale)
            except DeliveryError:
                log.warning("registration: owner notice not delivered", extra={"channel": channel})


def _send(reg: Registration, *, locale: str, remote_addr: str) -> None:
    if reg.codes_sent >= MAX_SENDS_PER_REGISTRATION:
        raise RateLimitedError(max(1, reg.expires_at - clock.now()))
    ratelimit.hit("notify:send", ratelimit.subject("dest", reg.destination), SEND_CAPS, commit=False)
    ratelimit.hit("notify:send", ratelimit.subject("addr", remote_addr), SENDS_PER_ADDRESS, commit=False)
    reg.codes_sent += 1
    reg.code_attempts = 0
    owner = _owner(reg)
    ttl = _ttl("otp_ttl")
    if owner is not None:
        # Same page for the browser; the contact learns the truth, the owner is told (T40).
        reg.code_hash = None
        reg.code_expires_at = clock.now() + ttl
        db.session.commit()
        notify.send("already_registered", reg.channel, reg.destination, locale=locale)
        _tell_owner(owner, locale)
        record_event(EventTag.REGISTRATION_DUPLICATE, actor="citizen", person_id=owner.id, remote_addr=remote_addr)
        db.session.commit()
        return
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    reg.code_hash = _code_hash(reg.id, code)
    reg.code_expires_at = clock.now() + ttl
    db.session.commit()
    # Sent after the commit: a failed delivery leaves a code nobody received, which
    # simply expires; the citizen asks for another.
    notify.send("otp", reg.channel, reg.destination, locale=locale, code=code, minutes=ttl // 60)


def submit_contact(reg: Registration | None, channel: str, raw_destination: str, *, locale: str, remote_addr: str) -> None:
    """Record the contact and send it a code. Raises InvalidContactError,
    RateLimitedError, DeliveryError or RegistrationStateError."""
    reg = _require_step(reg, "contact", "code")
    if channel == "email":
        destination = contacts.normalize_email(raw_destination)
    elif channel in ("sms", "whatsapp"):
        destination = contacts.normalize_phone(raw_destination)
    else:
        raise contacts.InvalidContactError("contact.channel")
    reg.channel, reg.destination, reg.step = channel, destination, "code"
    _send(reg, locale=locale, remote_addr=remote_addr)


def resend_code(reg: Registration | None, *, locale: str, remote_addr: str) -> None:
    reg = _require_step(reg, "code")
    _send(reg, locale=locale, remote_addr=remote_addr)


def verify_code(reg: Registration | None, code: str) -> None:
    """Check the one-time code: 5 attempts, valid `otp_ttl`, single use. Raises
    InvalidCodeError(attempts_left), CodeExpiredError or RegistrationStateError."""
    reg = _require_step(reg, "code")
    now = clock.now()
    if reg.code_expires_at is None or reg.code_expires_at <= now:
        raise CodeExpiredError()
    limit = _ttl("otp_max_attempts")
    if reg.code_attempts >= limit:
        raise CodeExpiredError()
    code = "".join(ch for ch in (code or "") if not ch.isspace())[:32]
    ok = reg.code_hash is not None and hmac.compare_digest(reg.code_hash, _code_hash(reg.id, code))
    if not ok:
        reg.code_attempts += 1
        db.session.commit()
        left = limit - reg.code_attempts
        if left <= 0:
            raise CodeExpiredError()
        raise InvalidCodeError(left)
    reg.code_hash = None
    reg.code_expires_at = None
    reg.contact_verified_at = now
    reg.step = "password"
    db.session.commit()


def complete(reg: Registration | None, password: str, *, locale: str, remote_addr: str) -> Person | None:
    """Choose the password and create the account (identity level 1, registry-matched).

    Returns the person, or None when the NIK got an account meanwhile (the owner is told;
    the browser sees the same "done" page). Raises WeakPasswordError, HashingBusyError or
    RegistrationStateError.
    """
    reg = _require_step(reg, "password")
    nik = _nik(reg)
    password_policy.check_new_password(password, nik=nik, birthdate=reg.birthdate, name=reg.name)
    email = reg.destination if reg.channel == "email" else None
    phone = reg.destination if reg.channel in ("sms", "whatsapp") else None
    try:
        person = identity.create_person(
            nik=nik, name=reg.name, birthdate=reg.birthdate, password=password, actor="citizen",
            email=email, phone_number=phone, gender=reg.gender, birthplace=reg.birthplace,
            identity_level=1, evidence=[reg.evidence],
        )
    except identity.PersonExistsError:
        owner = _owner(reg)
        reg.step, reg.completed_at = "done", clock.now()
        db.session.commit()
        if owner is not None:
            _tell_owner(owner, locale)
        return None
    reg.step, reg.person_id, reg.completed_at = "done", person.id, clock.now()
    # The password is hashed; nothing of the provisional record is needed any more but
    # the link that lets this browser sign in once.
    reg.name, reg.birthplace, reg.destination = "", None, None
    record_event(EventTag.REGISTRATION_COMPLETED, actor="citizen", person_id=person.id, remote_addr=remote_addr)
    db.session.commit()
    try:
        notify.send("account_created", reg.channel, email or phone, locale=locale)
    except DeliveryError:
        log.warning("registration: welcome message not delivered")
    return person


def claim_sign_in(handle: str | None) -> Person | None:
    """The person a just-finished registration in this browser may sign in as, once,
    within SIGN_IN_WINDOW seconds; None otherwise."""
    reg = get(handle)
    now = clock.now()
    if reg is None or reg.step != "done" or reg.person_id is None or reg.signed_in_at is not None:
        return None
    if reg.completed_at is None or now - reg.completed_at > SIGN_IN_WINDOW:
        return None
    from sqlalchemy import update

    won = db.session.execute(
        update(Registration).where(Registration.id == reg.id, Registration.signed_in_at.is_(None)).values(signed_in_at=now)
    ).rowcount
    db.session.commit()
    if not won:
        return None
    return db.session.get(Person, reg.person_id)

