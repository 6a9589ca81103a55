"""Account recovery pages (/recover): facts → code → second factor (if any) → new password
→ done; /recover/counter explains in-person recovery.

Each page works without JavaScript (a passkey needs it; codes do not). The browser holds
only a random handle in its signed session; the state machine lives in the database.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.authn import password_policy, passwords
from idp.authn import services as authn
from idp.identity.contact import InvalidContactError
from idp.identity.nik import InvalidNIKError
from idp.recovery import services as rec_svc
from idp.registration.services import parse_birthdate
from idp.web import client_address, error_page
from idp.web import current_language as _locale
from idp.web.messages import MESSAGES

bp = Blueprint("recovery", __name__, url_prefix="/recover")

_UID = re.compile(r"[A-Za-z0-9_\-]{16,64}")
STEP_ENDPOINTS = {"code": "recovery.code", "factor": "recovery.factor", "password": "recovery.password",
                  "done": "recovery.done", "void": "recovery.void"}


class StartForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    birthdate = StringField("birthdate", validators=[DataRequired(), Length(max=32)])
    # Rendered as radio buttons; the service refuses other values.
    channel = StringField("channel", default="sms", validators=[Length(max=16)])


class CodeForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=64)])


class PasskeyForm(FlaskForm):
    # navigator.credentials.get() serialised as JSON (static/js/webauthn.js).
    credential = StringField("credential", validators=[DataRequired(), Length(max=16384)])


class PasswordForm(FlaskForm):
    password = PasswordField("password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("confirm", validators=[DataRequired(), Length(max=1024)])




def _current():
    return rec_svc.get(flask_session.get("recovery"))


def _message(key: str | None, **params) -> str | None:
    if key is None:
        return None
    text = str(MESSAGES.get(key, MESSAGES["error.generic"]))
    return text % params if params else text


def _elsewhere(rec) -> Response:
    """No live recovery in this browser: an error page; a recovery at another step: that step."""
    if rec is None:
        return error_page("recovery.expired", 400)
    return redirect(url_for(STEP_ENDPOINTS.get(rec.step, "recovery.start")), code=303)


def _limited(exc: rec_svc.RateLimitedError) -> Response:
    return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})


@bp.route("", methods=["GET", "POST"])
def start():
    came_from = request.args.get("from", "")
    if request.method == "GET" and _UID.fullmatch(came_from):
        flask_session["recovery_from"] = came_from
    form = StartForm()
    error = None
    if form.validate_on_submit():
        try:
            birthdate = parse_birthdate(form.birthdate.data)
            handle, _rec = rec_svc.start(form.nik.data, birthdate, form.channel.data, locale=_locale(),
                                         remote_addr=client_address())
        except InvalidNIKError as exc:
            error = exc.args[0] if exc.args and exc.args[0] in MESSAGES else "nik.format"
        except InvalidContactError:
            error = "contact.channel"
        except rec_svc.RateLimitedError as exc:
            return _limited(exc)
        else:
            flask_session["recovery"] = handle
            return redirect(url_for("recovery.code"), code=303)
    elif request.method == "POST":
        error = "nik.format" if not form.nik.data else "registration.birthdate"
    return render_template("recovery/start.html", form=form, error=_message(error), field=error), 400 if error else 200


@bp.route("/code", methods=["GET", "POST"])
def code():
    rec = _current()
    if rec is None or rec.step != "code":
        return _elsewhere(rec)
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            rec_svc.verify_code(rec, form.code.data, remote_addr=client_address())
        except rec_svc.InvalidCodeError:
            error = "registration.code_invalid"
        except rec_svc.CodeExpiredError:
            error = "registration.code_expired"
        except rec_svc.RecoveryStateError:
            return _elsewhere(None)
        else:
            return _elsewhere(rec)
    elif request.method == "POST":
        error = "registration.code_invalid"
    # Only what the citizen chose is shown: never the destination (it would tell that it exists).
    return render_template(
        "recovery/code.html", form=form, resend=FlaskForm(), channel=rec.channel,
        minutes=rec_svc.code_ttl(rec.channel) // 60, error=_message(error),
    ), 400 if error else 200


@bp.post("/code/resend")
def resend():
    rec = _current()
    form = FlaskForm()
    if rec is None or rec.step != "code" or not form.validate_on_submit():
        return _elsewhere(rec)
    try:
        rec_svc.resend_code(rec, locale=_locale(), remote_addr=client_address())
    except rec_svc.RateLimitedError as exc:
        return _limited(exc)
    return redirect(url_for("recovery.code"), code=303)


@bp.route("/factor", methods=["GET", "POST"])
def factor():
    """The second factor, as on the sign-in's second step (templates/authn/mfa.html)."""
    rec = _current()
    if rec is None or rec.step != "factor":
        return _elsewhere(rec)
    form, passkey_form = CodeForm(), PasskeyForm()
    error = None
    use_passkey = request.method == "POST" and "credential" in request.form
    if (passkey_form if use_passkey else form).validate_on_submit():
        try:
            if use_passkey:
                ok = rec_svc.verify_passkey(rec, passkey_form.credential.data, remote_addr=client_address())
            else:
                ok = rec_svc.verify_factor(rec, form.code.data, remote_addr=client_address())
        except authn.FactorLockedError as exc:
            return error_page("error.factor_locked", 429, **{"Retry-After": str(exc.retry_after)})
        except authn.TotpBlockedError:
            error = "mfa.totp_blocked"
        except passwords.HashingBusyError:
            return error_page("error.busy", 503, **{"Retry-After": "1"})
        except rec_svc.RecoveryVoidError:
            return redirect(url_for("recovery.void"), code=303)
        except rec_svc.RecoveryStateError:
            return _elsewhere(None)
        else:
            if ok:
                return redirect(url_for("recovery.password"), code=303)
            error = "passkey.invalid" if use_passkey else "mfa.invalid"
    elif request.method == "POST":
        error = "passkey.invalid" if use_passkey else "mfa.invalid"
    try:
        choices = rec_svc.factor_choices(rec)
        options = rec_svc.passkey_options(rec)
    except rec_svc.RecoveryStateError:
        return _elsewhere(None)
    return render_template(
        "recovery/factor.html", form=form, choices=choices, passkey_options=options,
        error=_message(error) if error and not use_passkey else None,
        passkey_error=_message(error) if error and use_passkey else None,
    ), 400 if error else 200


@bp.route("/password", methods=["GET", "POST"])
def password():
    rec = _current()
    if rec is None or rec.step != "password":
        return _elsewhere(rec)
    try:
        minimum = rec_svc.password_minimum(rec)
    except rec_svc.RecoveryStateError:
        return _elsewhere(None)
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            error = _message("registration.password_mismatch")
        else:
            try:
                rec_svc.complete(rec, form.password.data, locale=_locale(), remote_addr=client_address())
            except password_policy.WeakPasswordError as exc:
                error = _message(exc.code, minimum=exc.minimum or minimum)
            except rec_svc.RecoveryStateError:
                return _elsewhere(_current())
            else:
                return redirect(url_for("recovery.done"), code=303)
    elif request.method == "POST":
        error = _message("password.too_short", minimum=minimum)
    return render_template("recovery/password.html", form=form, error=error, minimum=minimum), 400 if error else 200


@bp.get("/done")
def done():
    rec = _current()
    if rec is None or rec.step != "done":
        return _elsewhere(rec)
    came_from = flask_session.get("recovery_from")
    return render_template("recovery/done.html", came_from=came_from if came_from and _UID.fullmatch(came_from) else None)


@bp.get("/void")
def void():
    rec = _current()
    if rec is None or rec.step != "void":
        return _elsewhere(rec)
    return render_template("recovery/void.html")


@bp.get("/counter")
def counter():
    """When nothing is left to recover with: what to bring to an MPP counter."""
    return render_template("recovery/counter.html")
