"""Self-registration pages (/register): identity → contact → code → password → done.

Each page works without JavaScript. The browser holds only a random handle in its
signed session; the state machine lives in the database (any node can serve any step).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from idp.authn import password_policy, passwords
from idp.identity.contact import InvalidContactError
from idp.identity.nik import InvalidNIKError
from idp.registration import services as reg_svc
from idp.web import client_address, error_page
from idp.web import current_language as _locale
from idp.web.messages import MESSAGES

bp = Blueprint("registration", __name__, url_prefix="/register")

_UID = re.compile(r"[A-Za-z0-9_\-]{16,64}")
STEP_ENDPOINTS = {"contact": "registration.contact", "code": "registration.code",
                  "password": "registration.password", "done": "registration.done"}


class IdentityForm(FlaskForm):
    nik = StringField("nik", validators=[DataRequired(), Length(max=64)])
    name = StringField("name", validators=[DataRequired(), Length(max=200)])
    birthdate = StringField("birthdate", validators=[DataRequired(), Length(max=32)])
    birthplace = StringField("birthplace", validators=[Optional(), Length(max=100)])


class ContactForm(FlaskForm):
    # Rendered as radio buttons by the template; the service refuses other values.
    channel = StringField("channel", default="sms", validators=[Length(max=16)])
    destination = StringField("destination", validators=[DataRequired(), Length(max=254)])


class CodeForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=32)])


class ResendForm(FlaskForm):
    pass


class PasswordForm(FlaskForm):
    password = PasswordField("password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("confirm", validators=[DataRequired(), Length(max=1024)])




def _current():
    return reg_svc.get(flask_session.get("reg"))


def _message(key: str, **params) -> str:
    text = str(MESSAGES.get(key, MESSAGES["error.generic"]))
    return text % params if params else text


def _to_step(reg) -> Response:
    if reg is None:
        return redirect(url_for("registration.start"), code=303)
    return redirect(url_for(STEP_ENDPOINTS.get(reg.step, "registration.start")), code=303)


def _page(template: str, status: int = 200, **ctx) -> Response:
    resp = Response(render_template(template, **ctx), status=status)
    return resp


@bp.route("", methods=["GET", "POST"])
def start():
    came_from = request.args.get("from", "")
    if request.method == "GET" and _UID.fullmatch(came_from):
        flask_session["reg_from"] = came_from
    form = IdentityForm()
    error = None
    if form.validate_on_submit():
        try:
            birthdate = reg_svc.parse_birthdate(form.birthdate.data)
            ident = reg_svc.Identity(nik=form.nik.data, name=form.name.data, birthdate=birthdate,
                                     birthplace=form.birthplace.data or None)
            handle, _reg = reg_svc.start(ident, remote_addr=client_address())
        except InvalidNIKError as exc:
            error = exc.args[0] if exc.args and exc.args[0] in MESSAGES else "nik.format"
        except reg_svc.RateLimitedError as exc:
            return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
        except reg_svc.RegistryUnavailableError as exc:
            return error_page("registration.unavailable", 503, **{"Retry-After": str(exc.retry_after)})
        except reg_svc.NotVerifiedError:
            error = "registration.not_verified"
        else:
            flask_session["reg"] = handle
            return redirect(url_for("registration.contact"), code=303)
    elif request.method == "POST":
        error = "registration.name" if not form.name.data else "nik.format"
    status = 400 if error else 200
    return _page("registration/identity.html", status, form=form, error=_message(error) if error else None, field=error)


@bp.route("/contact", methods=["GET", "POST"])
def contact():
    reg = _current()
    if reg is None or reg.step not in ("contact", "code"):
        return _expired_or_step(reg)
    form = ContactForm()
    error = None
    if form.validate_on_submit():
        try:
            reg_svc.submit_contact(reg, form.channel.data, form.destination.data, locale=_locale(), remote_addr=client_address())
        except InvalidContactError as exc:
            error = exc.args[0]
        except reg_svc.RateLimitedError as exc:
            return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
        except reg_svc.DeliveryError:
            return error_page("registration.delivery", 503, **{"Retry-After": "60"})
        else:
            return redirect(url_for("registration.code"), code=303)
    elif request.method == "POST":
        error = "contact.phone" if form.channel.data != "email" else "contact.email"
    return _page("registration/contact.html", 400 if error else 200, form=form, error=_message(error) if error else None)


@bp.route("/code", methods=["GET", "POST"])
def code():
    reg = _current()
    if reg is None or reg.step != "code":
        return _expired_or_step(reg)
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            reg_svc.verify_code(reg, form.code.data)
        except reg_svc.InvalidCodeError:
            error = "registration.code_invalid"
        except reg_svc.CodeExpiredError:
            error = "registration.code_expired"
        else:
            return redirect(url_for("registration.password"), code=303)
    elif request.method == "POST":
        error = "registration.code_invalid"
    from idp.identity.contact import mask_email, mask_phone

    shown = mask_email(reg.destination) if reg.channel == "email" else mask_phone(reg.destination or "")
    return _page("registration/code.html", 400 if error else 200, form=form, resend=ResendForm(), destination=shown,
                 error=_message(error) if error else None)


@bp.post("/code/resend")
def resend():
    reg = _current()
    form = ResendForm()
    if reg is None or reg.step != "code" or not form.validate_on_submit():
        return _expired_or_step(reg)
    try:
        reg_svc.resend_code(reg, locale=_locale(), remote_addr=client_address())
    except reg_svc.RateLimitedError as exc:
        return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
    except reg_svc.DeliveryError:
        return error_page("registration.delivery", 503, **{"Retry-After": "60"})
    return redirect(url_for("registration.code"), code=303)


@bp.route("/password", methods=["GET", "POST"])
def password():
    reg = _current()
    if reg is None or reg.step != "password":
        return _expired_or_step(reg)
    form = PasswordForm()
    error = None
    minimum = password_policy.MIN_WITHOUT_SECOND_FACTOR
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            error = _message("registration.password_mismatch")
        else:
            try:
                reg_svc.complete(reg, form.password.data, locale=_locale(), remote_addr=client_address())
            except password_policy.WeakPasswordError as exc:
                error = _message(exc.code, minimum=exc.minimum or minimum)
            except passwords.HashingBusyError:
                return error_page("error.busy", 503, **{"Retry-After": "1"})
            else:
                return redirect(url_for("registration.done"), code=303)
    elif request.method == "POST":
        error = _message("password.too_short", minimum=minimum)
    return _page("registration/password.html", 400 if error else 200, form=form, error=error, minimum=minimum)


@bp.get("/done")
def done():
    reg = _current()
    if reg is None or reg.step != "done":
        return _expired_or_step(reg)
    came_from = flask_session.get("reg_from")
    return _page("registration/done.html", came_from=came_from if came_from and _UID.fullmatch(came_from) else None)


def _expired_or_step(reg) -> Response:
    if reg is None:
        return error_page("registration.expired", 400)
    return _to_step(reg)
