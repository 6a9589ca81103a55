"""One-time codes by SMS, WhatsApp or e-mail as a second factor (issue #4: the weaker
fallback; NIST SP 800-63B-4 §3.1.3.3 "restricted" out-of-band authenticators).

Only to a contact the citizen has proven (`phone_number_verified` / `email_verified`).
Six digits, valid `otp_ttl` (5 min), `otp_max_attempts` (5) tries, single use, bound to
one sign-in transaction, stored as an HMAC. Sending is capped per number or address
(1 per minute, 3 per 15 minutes, 10 per day), per account and per source address, on all
nodes (ratelimit). `amr`: `sms` for SMS and WhatsApp (RFC 8176), `otp` for e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from sqlalchemy import select, update

from idp import clock
from idp.authn import ratelimit
from idp.authn.models import OobCode
from idp.authn.ratelimit import Limit
from idp.extensions import db
from idp.identity.contact import mask_email, mask_phone
from idp.identity.models import Person
from idp.notify import services as notify

SEND_CAPS = (Limit(1, 60), Limit(3, 900), Limit(10, 86400))
PER_ACCOUNT = (Limit(5, 3600), Limit(10, 86400))
PER_ADDRESS = (Limit(30, 3600),)
AMR = {"sms": "sms", "whatsapp": "sms", "email": "otp"}


def _hash(code_id_material: str) -> str:
    key = current_app.extensions["idp_secrets"]["session"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, f"oob:{code_id_material}".encode(), hashlib.sha256).hexdigest()


def channels(person: Person) -> list[tuple[str, str]]:
    """(channel, masked destination) the person can receive a code on."""
    out = []
    if person.phone_number and person.phone_number_verified:
        out += [("sms", mask_phone(person.phone_number)), ("whatsapp", mask_phone(person.phone_number))]
    if person.email and person.email_verified:
        out.append(("email", mask_email(person.email)))
    return out


def _destination(person: Person, channel: str) -> str | None:
    if channel in ("sms", "whatsapp") and person.phone_number_verified:
        return person.phone_number
    if channel == "email" and person.email_verified:
        return person.email
    return None


def send_code(person: Person, channel: str, *, binding: str, locale: str, remote_addr: str) -> bool:
    """Send a new code to the person's verified contact on ``channel`` (earlier unused
    codes of this transaction stop working). Returns False when there is none. Raises
    ratelimit.RateLimitedError or notify.DeliveryError."""
    destination = _destination(person, channel)
    if destination is None:
        return False
    send_code_to(person, channel, destination, binding=binding, locale=locale, remote_addr=remote_addr)
    return True


def send_code_to(person: Person, channel: str, destination: str, *, binding: str, locale: str, remote_addr: str) -> None:
    """Send a code to ``destination``: a verified contact (send_code) or a *new* contact the
    person wants to prove (changing the phone number or e-mail on the account page). Capped
    per destination, per account and per address. Raises RateLimitedError or DeliveryError."""
    ratelimit.hit("oob:send", ratelimit.subject("dest", destination), SEND_CAPS, commit=False)
    ratelimit.hit("oob:send", ratelimit.subject("person", str(person.id)), PER_ACCOUNT, commit=False)
    ratelimit.hit("oob:send", ratelimit.subject("addr", remote_addr), PER_ADDRESS, commit=False)
    now = clock.now()
    db.session.execute(update(OobCode).where(OobCode.binding == binding, OobCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = current_app.config["IDP"]["otp_ttl"]
    db.session.add(OobCode(person_id=person.id, binding=binding, channel=channel, code_hash=_hash(f"{binding}:{code}"),
                           attempts=0, expires_at=now + ttl, used_at=None))
    db.session.commit()
    notify.send("otp", channel, destination, locale=locale, code=code, minutes=ttl // 60)


def pending(person_id: int, binding: str) -> OobCode | None:
    return db.session.execute(
        select(OobCode).where(OobCode.person_id == person_id, OobCode.binding == binding, OobCode.used_at.is_(None),
                              OobCode.expires_at > clock.now())
    ).scalar_one_or_none()


def verify(person_id: int, code: str, *, binding: str) -> list[str] | None:
    """The `amr` values if ``code`` is the live code of this transaction, else None (a
    wrong try counts; the last allowed one voids the code). Commits."""
    row = pending(person_id, binding)
    if row is None:
        return None
    limit = current_app.config["IDP"]["otp_max_attempts"]
    if hmac.compare_digest(row.code_hash, _hash(f"{binding}:{code}")):
        won = db.session.execute(
            update(OobCode).where(OobCode.id == row.id, OobCode.used_at.is_(None)).values(used_at=clock.now())
        ).rowcount
        db.session.commit()
        return [AMR[row.channel]] if won else None
    row.attempts += 1
    if row.attempts >= limit:
        row.used_at = clock.now()
    db.session.commit()
    return None
