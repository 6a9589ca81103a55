"""Plain-language descriptions of what a client asks for, for the consent page."""

from flask_babel import lazy_gettext as _l

CLAIM_TEXT = {
    "name": _l("Your full name"),
    "gender": _l("Your gender"),
    "birthdate": _l("Your date of birth"),
    "updated_at": _l("When your profile was last changed"),
    "email": _l("Your e-mail address"),
    "email_verified": _l("Whether your e-mail address is verified"),
    "phone_number": _l("Your mobile phone number"),
    "phone_number_verified": _l("Whether your phone number is verified"),
    "address": _l("Your address"),
    "nik": _l("Your NIK (national identity number)"),
}
DISPLAY_ORDER = ("name", "birthdate", "gender", "nik", "address", "phone_number", "email")
OFFLINE_TEXT = _l("Keep access while you are not using the application (until you withdraw it)")
OPENID_TEXT = _l("Confirm that you are signed in with SatuAkun (an identifier for you that is unique to this service)")


def describe(scopes: set[str], claims: set[str], client) -> list:
    from idp.oidc.claims import claims_for_scopes

    names = (claims_for_scopes(scopes) | claims) & set(client.claims)
    if "nik" not in scopes:
        names.discard("nik")
    items = [OPENID_TEXT]
    # In the order people think of themselves, not alphabetically by claim name.
    items += [CLAIM_TEXT[n] for n in DISPLAY_ORDER if n in names]
    if "offline_access" in scopes:
        items.append(OFFLINE_TEXT)
    return items
