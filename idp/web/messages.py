"""Messages shown to people, by key. Source language English; Bahasa Indonesia in
translations/id. Never say whether a NIK or account exists."""

from flask_babel import lazy_gettext as _l

MESSAGES = {
    "error.generic": _l("Something went wrong. Please go back to the application and try again."),
    "error.unknown_client": _l("This application is not registered with SatuAkun, or it has been disabled. Please contact the service you came from."),
    "error.bad_redirect_uri": _l("The application sent you here with an address that is not registered. For your safety you were not sent back. Please contact the service you came from."),
    "error.interaction_expired": _l("This sign-in page has expired. Please go back to the application and start again."),
    "error.csrf": _l("This form has expired or was sent from another site. Please go back and try again."),
    "error.not_found": _l("This page does not exist."),
    "error.method": _l("This address does not accept that kind of request."),
    "error.too_large": _l("The request is too large."),
    "error.busy": _l("The service is busy. Please try again in a moment."),
    "error.logout_bad_redirect": _l("The application asked to send you to an address it has not registered after signing out. You have not been redirected."),
    "login.invalid": _l("The NIK or password is incorrect."),
    "mfa.invalid": _l("The code is incorrect or has already been used."),
    "error.throttled": _l("Too many failed attempts. Please wait a moment and try again."),
    "error.factor_locked": _l("Too many wrong codes. Your second factor is locked for 15 minutes; please try again later."),
    "error.mfa_void": _l("Too many wrong codes. Please go back to the application and sign in again."),
}
