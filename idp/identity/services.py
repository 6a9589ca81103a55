"""Person records: creation, lookup by NIK (blind index), lock/unlock."""

from __future__ import annotations

import datetime
import secrets

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import clock, signals
from idp.audit.services import EventTag, record_event
from idp.authn import passwords
from idp.extensions import db
from idp.identity.models import Person
from idp.identity.nik import check_nik_birthdate, normalize_nik, parse_nik
from idp.keys import envelope


class PersonExistsError(Exception):
    pass


class InvalidPersonError(ValueError):
    pass


def nik_index(nik: str) -> str:
    return envelope.blind_index(current_app.extensions["idp_secrets"]["nik_index"], nik)


def encrypt_nik(nik: str) -> bytes:
    return envelope.encrypt(current_app.extensions["idp_secrets"]["kek"], nik.encode(), b"person.nik")


def decrypt_nik(person: Person) -> str:
    from idp.keys.store import keks

    return envelope.decrypt_any(keks(), person.nik_encrypted, b"person.nik").decode()


def get_person_by_nik(raw_nik: str) -> Person | None:
    """Look up by NIK through the blind index. Returns None for unknown or malformed NIKs."""
    try:
        nik = normalize_nik(raw_nik)
    except ValueError:
        return None
    return db.session.execute(select(Person).where(Person.nik_index == nik_index(nik))).scalar_one_or_none()


def create_person(
    *,
    nik: str,
    name: str,
    birthdate: str,
    password: str | None,
    actor: str,
    email: str | None = None,
    phone_number: str | None = None,
    gender: str | None = None,
    address: dict | None = None,
    birthplace: str | None = None,
    identity_level: int = 1,
    evidence: list[dict] | None = None,
    commit: bool = True,
) -> Person:
    """Create a person. Returns the new Person. With ``commit=False`` the caller commits
    (an officer's audit event and activation code go in the same transaction).

    Raises InvalidNIKError (malformed NIK, unknown region, serial 0000, or a birth date
    in the NIK other than ``birthdate``), InvalidPersonError or PersonExistsError.
    """
    parsed = parse_nik(nik)
    nik = parsed.value
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InvalidPersonError("name")
    try:
        born = datetime.date.fromisoformat(birthdate)
    except (TypeError, ValueError):
        raise InvalidPersonError("birthdate") from None
    check_nik_birthdate(parsed, born)
    now = clock.now()
    person = Person(
        public_id=secrets.token_hex(16),
        nik_index=nik_index(nik),
        nik_encrypted=encrypt_nik(nik),
        name=name,
        birthdate=born.isoformat(),
        gender=gender,
        email=email,
        email_verified=bool(email),
        phone_number=phone_number,
        phone_number_verified=bool(phone_number),
        address=address,
        birthplace=birthplace,
        identity_level=identity_level,
        identity_verified_at=now,
        evidence=evidence or [],
        password_hash=passwords.hash_password(password) if password else None,
        locked=False,
        created_at=now,
        updated_at=now,
    )
    db.session.add(person)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise PersonExistsError() from None
    record_event(EventTag.PERSON_CREATED, actor=actor, person_id=person.id)
    if commit:
        db.session.commit()
    return person


def set_locked(person: Person, locked: bool, *, actor: str) -> None:
    person.locked = locked
    person.updated_at = clock.now()
    record_event(EventTag.PERSON_LOCKED if locked else EventTag.PERSON_UNLOCKED, actor=actor, person_id=person.id)
    if locked:
        signals.person_disabled.send(person.id)
    db.session.commit()
