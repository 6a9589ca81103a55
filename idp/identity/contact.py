"""Contact addresses: Indonesian mobile numbers and e-mail addresses. Pure functions.

Mobile numbers are +62 only (SECURITY.md "SMS/WA/e-mail codes"): "0812-3456-7890",
"62812 3456 7890" and "+6281234567890" all become "+6281234567890". Indonesian mobile
numbers start with 8 after the country code and have 9 to 12 digits after it
(Permenkominfo numbering plan). E-mail syntax is checked by email-validator without DNS
lookups (deliverability is proven by the one-time code, not by a lookup).
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"\+628[0-9]{8,11}")


class InvalidContactError(ValueError):
    pass


def normalize_phone(raw: str) -> str:
    """Return the number as +628… or raise InvalidContactError("contact.phone")."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise InvalidContactError("contact.phone")
    value = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if value.startswith("08"):
        value = "+62" + value[1:]
    elif value.startswith("628"):
        value = "+" + value
    if not _MOBILE.fullmatch(value):
        raise InvalidContactError("contact.phone")
    return value


def normalize_email(raw: str) -> str:
    """Return the normalised address or raise InvalidContactError("contact.email")."""
    if not isinstance(raw, str) or len(raw) > 254:
        raise InvalidContactError("contact.email")
    try:
        return validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError:
        raise InvalidContactError("contact.email") from None


def mask_phone(phone: str) -> str:
    return phone[:5] + "*" * max(0, len(phone) - 8) + phone[-3:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"
