"""Self-service: the citizen's own account page, authenticator app, recovery codes and passkeys.

Sensitive changes (a new factor, new recovery codes) need a full authentication in the
last 15 minutes, including the current second factor (T54)."""

from __future__ import annotations

import logging

import segno
from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn import notices, recovery, totp, webauthn
from idp.authn import services as authn
from idp.extensions import db
from idp.identity.models import Person
from idp.oidc import authorize as authz
from idp.oidc.views import current_session
from idp.web import browser_id, client_address
from idp.web.messages import MESSAGES

bp = Blueprint("account", __name__, url_prefix="/account")

RECENT_AUTH = 900


def _signed_in():
    session = current_session()
    if session is None:
        return None, None
    return session, db.session.get(Person, session.person_id)


def _login(return_to: str, *, reauth: bool) -> Response:
    uid = authz.start_account_interaction(browser_id(), return_to, reauth=reauth)
    return redirect(url_for("oidc.login", uid=uid))


def _recent(session) -> bool:
    return clock.now() - session.auth_time <= RECENT_AUTH


@bp.get("")
def home():
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.home"), reauth=False)
    return render_template(
        "account/home.html", person=person, totp_on=totp.get_factor(person.id) is not None,
        codes_left=recovery.remaining(person.id), form=FlaskForm(),
        sessions=authn.list_sessions(person.id), current_sid=session.sid,
        passkeys=len(webauthn.list_credentials(person.id)),
    )


@bp.post("/sessions/end")
def end_session():
    """End one of the citizen's sessions (e.g. a shared phone at a warnet): its cookie stops
    working on every node and the refresh tokens issued under it are revoked (T61)."""
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.home"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    sid = request.form.get("sid", "")
    if not authn.end_session_by_sid(person.id, sid[:64]):
        abort(404)
    return redirect(url_for("account.home"), code=303)


class CodeForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=16)])


@bp.route("/totp", methods=["GET", "POST"])
def enrol_totp():
    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.enrol_totp"), reauth=True)
    form = CodeForm()
    error = False
    if form.validate_on_submit():
        if totp.confirm_enrolment(person.id, form.code.data.strip()):
            record_event(EventTag.TOTP_ADDED, actor="citizen", person_id=person.id)
            db.session.commit()
            notices.notify_person(person, "factor_added")  # T54
            return redirect(url_for("account.home"), code=303)
        error = True
    secret = totp.pending_secret(person.id) if request.method == "POST" else None
    if secret is None:
        secret = totp.start_enrolment(person.id)
    qr = segno.make(totp.uri(secret, person.name), error="m").svg_inline(scale=4, title="QR", omitsize=False)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("account/totp.html", qr=Markup(qr), secret=grouped, form=form, error=error)


class ContactForm(FlaskForm):
    channel = StringField("channel", validators=[DataRequired(), Length(max=16)])
    destination = StringField("destination", validators=[DataRequired(), Length(max=254)])


def _contact_binding(session, channel: str, destination: str) -> str:
    import hashlib

    kind = "email" if channel == "email" else "phone"
    return f"contact:{session.sid}:" + hashlib.sha256(f"{kind}:{destination}".encode()).hexdigest()[:32]


@bp.route("/contact", methods=["GET", "POST"])
def change_contact():
    """A new mobile number or e-mail address (T54): a full sign-in in the last 15 minutes,
    then a code sent to the new contact proves it; the old contacts are told."""
    from idp.authn import oob, ratelimit
    from idp.identity.contact import InvalidContactError, mask_email, mask_phone, normalize_email, normalize_phone
    from idp.notify.services import DeliveryError
    from idp.web import current_language, error_page

    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.change_contact"), reauth=True)
    form, code_form = ContactForm(), CodeForm()
    error, pending = None, flask_session.get("contact_change")
    if request.method == "POST" and "destination" in request.form and form.validate_on_submit():
        channel = form.channel.data if form.channel.data in ("sms", "whatsapp", "email") else "sms"
        try:
            destination = normalize_email(form.destination.data) if channel == "email" else normalize_phone(form.destination.data)
            oob.send_code_to(person, channel, destination, binding=_contact_binding(session, channel, destination),
                             locale=current_language(), remote_addr=client_address())
        except InvalidContactError as exc:
            error = MESSAGES[exc.args[0]]
        except ratelimit.RateLimitedError as exc:
            return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
        except DeliveryError:
            return error_page("registration.delivery", 503, **{"Retry-After": "60"})
        else:
            pending = flask_session["contact_change"] = {"channel": channel, "destination": destination}
    elif request.method == "POST" and "code" in request.form and pending and code_form.validate_on_submit():
        channel, destination = pending["channel"], pending["destination"]
        amr = oob.verify(person.id, code_form.code.data.strip(), binding=_contact_binding(session, channel, destination))
        if amr is None:
            error = MESSAGES["registration.code_invalid"]
        else:
            what = "email" if channel == "email" else "phone"
            notices.notify_person(person, "contact_changed", what=_("e-mail address") if what == "email" else _("mobile number"))
            if what == "email":
                person.email, person.email_verified = destination, True
            else:
                person.phone_number, person.phone_number_verified = destination, True
            person.updated_at = clock.now()
            record_event(EventTag.CONTACT_CHANGED, actor="citizen", person_id=person.id, contact=what)
            db.session.commit()
            flask_session.pop("contact_change", None)
            return redirect(url_for("account.home"), code=303)
    elif request.method == "POST":
        error = MESSAGES["registration.code_invalid"] if "code" in request.form else MESSAGES["contact.phone"]
    shown = None
    if pending:
        shown = mask_email(pending["destination"]) if pending["channel"] == "email" else mask_phone(pending["destination"])
    return render_template("account/contact.html", form=form, code_form=code_form, error=error, sent_to=shown,
                           phone=mask_phone(person.phone_number) if person.phone_number else None,
                           email=mask_email(person.email) if person.email else None)


@bp.post("/recovery-codes")
def new_recovery_codes():
    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.home"), reauth=True)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    codes = recovery.generate(person.id)
    record_event(EventTag.RECOVERY_CODES_GENERATED, actor="citizen", person_id=person.id)
    db.session.commit()
    notices.notify_person(person, "factor_added")  # T54
    resp = make_response(render_template("account/recovery_codes.html", codes=codes))
    return resp


# -- passkeys -------------------------------------------------------------------------------
# Adding or removing a passkey needs a recent full authentication, as for the authenticator
# app (T54); renaming changes nothing about how one signs in, so a session suffices.
# Removing the last second factor is allowed (the citizen may be replacing a lost key and
# must not be stuck), but the page says beforehand that sign-in falls back to the password.


def _passkeys_page(person, *, error: str | None = None, status: int = 200):
    credentials = webauthn.list_credentials(person.id)
    others = totp.get_factor(person.id) is not None or recovery.remaining(person.id) > 0
    return render_template(
        "account/passkeys.html", credentials=credentials, last_factor=len(credentials) == 1 and not others,
        form=FlaskForm(), error=MESSAGES.get(error) if error else None,
    ), status


@bp.get("/passkeys")
def passkeys():
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.passkeys"), reauth=False)
    return _passkeys_page(person)


class NewPasskeyForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=webauthn.MAX_NAME)])
    # navigator.credentials.create() serialised as JSON by static/js/webauthn.js.
    credential = StringField("credential", validators=[DataRequired(), Length(max=16384)])


@bp.route("/passkeys/new", methods=["GET", "POST"])
def new_passkey():
    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.new_passkey"), reauth=True)
    form = NewPasskeyForm()
    error = None
    if form.validate_on_submit():
        if webauthn.normalize_name(form.name.data) is None:
            error = "passkey.name"
        else:
            try:
                webauthn.register(
                    person.id, form.credential.data, form.name.data, binding=session.sid, remote_addr=client_address()
                )
            except webauthn.PasskeyError as exc:
                logging.getLogger(__name__).info("passkey registration refused: %s", exc.reason)
                error = "passkey.not_added"
            else:
                notices.notify_person(person, "factor_added")  # T54
                return redirect(url_for("account.passkeys"), code=303)
    elif request.method == "POST":
        error = "passkey.name" if form.name.errors else "passkey.not_added"
    options = webauthn.registration_options(person.id, person.name, binding=session.sid)
    return render_template(
        "account/passkey_new.html", form=form, options=options, error=MESSAGES.get(error) if error else None
    ), 400 if error else 200


@bp.post("/passkeys/<int:pk>/rename")
def rename_passkey(pk: int):
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.passkeys"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    if not any(c.id == pk for c in webauthn.list_credentials(person.id)):
        abort(404)
    if not webauthn.rename(person.id, pk, request.form.get("name", "")[:256]):
        return _passkeys_page(person, error="passkey.name", status=400)
    return redirect(url_for("account.passkeys"), code=303)


@bp.post("/passkeys/<int:pk>/remove")
def remove_passkey(pk: int):
    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.passkeys"), reauth=True)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    if not webauthn.remove(person.id, pk):
        abort(404)
    return redirect(url_for("account.passkeys"), code=303)


# -- UU PDP: a copy of one's data, deleting the account (T93, T94; account/privacy.py) ------
# Both need a recent full authentication: the export holds the NIK and documents, and
# deletion cannot be undone.
DELETE_WORDS = ("HAPUS", "DELETE")


@bp.route("/export", methods=["GET", "POST"])
def export_data():
    import json

    from idp.account import privacy

    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.export_data"), reauth=False)
    form = FlaskForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(403)
        if not _recent(session):
            return _login(url_for("account.export_data"), reauth=True)
        body = json.dumps(privacy.export_person(person.id), ensure_ascii=False, indent=2, default=str)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": 'attachment; filename="satuakun-data.json"', "Cache-Control": "no-store"})
    return render_template("account/export.html", form=form)


class DeleteAccountForm(FlaskForm):
    confirm = StringField("confirm", validators=[Length(max=16)])


@bp.route("/delete", methods=["GET", "POST"])
def delete_account():
    from idp.account import privacy
    from idp.oidc.views import _set_session_cookie

    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.delete_account"), reauth=False)
    form = DeleteAccountForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(403)
        if not _recent(session):
            return _login(url_for("account.delete_account"), reauth=True)
        if (form.confirm.data or "").strip().upper() in DELETE_WORDS:
            privacy.delete_account(person.id)
            flask_session.clear()
            resp = make_response(render_template("account/deleted.html"))
            _set_session_cookie(resp, None)
            resp.headers["Cache-Control"] = "no-store"
            return resp
        error = _("Type HAPUS in the box to confirm.")
    return render_template("account/delete.html", form=form, error=error), 400 if error else 200
