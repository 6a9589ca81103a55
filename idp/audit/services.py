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
    PASSKEY_ADDED = "account:passkey:added"
    PASSKEY_RENAMED = "account:passkey:renamed"
    PASSKEY_REMOVED = "account:passkey:removed"
    PASSKEY_USED = "authn:passkey:used"
    # WebAuthn L2 §7.2 step 21: a counter that did not grow hints at a cloned authenticator.
    PASSKEY_SIGN_COUNT_REGRESSED = "authn:passkey:sign_count_regressed"
    PERSON_CREATED = "operator:person:created"
    REGISTRATION_STARTED = "citizen:registration:started"
    REGISTRATION_NOT_VERIFIED = "citizen:registration:not_verified"
    REGISTRATION_DUPLICATE = "citizen:registration:duplicate_nik"
    REGISTRATION_COMPLETED = "citizen:registration:completed"
    # Account recovery (idp/recovery) and the locks that send people there.
    RECOVERY_REQUESTED = "citizen:recovery:requested"
    RECOVERY_CODE_VERIFIED = "citizen:recovery:code_verified"
    RECOVERY_VOID = "citizen:recovery:void"
    PASSWORD_RESET = "account:password:reset"
    PASSWORD_LOCKED_OUT = "account:password:locked_out"
    MFA_LOCKED = "account:mfa:locked"
    PERSON_LOCKED = "operator:person:locked"
    PERSON_UNLOCKED = "operator:person:unlocked"
    SESSIONS_ENDED_BY_OPERATOR = "operator:sessions:ended"
    CONSENT_GRANTED = "account:consent:granted"
    CONSENT_DENIED = "account:consent:denied"
    CONSENT_WITHDRAWN = "account:consent:withdrawn"
    CONTACT_CHANGED = "account:contact:changed"
    IDENTITY_CORRECTED = "account:identity:corrected"
    ADDRESS_CHANGED = "account:address:changed"
    # UU PDP (T93, T94): the citizen took a copy of their data; deleted their account.
    DATA_EXPORTED = "account:data:exported"
    ACCOUNT_DELETED = "account:person:deleted"
    # Operator privacy tooling (idp/privacy): breach drill (T96), manual data access (T93).
    BREACH_ASSESSED = "privacy:breach:assessed"
    BREACH_NOTIFIED = "privacy:breach:notified"
    BREACH_REPORTED = "privacy:breach:reported"
    DATA_EXPORTED_BY_OPERATOR = "privacy:data:exported"
    DATA_EXPORT_NO_ACCOUNT = "privacy:data:no_account"
    CODE_REUSED = "oidc:code:reused"
    REFRESH_REUSED = "oidc:refresh_token:reused"
    TOKEN_REVOKED = "oidc:token:revoked"
    # Back-Channel Logout: an RP was never told of a logout (retries exhausted, T61).
    BACKCHANNEL_LOGOUT_GAVE_UP = "oidc:backchannel_logout:gave_up"
    CLIENT_SYNCED = "operator:client:synced"
    CLIENT_SECRET_ROTATED = "operator:client:secret_rotated"
    CLIENT_DISABLED = "operator:client:disabled"
    KEY_GENERATED = "operator:key:generated"
    KEY_ROTATED = "operator:key:rotated"
    KEY_RETIRED = "operator:key:retired"
    KEY_REVOKED = "operator:key:revoked"
    KEY_IMPORTED = "operator:key:imported"
    KEK_REWRAPPED = "operator:kek:rewrapped"
    REGISTRY_IMPORTED = "operator:registry:imported"
    REGISTRY_VERIFY_MATCH = "registry:verify:match"
    REGISTRY_VERIFY_MISMATCH = "registry:verify:mismatch"
    REGISTRY_VERIFY_UNAVAILABLE = "registry:verify:unavailable"
    # MPP counters (idp/counter): officers, in-person verification, activation codes.
    OFFICER_ADDED = "operator:officer:added"
    OFFICER_DISABLED = "operator:officer:disabled"
    COUNTER_LOOKED_UP = "counter:citizen:looked_up"
    COUNTER_NOT_VERIFIED = "counter:identity:not_verified"
    COUNTER_VERIFIED = "counter:identity:verified"
    COUNTER_ACCOUNT_CREATED = "counter:account:created"
    COUNTER_TAKEN_OVER = "counter:account:taken_over"
    COUNTER_CREDENTIALS_RESET = "counter:credentials:reset"
    COUNTER_CODE_ISSUED = "counter:activation_code:issued"
    ACTIVATION_COMPLETED = "citizen:activation:completed"
    ACTIVATION_FAILED = "citizen:activation:failed"
    # Document vault (idp/documents); reads by services go to document_access.
    DOCUMENT_UPLOADED = "account:document:uploaded"
    DOCUMENT_DELETED = "account:document:deleted"
    DOCUMENT_GRANTED = "account:document_grant:granted"
    DOCUMENT_GRANT_WITHDRAWN = "account:document_grant:withdrawn"
    DOCUMENT_ISSUED = "account:document:issued"
    # Anti-virus scanning (documents/scan.py, T70): an upload refused for malware; a stored
    # file found infected later (`idp documents scan`) and withheld from everyone.
    DOCUMENT_INFECTED_REFUSED = "account:document:infected_refused"
    DOCUMENT_QUARANTINED = "operator:document:quarantined"
    COUNTER_DOCUMENT_VERIFIED = "counter:document:verified"
    COUNTER_DOCUMENT_REFUSED = "counter:document:refused"
    COUNTER_DOCUMENT_OPENED = "counter:document:opened"
    COUNTER_DOCUMENT_ISSUED = "counter:document:issued"


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
