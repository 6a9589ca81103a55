"""Security notices to the account holder (SECURITY.md T46, T52, T54): a factor locked, a
sign-in method added, the password changed.

Each notice goes to every *verified* contact of the person (an unverified address may
belong to someone else), after the change it reports has been committed. A notifier that
fails never undoes or breaks the citizen's action: the failure is logged (kind and channel
only, never the address) and the action goes on.
"""

from __future__ import annotations

import logging

from flask import current_app, has_request_context

from idp.extensions import db
from idp.identity.models import Person
from idp.notify import services as notify

log = logging.getLogger(__name__)


def verified_contacts(person: Person) -> list[tuple[str, str]]:
    """(channel, address) for each verified contact: the phone by SMS, then the e-mail."""
    contacts = []
    if person.phone_number and person.phone_number_verified:
        contacts.append(("sms", person.phone_number))
    if person.email and person.email_verified:
        contacts.append(("email", person.email))
    return contacts


def _locale() -> str:
    if has_request_context():
        from flask_babel import get_locale

        loc = get_locale()
        if loc is not None:
            return loc.language
    return current_app.config["IDP"]["default_locale"]


def notify_person(person: Person, kind: str, *, locale: str | None = None, **params) -> int:
    """Send the notice ``kind`` (idp/notify TEMPLATES) to every verified contact of
    ``person``, in ``locale`` (default: the language of the current page). Returns how
    many messages were handed over. Never raises for a delivery problem."""
    locale = locale or _locale()
    sent = 0
    for channel, address in verified_contacts(person):
        try:
            notify.send(kind, channel, address, locale=locale, **params)
        except notify.DeliveryError:
            log.warning("notice not delivered", extra={"kind": kind, "channel": channel})
        except Exception:
            db.session.rollback()
            log.exception("notice failed", extra={"kind": kind, "channel": channel})
        else:
            sent += 1
    return sent
