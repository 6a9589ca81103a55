"""Counter pages (/counter, officers only) and the citizen's activation page (/activate).

Every /counter page needs a live session of an active officer at acr level 2 or more
(the officer's second factor was used): without a session the officer signs in, with a
password-only session the second factor is asked (step-up), anyone else gets a 403 page.
The NIK travels in form bodies only, never in a URL. Works without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from idp.authn import acr, password_policy, passwords, throttle
from idp.authn import services as authn
from idp.counter import services as counter
from idp.extensions import db
from idp.identity.contact import InvalidContactError
from idp.identity.models import Person
from idp.identity.nik import InvalidNIKError
from idp.oidc import authorize as authz
from idp.oidc.views import current_session
from idp.web import browser_id, client_address
from idp.web import current_language as _locale
from idp.web.messages import MESSAGES

bp = Blueprint("counter", __name__, url_prefix="/counter")
activation_bp = Blueprint("activation", __name__)

COUNTER_MESSAGES = {
    "counter.not_officer": _l("This page is for MPP counter officers only."),
    "counter.needs_second_factor": _l("Counter work needs a second factor. Set up an authenticator app or a passkey on "
                                      "your account page first, then come back."),
    "counter.reason": _l("Write why you are looking up this NIK, in at most 200 characters."),
    "counter.photo": _l("Confirm that you compared the photo on the document with the person in front of you."),
    "counter.document": _l("Choose the document you inspected."),
    "counter.name": _l("Enter the full name as written on the document."),
    "counter.action": _l("Choose what to do for this citizen."),
    "counter.channel": _l("Choose how the citizen receives the activation code."),
    "counter.destination": _l("Enter the phone number or e-mail address the activation code should be sent to."),
    "counter.self": _l("You cannot act on your own account at the counter. Ask another officer."),
    "counter.changed": _l("The account changed since you looked it up, or this action is not possible for it. "
                          "Nothing was changed. Look the NIK up again."),
    "counter.not_verified": _l("The data does not match the population registry. Nothing was changed. Check the name "
                               "and date of birth against the document."),
    "counter.unavailable": _l("The population registry cannot be reached right now. Nothing was changed; please try "
                              "again in a few minutes."),
    "counter.limited": _l("Too many look-ups or checks from this officer account. Please wait before trying again."),
    "counter.doc_inspected": _l("Confirm that you inspected the original document before marking it verified."),
    "counter.doc_level": _l("Your counter session cannot verify this kind of document: it needs a higher assurance "
                            "level. Ask an officer verified in person."),
    "counter.doc_state": _l("This document cannot be verified: it was already verified or issued, or it was "
                            "removed. Nothing was changed."),
    "counter.doc_missing": _l("This document is not among the citizen’s documents. Nothing was changed."),
    "counter.doc_quota": _l("The KTP cannot be stored: the citizen’s document space is full, or this provider keeps "
                            "no KTP type. Nothing was stored."),
    "counter.doc_file": _l("The file of this document cannot be opened right now."),
    "counter.doc_withheld": _l("This file is still being checked for viruses, or the check found harmful content: "
                               "it cannot be opened. Compare the citizen's original document instead."),
    "counter.doc_verified": _l("The document is marked as checked by an MPP officer."),
    "counter.doc_refused": _l("The refusal is recorded. The document stays as uploaded by the citizen."),
    "counter.doc_issued": _l("The KTP was taken from Dukcapil and stored in the citizen’s documents."),
    "documents.registry_mismatch": _l("The population registry holds no record matching this account’s NIK, name "
                                      "and date of birth. Nothing was stored."),
    "documents.registry_unavailable": _l("The population registry cannot be reached right now. Nothing was stored; "
                                         "please try again in a few minutes."),
    "documents.registry_not_supported": _l("Taking documents from Dukcapil is not available yet at this provider. "
                                           "Nothing was stored."),
    "activation.failed": _l("The NIK or activation code is incorrect, or the code has expired. Check both, or ask an "
                            "officer at an MPP counter for a new code."),
}

DOCUMENT_LABELS = {
    "idcard": _l("KTP-el (electronic identity card)"),
    "passport": _l("Indonesian passport"),
    "driving_permit": _l("Driving licence (SIM)"),
}
ACTION_LABELS = {
    "create": _l("Create the account for the citizen"),
    "verify": _l("Raise the account to verified in person (the citizen keeps using it)"),
    "take_over": _l("Take the account over: the citizen says it is not theirs or cannot use it. Its password, "
                    "second factors, contacts and sessions are removed."),
    "reset": _l("Reset the sign-in: the citizen is locked out or lost every factor. Password and second factors "
                "are removed; the account is unlocked."),
}


def _message(key: str, **params) -> str:
    text = str(COUNTER_MESSAGES.get(key) or MESSAGES.get(key) or MESSAGES["error.generic"])
    return text % params if params else text


def _error_page(key: str, status: int, **headers) -> Response:
    resp = Response(render_template("errors/error.html", message=_message(key), status=status), status=status)
    for name, value in headers.items():
        resp.headers[name] = value
    return resp




# -- access --------------------------------------------------------------------------------------
def _officer():
    """(officer, person, None) for an officer allowed in, else (None, None, response)."""
    session = current_session()
    if session is None:
        uid = authz.start_account_interaction(browser_id(), url_for("counter.home"), reauth=False)
        return None, None, redirect(url_for("oidc.login", uid=uid))
    officer = counter.get_active_officer(session.person_id)
    if officer is None:
        return None, None, _error_page("counter.not_officer", 403)
    if not authn.has_second_factor(session.person_id):
        # An enrolled factor (app, recovery codes, passkey), not only a code to a contact.
        return None, None, _error_page("counter.needs_second_factor", 403)
    if not acr.satisfies(session.acr, acr.LOA2):
        # Step-up: the second factor on top of the current session, then back here.
        uid = authz.start_account_interaction(browser_id(), url_for("counter.home"), reauth=False)
        return None, None, redirect(url_for("oidc.mfa", uid=uid))
    return officer, db.session.get(Person, session.person_id), None


class LookupForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    # Lengths are the service's to judge (after whitespace is collapsed); this only caps the input.
    reason = StringField("reason", validators=[Length(max=1000)])


class VerifyForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    reason = StringField("reason", validators=[Length(max=1000)])
    action = StringField("action", validators=[Length(max=16)])
    document_type = StringField("document_type", default="idcard", validators=[Length(max=32)])
    photo_matches = BooleanField("photo_matches")
    name = StringField("name", validators=[Length(max=200)])
    birthdate = StringField("birthdate", validators=[Length(max=32)])
    birthplace = StringField("birthplace", validators=[Optional(), Length(max=100)])
    channel = StringField("channel", default="printed", validators=[Length(max=16)])
    phone = StringField("phone", validators=[Optional(), Length(max=32)])
    email = StringField("email", validators=[Optional(), Length(max=254)])


def _home(officer, person, form: LookupForm, *, error: str | None = None) -> Response:
    return Response(render_template("counter/home.html", officer=officer, person=person, form=form,
                                    error=_message(error) if error else None), status=400 if error else 200)


def _citizen(officer, person, status, form: VerifyForm, *, error: str | None = None, field: str | None = None,
             notice: str | None = None, error_status: int = 400) -> Response:
    return Response(render_template(
        "counter/citizen.html", officer=officer, person=person, status=status, form=form,
        documents=DOCUMENT_LABELS, actions=ACTION_LABELS, error=_message(error) if error else None, field=field,
        vault=_vault_rows(officer, form.nik.data or ""), level=_acting_level(), notice=_message(notice) if notice else None,
    ), status=error_status if error else 200)


# -- the citizen's document vault at the counter (issue #6) ------------------------------------
def _acting_level() -> int:
    """The assurance level the officer acts at: the counter session's acr level (2, or 3
    for an officer verified in person); compared with each type's `verifiable_at`."""
    session = current_session()
    return acr.ORDER.get(session.acr, 0) if session is not None else 0


def _vault_rows(officer, nik: str) -> list[dict]:
    from flask_babel import get_locale

    from idp.documents import services as vault
    from idp.documents import types as doc_types

    english = (loc := get_locale()) is not None and loc.language == "en"
    rows = []
    for doc in vault.counter_documents(officer, nik):
        t = doc_types.get(doc.type_code)
        values = vault.attributes(doc)
        attrs = [((a.label_en if english else a.label), values[a.name]) for a in (t.attributes if t else ()) if a.name in values]
        rows.append({"doc": doc, "type": t, "name": (t.name_en if english else t.name) if t else doc.type_code,
                     "attributes": attrs, "expired": vault.is_expired(doc),
                     "verifiable_at": t.verifiable_at if t else 99})
    return rows


class DocumentActionForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    reason = StringField("reason", validators=[Length(max=1000)])
    document = StringField("document", validators=[Length(max=64)])
    inspected = BooleanField("inspected")
    decision = StringField("decision", validators=[Length(max=16)])


def _document_page(officer, person, form: DocumentActionForm, *, error: str | None = None, notice: str | None = None,
                   status: int = 400) -> Response:
    try:
        citizen = counter.describe(officer, form.nik.data or "")
    except InvalidNIKError:
        return _home(officer, person, LookupForm(formdata=None), error="nik.format")
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    verify_form = VerifyForm(formdata=None, nik=form.nik.data, reason=form.reason.data, action=citizen.actions[0],
                             document_type="idcard", channel="printed")
    return _citizen(officer, person, citizen, verify_form, error=error, notice=notice, error_status=status)


@bp.post("/documents/decide")
def decide_document():
    """Verify a citizen's uploaded document as is after inspecting the original, or refuse."""
    from idp.documents import services as vault

    officer, person, refused = _officer()
    if refused is not None:
        return refused
    form = DocumentActionForm()
    if not form.validate_on_submit():
        return _document_page(officer, person, form, error="counter.doc_missing")
    try:
        if form.decision.data == "refuse":
            vault.refuse_document(officer, form.nik.data, form.document.data or "", reason=form.reason.data,
                                  remote_addr=client_address())
            return _document_page(officer, person, form, notice="counter.doc_refused")
        vault.verify_document(officer, form.nik.data, form.document.data or "", level=_acting_level(),
                              inspected=bool(form.inspected.data), reason=form.reason.data, remote_addr=client_address())
    except counter.InvalidReasonError:
        return _document_page(officer, person, form, error="counter.reason")
    except (InvalidNIKError, vault.NoSuchDocumentError):
        return _document_page(officer, person, form, error="counter.doc_missing", status=404)
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    except vault.NotInspectedError:
        return _document_page(officer, person, form, error="counter.doc_inspected")
    except vault.NotVerifiableError as exc:
        return _document_page(officer, person, form, error="counter.doc_level" if exc.code == "level" else "counter.doc_state",
                              status=403 if exc.code == "level" else 409)
    return _document_page(officer, person, form, notice="counter.doc_verified")


@bp.post("/documents/file")
def document_file():
    """The file, as a download only (as /account/documents/<id>/file: attachment, nosniff,
    sandbox); the NIK stays in the form body."""
    from idp.documents import services as vault
    from idp.documents import storage
    from idp.web import document_download

    officer, person, refused = _officer()
    if refused is not None:
        return refused
    form = DocumentActionForm()
    if not form.validate_on_submit():
        return _document_page(officer, person, form, error="counter.doc_missing")
    try:
        doc, data = vault.open_for_officer(officer, form.nik.data, form.document.data or "", form.reason.data,
                                           remote_addr=client_address())
    except counter.InvalidReasonError:
        return _document_page(officer, person, form, error="counter.reason")
    except (InvalidNIKError, vault.NoSuchDocumentError):
        return _document_page(officer, person, form, error="counter.doc_missing", status=404)
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    except vault.FileWithheldError:  # not scanned clean (T70): a state, not an outage
        return _document_page(officer, person, form, error="counter.doc_withheld", status=409)
    except (vault.DocumentError, storage.BlobStoreError):
        return _document_page(officer, person, form, error="counter.doc_file", status=503)
    return document_download(doc, data)


@bp.post("/documents/issue")
def issue_document():
    """Take the citizen's KTP from the population registry into their documents."""
    from idp.documents import services as vault

    officer, person, refused = _officer()
    if refused is not None:
        return refused
    form = DocumentActionForm()
    if not form.validate_on_submit():
        return _document_page(officer, person, form, error="counter.doc_missing")
    try:
        vault.issue_at_counter(officer, form.nik.data, form.reason.data, remote_addr=client_address())
    except counter.InvalidReasonError:
        return _document_page(officer, person, form, error="counter.reason")
    except (InvalidNIKError, vault.NoSuchDocumentError):
        return _document_page(officer, person, form, error="counter.doc_missing", status=404)
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    except vault.RegistryMismatchError:
        return _document_page(officer, person, form, error="documents.registry_mismatch", status=422)
    except vault.RegistryDownError as exc:
        if exc.not_supported:
            return _document_page(officer, person, form, error="documents.registry_not_supported", status=501)
        resp = _document_page(officer, person, form, error="documents.registry_unavailable", status=503)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except (vault.QuotaExceededError, vault.UnknownTypeError):
        return _document_page(officer, person, form, error="counter.doc_quota", status=409)
    return _document_page(officer, person, form, notice="counter.doc_issued")


@bp.get("")
def home():
    officer, person, refused = _officer()
    if refused is not None:
        return refused
    return _home(officer, person, LookupForm(formdata=None))


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    officer, person, refused = _officer()
    if refused is not None:
        return refused
    if request.method == "GET":  # e.g. the language switch on a result page
        return redirect(url_for("counter.home"), code=303)
    form = LookupForm()
    if not form.validate_on_submit():
        return _home(officer, person, form, error="nik.format")
    try:
        status = counter.lookup(officer, form.nik.data, form.reason.data, remote_addr=client_address())
    except counter.InvalidReasonError:
        return _home(officer, person, form, error="counter.reason")
    except InvalidNIKError as exc:
        return _home(officer, person, form, error=exc.code if exc.code in MESSAGES else "nik.format")
    except counter.SelfServiceError:
        return _home(officer, person, form, error="counter.self")
    except counter.RateLimitedError as exc:
        return _error_page("counter.limited", 429, **{"Retry-After": str(exc.retry_after)})
    verify = VerifyForm(formdata=None, nik=form.nik.data.strip(), reason=form.reason.data,
                        action=status.actions[0], document_type="idcard", channel="printed")
    return _citizen(officer, person, status, verify)


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    officer, person, refused = _officer()
    if refused is not None:
        return refused
    if request.method == "GET":
        return redirect(url_for("counter.home"), code=303)
    form = VerifyForm()
    try:
        status = counter.describe(officer, form.nik.data or "")
    except InvalidNIKError:
        return _home(officer, person, LookupForm(formdata=None), error="nik.format")
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    if not form.validate_on_submit():
        return _citizen(officer, person, status, form, error="counter.action")
    from idp.registration.services import parse_birthdate

    try:
        birthdate = parse_birthdate(form.birthdate.data)
        check = counter.InPersonCheck(
            nik=form.nik.data, name=form.name.data or "", birthdate=birthdate, document_type=form.document_type.data,
            photo_matches=bool(form.photo_matches.data), birthplace=form.birthplace.data or None,
        )
        handover = counter.Handover(channel=form.channel.data, phone=form.phone.data or None, email=form.email.data or None)
        outcome = counter.verify_in_person(officer, check, form.action.data, form.reason.data, handover=handover,
                                           remote_addr=client_address(), locale=_locale())
    except counter.InvalidReasonError:
        return _citizen(officer, person, status, form, error="counter.reason", field="reason")
    except counter.InvalidCheckError as exc:
        return _citizen(officer, person, status, form, error=exc.code, field=exc.code)
    except InvalidNIKError as exc:
        key = exc.code if exc.code in MESSAGES else "nik.format"
        return _citizen(officer, person, status, form, error=key, field="birthdate")
    except InvalidContactError as exc:
        return _citizen(officer, person, status, form, error=exc.args[0], field=exc.args[0])
    except counter.SelfServiceError:
        return _home(officer, person, LookupForm(formdata=None), error="counter.self")
    except counter.ActionNotAllowedError:
        return _citizen(officer, person, status, form, error="counter.changed")
    except counter.NotVerifiedError:
        return _citizen(officer, person, status, form, error="counter.not_verified", field="counter.name")
    except counter.RateLimitedError as exc:
        return _error_page("counter.limited", 429, **{"Retry-After": str(exc.retry_after)})
    except counter.RegistryUnavailableError as exc:
        return _error_page("counter.unavailable", 503, **{"Retry-After": str(exc.retry_after)})
    return Response(render_template("counter/done.html", officer=officer, person=person, outcome=outcome,
                                    lookup=LookupForm(formdata=None)))


# -- activation (public) ----------------------------------------------------------------------
class ActivateForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    code = StringField("code", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("confirm", validators=[DataRequired(), Length(max=1024)])


@activation_bp.route("/activate", methods=["GET", "POST"])
def activate():
    form = ActivateForm()
    error = None
    minimum = password_policy.MIN_WITHOUT_SECOND_FACTOR
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            error = _message("registration.password_mismatch")
        else:
            try:
                counter.activate(form.nik.data, form.code.data, form.password.data, remote_addr=client_address())
            except counter.ActivationFailedError:
                error = _message("activation.failed")
            except password_policy.WeakPasswordError as exc:
                error = _message(exc.code, minimum=exc.minimum or minimum)
            except throttle.ThrottledError as exc:
                return _error_page("error.throttled", 429, **{"Retry-After": str(exc.retry_after)})
            except passwords.HashingBusyError:
                return _error_page("error.busy", 503, **{"Retry-After": "1"})
            else:
                return redirect(url_for("activation.done"), code=303)
    elif request.method == "POST":
        error = _message("activation.failed")
    return Response(render_template("counter/activate.html", form=form, error=error, minimum=minimum),
                    status=400 if error else 200)


@activation_bp.get("/activate/done")
def done():
    return render_template("counter/activated.html")
