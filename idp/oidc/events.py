"""oidc listens to lower layers' signals (they never import oidc)."""

from idp import signals
from idp.oidc import backchannel, tokens


def _on_session_ended(sid: str) -> None:
    tokens.revoke_for_session(sid)
    backchannel.enqueue_for_session(sid)  # same transaction as the session end


def _on_person_disabled(person_id: int) -> None:
    tokens.revoke_for_person(person_id)
    backchannel.enqueue_for_person(person_id)  # every session of the person, once per (sid, client)


def _on_consent_withdrawn(person_id: int, *, client_id: str) -> None:
    tokens.revoke_for_person_client(person_id, client_id)
    backchannel.enqueue_for_person_client(person_id, client_id)


def connect() -> None:
    signals.session_ended.connect(_on_session_ended, weak=False)
    signals.person_disabled.connect(_on_person_disabled, weak=False)
    signals.consent_withdrawn.connect(_on_consent_withdrawn, weak=False)
