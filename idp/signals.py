"""Domain signals. Lower layers announce; oidc listens (so authn never imports oidc)."""

from blinker import Namespace

_signals = Namespace()

#: sender: sid (str). An SSO session ended: tokens issued under it must die.
session_ended = _signals.signal("session-ended")
#: sender: person_id (int). The person may no longer use any token (locked, deleted).
person_disabled = _signals.signal("person-disabled")
#: sender: person_id (int), kwarg client_id. The person withdrew consent for a client: its
#: tokens for the person must die and it must be told (T67).
consent_withdrawn = _signals.signal("consent-withdrawn")
