"""Deleting what can never be used again: expired codes, interactions, assertion jtis,
tokens and sessions. Batched, so a large backlog never holds a long lock."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, or_, select

from idp import clock
from idp.authn.models import OobCode, RateCounter, Session, WebAuthnChallenge
from idp.documents.models import DocumentDownloadLink
from idp.extensions import db
from idp.oidc.models import AccessToken, AuthorizationCode, Interaction, RefreshToken, UsedJti
from idp.recovery.models import Recovery
from idp.registration.models import Registration

BATCH = 5000


def _targets(now: int, keep: int):
    """(label, model, primary key column, condition). Revoked/ended rows are kept `keep`
    seconds for investigation (audit events are kept separately)."""
    return [
        ("authorization codes", AuthorizationCode, AuthorizationCode.code_hash, AuthorizationCode.expires_at < now - keep),
        ("interactions", Interaction, Interaction.uid_hash, Interaction.expires_at < now - keep),
        ("client assertion ids", UsedJti, UsedJti.key, UsedJti.expires_at < now),
        ("access tokens", AccessToken, AccessToken.id, AccessToken.expires_at < now - keep),
        ("refresh tokens", RefreshToken, RefreshToken.id,
         or_(RefreshToken.expires_at < now - keep, RefreshToken.revoked_at < now - keep)),
        ("sessions", Session, Session.id_hash, or_(Session.expires_at < now - keep, Session.ended_at < now - keep)),
        ("passkey challenges", WebAuthnChallenge, WebAuthnChallenge.challenge_hash, WebAuthnChallenge.expires_at < now),
        # Unfinished registrations bind nothing and go as soon as they expire (T39).
        ("registrations", Registration, Registration.id, Registration.expires_at < now),
        # Password resets: kept `keep` seconds after expiry, for investigation (the audit
        # trail holds the outcome).
        ("password resets", Recovery, Recovery.id, Recovery.expires_at < now - keep),
        ("rate counters", RateCounter, RateCounter.key, RateCounter.expires_at < now),
        ("one-time codes", OobCode, OobCode.id, OobCode.expires_at < now - keep),
        # Single-use document file links: useless once expired, used or not.
        ("document file links", DocumentDownloadLink, DocumentDownloadLink.id_hash, DocumentDownloadLink.expires_at < now),
        *_backchannel_targets(now, keep),
    ]


def _backchannel_targets(now: int, keep: int):
    """Who signed in where: gone once every session those rows could belong to has expired
    (a row is written while its session lives, so by `sid` is safe); finished deliveries
    after `keep`. Pending deliveries stay until delivered or given up."""
    from flask import current_app

    from idp.oidc.models import BackchannelDelivery, SessionClient

    session_ttl = current_app.config["IDP"]["session_absolute_ttl"]
    return [
        ("back-channel sign-ins", SessionClient, SessionClient.sid, SessionClient.created_at < now - session_ttl - keep),
        ("back-channel deliveries", BackchannelDelivery, BackchannelDelivery.id,
         or_(BackchannelDelivery.delivered_at < now - keep, BackchannelDelivery.gave_up_at < now - keep)),
    ]


def purge(keep_seconds: int = 86400, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Delete expired rows in batches. Returns counts per kind; calls ``progress(label, n)``
    after each batch."""
    now = clock.now()
    counts: dict[str, int] = {}
    for label, model, pk, condition in _targets(now, keep_seconds):
        total = 0
        while True:
            ids = db.session.execute(select(pk).where(condition).limit(BATCH)).scalars().all()
            if not ids:
                break
            db.session.execute(delete(model).where(pk.in_(ids)))
            db.session.commit()
            total += len(ids)
            if progress:
                progress(label, total)
        counts[label] = total
    # Encrypted document files whose row never arrived (a crash between the two writes).
    from idp.documents.services import purge_orphan_blobs

    counts["orphan document files"] = purge_orphan_blobs()
    return counts
