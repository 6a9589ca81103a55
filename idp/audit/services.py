"""record_event(): one audit row per security-relevant change, in the caller's transaction."""

from __future__ import annotations

import enum
import json
import logging

from idp import clock
from idp.audit.models import AuditEvent
from idp.extensions import db

log = logging.getLogger("idp.audit")


class EventTag(str, enum.Enum):
    """`source:subject:action` (warehouse events/tags.py)."""

    LOGIN_SUCCESS = "account:login:success"
    LOGIN_FAILURE = "account:login:failure"
    LOGOUT = "account:session:ended"
    MFA_FAILURE = "account:mfa:failure"
    TOTP_ADDED = "account:totp:added"
    RECOVERY_CODES_GENERATED = "account:recovery_codes:generated"
    PERSON_CREATED = "operator:person:created"
    PERSON_LOCKED = "operator:person:locked"
    PERSON_UNLOCKED = "operator:person:unlocked"
    CONSENT_GRANTED = "account:consent:granted"
    CONSENT_DENIED = "account:consent:denied"
    CODE_REUSED = "oidc:code:reused"
    REFRESH_REUSED = "oidc:refresh_token:reused"
    TOKEN_REVOKED = "oidc:token:revoked"
    CLIENT_SYNCED = "operator:client:synced"
    CLIENT_SECRET_ROTATED = "operator:client:secret_rotated"
    CLIENT_DISABLED = "operator:client:disabled"
    KEY_GENERATED = "operator:key:generated"
    KEY_ROTATED = "operator:key:rotated"
    KEY_RETIRED = "operator:key:retired"
    KEY_REVOKED = "operator:key:revoked"
    KEY_IMPORTED = "operator:key:imported"
    KEK_REWRAPPED = "operator:kek:rewrapped"


def record_event(
    tag: EventTag,
    *,
    actor: str,
    person_id: int | None = None,
    client_id: str | None = None,
    **data,
) -> None:
    """Add an audit event to the current transaction (the caller commits) and log it."""
    db.session.add(
        AuditEvent(
            tag=tag.value,
            created_at=clock.now(),
            actor=actor,
            person_id=person_id,
            client_id=client_id,
            data=data,
        )
    )
    log.info(
        json.dumps(
            {"event": tag.value, "actor": actor, "person_id": person_id, "client_id": client_id, **data},
            default=str,
        )
    )
