"""Self-service: the citizen's own account page, authenticator app and recovery codes.

Sensitive changes (a new factor, new recovery codes) need a full authentication in the
last 15 minutes, including the current second factor (T54)."""

from __future__ import annotations

import segno
from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn import recovery, totp
from idp.authn import services as authn
from idp.extensions import db
from idp.identity.models import Person
from idp.oidc import authorize as authz
from idp.oidc.views import current_session
from idp.web import browser_id

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
            return redirect(url_for("account.home"), code=303)
        error = True
    secret = totp.pending_secret(person.id) if request.method == "POST" else None
    if secret is None:
        secret = totp.start_enrolment(person.id)
    qr = segno.make(totp.uri(secret, person.name), error="m").svg_inline(scale=4, title="QR", omitsize=False)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("account/totp.html", qr=Markup(qr), secret=grouped, form=form, error=error)


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
    resp = make_response(render_template("account/recovery_codes.html", codes=codes))
    return resp
