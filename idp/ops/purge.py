"""Deleting what can never be used again: expired codes, interactions, assertion jtis,
tokens and sessions. Batched, so a large backlog never holds a long lock."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, or_, select

from idp import clock
from idp.authn.models import Session
from idp.extensions import db
from idp.oidc.models import AccessToken, AuthorizationCode, Interaction, RefreshToken, UsedJti

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
    return counts
