"""Consent: what a person agreed to share with a client, remembered per client.

A stored consent covers a request when every requested scope and claim is in it and it
has not expired; a request that grows asks again (SECURITY.md T65).
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import clock, signals
from idp.audit.services import EventTag, record_event
from idp.consent.models import Consent
from idp.extensions import db


def get_consent(person_id: int, client_id: str) -> Consent | None:
    consent = db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.client_id == client_id)
    ).scalar_one_or_none()
    if consent is None or consent.expires_at <= clock.now():
        return None
    return consent


def covers(consent: Consent | None, scopes: set[str], claims: set[str]) -> bool:
    if consent is None:
        return False
    return scopes <= set(consent.scopes) and claims <= set(consent.claims)


def grant_consent(person_id: int, client_id: str, scopes: set[str], claims: set[str]) -> Consent:
    """Record (or widen) consent. Commits.

    Two tabs approving at once race on the (person, client) unique key; the loser
    retries once and widens the winner's row."""
    try:
        return _grant(person_id, client_id, scopes, claims)
    except IntegrityError:
        db.session.rollback()
        return _grant(person_id, client_id, scopes, claims)


def _grant(person_id: int, client_id: str, scopes: set[str], claims: set[str]) -> Consent:
    now = clock.now()
    ttl = current_app.config["IDP"]["consent_ttl"]
    consent = db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.client_id == client_id)
    ).scalar_one_or_none()
    if consent is None:
        consent = Consent(person_id=person_id, client_id=client_id, scopes=[], claims=[])
        db.session.add(consent)
    elif consent.expires_at <= now:
        consent.scopes, consent.claims = [], []
    consent.scopes = sorted(set(consent.scopes) | scopes)
    consent.claims = sorted(set(consent.claims) | claims)
    consent.granted_at = now
    consent.expires_at = now + ttl
    record_event(
        EventTag.CONSENT_GRANTED, actor="citizen", person_id=person_id, client_id=client_id,
        scopes=sorted(scopes), claims=sorted(claims),
    )
    db.session.commit()
    return consent


def list_consents(person_id: int) -> list[Consent]:
    """The person's live consents, newest first (account page)."""
    return db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.expires_at > clock.now())
        .order_by(Consent.granted_at.desc())
    ).scalars().all()


def withdraw_consent(person_id: int, client_id: str) -> bool:
    """The citizen stops sharing with a client (UU PDP Art. 9/40, T67): the consent row
    goes, and listeners revoke the client's tokens for the person and queue a back-channel
    notice, in this transaction. Commits. Returns False when there was no consent."""
    consent = db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.client_id == client_id)
    ).scalar_one_or_none()
    if consent is None:
        return False
    db.session.delete(consent)
    signals.consent_withdrawn.send(person_id, client_id=client_id)
    record_event(EventTag.CONSENT_WITHDRAWN, actor="citizen", person_id=person_id, client_id=client_id)
    db.session.commit()
    return True


def record_denial(person_id: int, client_id: str) -> None:
    record_event(EventTag.CONSENT_DENIED, actor="citizen", person_id=person_id, client_id=client_id)
    db.session.commit()
