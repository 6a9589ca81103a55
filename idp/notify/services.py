"""Sending one-time codes and security notices.

`send(kind, channel, destination, locale=…, **params)` renders the message in the
citizen's language and hands it to the backend configured for the channel
(`notify_email_backend`, `notify_sms_backend`). Raises DeliveryError when the backend
cannot take it; callers say "try again later" and keep nothing half-done.
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from idp.notify.backends import DeliveryError, GatewayBackend, Message, OutboxBackend, SmtpBackend

log = logging.getLogger(__name__)

__all__ = ["CHANNELS", "DeliveryError", "send"]

CHANNELS = ("email", "sms", "whatsapp")

# (subject, body). Bodies are short enough for one SMS where they carry a code.
TEMPLATES = {
    "otp": (
        _l("SatuAkun verification code"),
        _l("Your SatuAkun code is %(code)s. It is valid for %(minutes)s minutes. Never give it to anyone, including officers."),
    ),
    "already_registered": (
        _l("SatuAkun registration"),
        _l("Someone tried to register a SatuAkun account with this contact, for a NIK that already has an account. "
           "If that was you, sign in or use \"Forgot password\". If not, you can ignore this message."),
    ),
    "registration_attempt": (
        _l("Attempt to register your NIK"),
        _l("Someone tried to create a new SatuAkun account with your NIK. Your account has not changed. "
           "If this was not you, consider visiting an MPP counter to verify your identity in person."),
    ),
    "password_reset_code": (
        _l("SatuAkun password reset"),
        _l("Your SatuAkun password reset code is %(code)s. It is valid for %(minutes)s minutes. "
           "If you did not ask for it, ignore this message; your password has not changed."),
    ),
    "password_changed": (
        _l("Your SatuAkun password was changed"),
        _l("The password of your SatuAkun account was changed and every session was signed out. "
           "If this was not you, visit an MPP counter at once."),
    ),
    "account_created": (
        _l("Welcome to SatuAkun"),
        _l("Your SatuAkun account is ready. Protect it with a second factor on the account page."),
    ),
    "factor_locked": (
        _l("SatuAkun: too many wrong codes"),
        _l("Too many wrong codes were entered for your SatuAkun account. The second factor is locked for 15 minutes. "
           "If this was not you, change your password."),
    ),
    "contact_changed": (
        _l("SatuAkun: contact changed"),
        _l("The %(what)s of your SatuAkun account was changed. If this was not you, visit an MPP counter at once."),
    ),
    "factor_added": (
        _l("SatuAkun: new sign-in method"),
        _l("A new sign-in method was added to your SatuAkun account. If this was not you, visit an MPP counter at once."),
    ),
    "document_quarantined": (
        _l("SatuAkun: a document file was blocked"),
        _l("The virus check found harmful content in the file of your document \"%(document)s\". No service can "
           "receive that file any more. Delete the document on your SatuAkun account page and upload a clean copy; "
           "check your device with an antivirus program first."),
    ),
    "activation_code": (
        _l("SatuAkun activation"),
        # One text for every counter outcome that issues a code: account created, taken over
        # from an earlier claim, credentials reset (counter/services.py verify_in_person).
        _l("An MPP officer verified you in person and set up sign-in for your SatuAkun account. Your activation code "
           "is %(code)s, valid for %(hours)s hours. Use it to set your own password; never give it to anyone."),
    ),
}


# Letters: kinds whose body is a plain-text Jinja template, templates/notify/<kind>.txt,
# written in both languages (``locale`` only decides which comes first). For notices that
# are reviewed as a whole document (a legal notice, UU PDP Art. 46) and must be read by
# citizens whose language we do not store. The subject carries both languages too.
LETTERS = {
    "breach_notice": "SatuAkun: Pemberitahuan insiden data pribadi / Personal data breach notice",
    "breach_notice_short": "SatuAkun: insiden data pribadi / personal data breach",
}


def _backend(channel: str):
    cfg = current_app.config["IDP"]
    name = cfg["notify_email_backend"] if channel == "email" else cfg["notify_sms_backend"]
    if name == "smtp":
        return SmtpBackend(cfg)
    if name == "gateway":
        return GatewayBackend(cfg, channel)
    return OutboxBackend(echo=cfg["debug"])


def render(kind: str, locale: str, **params) -> tuple[str, str]:
    if kind in LETTERS:
        template = current_app.jinja_env.get_template(f"notify/{kind}.txt")  # .txt: not HTML-escaped
        return LETTERS[kind], template.render(locale=locale, **params).strip() + "\n"
    subject, body = TEMPLATES[kind]
    with force_locale(locale):
        return str(subject), str(body) % params if params else str(body)


def send(kind: str, channel: str, destination: str, *, locale: str = "id", **params) -> None:
    """Render and deliver. Raises DeliveryError. Logs the kind and channel only."""
    if channel not in CHANNELS:
        raise ValueError(channel)
    subject, body = render(kind, locale, **params)
    _backend(channel).deliver(Message(channel=channel, destination=destination, subject=subject, body=body))
    log.info("notify: sent", extra={"kind": kind, "channel": channel})
