"""oidc listens to lower layers' signals (they never import oidc)."""

from idp import signals
from idp.oidc import tokens


def _on_session_ended(sid: str) -> None:
    tokens.revoke_for_session(sid)


def _on_person_disabled(person_id: int) -> None:
    tokens.revoke_for_person(person_id)


def connect() -> None:
    signals.session_ended.connect(_on_session_ended, weak=False)
    signals.person_disabled.connect(_on_person_disabled, weak=False)
