"""HTTP endpoints of the OpenID Provider. Thin: parse, call one service, map the result."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as flask_session,
)
from flask_wtf import FlaskForm
from sqlalchemy import text
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp import clock
from idp.authn import acr as acr_levels
from idp.authn import oob, passwords, ratelimit, recovery, throttle, totp, webauthn
from idp.authn import services as authn
from idp.consent import services as consent_svc
from idp.documents import grants as doc_grants
from idp.extensions import csrf, db
from idp.identity.models import Person
from idp.keys import store
from idp.notify.services import DeliveryError
from idp.oidc import authorize as authz
from idp.oidc import claims as claims_svc
from idp.oidc import clients as clients_svc
from idp.oidc import dpop, id_token, resource
from idp.web import CSP, browser_id, client_address, error_page
from idp.web import current_language as _locale
from idp.web.messages import MESSAGES

bp = Blueprint("oidc", __name__)

JSON_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _server():
    return current_app.extensions["idp_oauth_server"]


def session_cookie_name() -> str:
    return current_app.config["IDP_SESSION_COOKIE"]


def current_session():
    return authn.get_session(request.cookies.get(session_cookie_name()))


def _set_session_cookie(resp: Response, value: str | None) -> None:
    secure = current_app.config["IDP"]["issuer"].startswith("https://")
    if value is None:
        resp.delete_cookie(session_cookie_name(), path="/", secure=secure, httponly=True, samesite="Lax")
    else:
        resp.set_cookie(session_cookie_name(), value, path="/", secure=secure, httponly=True, samesite="Lax")


# -- discovery and keys ---------------------------------------------------------------------
@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    body = current_app.config["IDP_DISCOVERY_BYTES"]
    return Response(body, mimetype="application/json", headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"})


@bp.get("/jwks")
def jwks():
    return Response(
        store.jwks_bytes(),
        mimetype="application/jwk-set+json",
        # Short enough that a pre-published key is seen long before it signs.
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@bp.get("/clients/<client_id>/logo.png")
def client_logo(client_id: str):
    client = clients_svc.get_client(client_id)
    if client is None or not client.logo_png:
        return Response(status=404)
    return Response(
        client.logo_png,
        mimetype="image/png",
        headers={"Cache-Control": "public, max-age=3600", "Content-Security-Policy": "default-src 'none'; sandbox"},
    )


# -- authorization ----------------------------------------------------------------------------
def _origin(uri: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(uri))


def _allow_form_target(resp: Response, target: str | None) -> Response:
    """Browsers apply CSP form-action to the redirect that follows a form POST
    (CSP3 §6.4.1): the login, consent and logout forms end in a redirect to the
    relying party, so its origin (only that one) must be an allowed form target."""
    if target:
        resp.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {_origin(target)}"
        )
    return resp


def _respond(req: authz.AuthorizationRequest, params: list[tuple[str, str]]) -> Response:
    if req.response_mode == "form_post":
        nonce = secrets.token_urlsafe(16)
        resp = make_response(render_template("oidc/form_post.html", action=req.redirect_uri, params=params, nonce=nonce))
        origin = _origin(req.redirect_uri)
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; form-action {origin}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return resp
    return redirect(add_params_to_uri(req.redirect_uri, params), code=303 if request.method == "POST" else 302)


def _run(params: dict, duplicated: set, interaction=None, uid: str | None = None) -> Response:
    for locale in (params.get("ui_locales") or "").split():
        if locale.split("-")[0].lower() in ("id", "en"):
            g.ui_locale = locale.split("-")[0].lower()
            break
    try:
        approved = authz.process(params, duplicated, current_session(), interaction)
    except authz.PageError as exc:
        return error_page(exc.message_key, 400)
    except authz.RedirectError as exc:
        if interaction is not None:
            interaction.completed_at = clock.now()
            db.session.commit()
        return _respond(exc.request, authz.error_params(exc))
    except authz.NeedsInteraction as need:
        if uid is None:
            uid = authz.start_interaction(need.request, browser_id())
        kind = need.kind
        if kind == "login" and interaction is not None and interaction.pending_person_id is not None:
            kind = "mfa"  # the password step is done; the second factor is still owed (T44)
        return redirect(url_for(f"oidc.{kind}", uid=uid))
    return _respond(approved.request, authz.response_params(approved.request, {"code": approved.code}))


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # RFC 6749 §3.1: the client may POST the request; it is not a session form.
def authorize():
    params, duplicated = authz.parse(request.args if request.method == "GET" else request.form)
    return _run(params, duplicated)


def _interaction_or_error(uid: str):
    interaction = authz.get_interaction(uid, flask_session.get("bid"))
    if interaction is None:
        return None, error_page("error.interaction_expired", 400)
    lang = next((loc.split("-")[0].lower() for loc in (interaction.params.get("ui_locales") or "").split()
                 if loc.split("-")[0].lower() in ("id", "en")), None)
    if lang:
        g.ui_locale = lang
    return interaction, None


@bp.get("/authorize/resume/<uid>")
def resume(uid: str):
    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    return _run(dict(interaction.params), set(), interaction, uid)


class LoginForm(FlaskForm):
    nik = StringField("NIK", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=1024)])


@bp.route("/interaction/<uid>/login", methods=["GET", "POST"])
def login(uid: str):
    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    client = clients_svc.get_client(interaction.client_id)
    if client is None and interaction.client_id != authz.ACCOUNT:
        return error_page("error.unknown_client", 400)
    form = LoginForm()
    error = None
    if request.method == "GET" and interaction.params.get("login_hint"):
        form.nik.data = interaction.params["login_hint"][:64]
    if form.validate_on_submit():
        try:
            person = authn.authenticate_password(form.nik.data, form.password.data, remote_addr=client_address())
        except passwords.HashingBusyError:
            return error_page("error.busy", 503, **{"Retry-After": "1"})
        except authn.InvalidCredentialsError:
            error = "login.invalid"
        except throttle.ThrottledError as exc:
            return error_page("error.throttled", 429, **{"Retry-After": str(exc.retry_after)})
        else:
            if authn.has_second_factor(person.id):
                # Login state machine: the password step is recorded on the interaction
                # only; no session until the second factor is given (T44).
                interaction.pending_person_id = person.id
                interaction.mfa_failures = 0
                db.session.commit()
                resp = redirect(url_for("oidc.mfa", uid=uid), code=303)
                return _allow_form_target(resp, interaction.params.get("redirect_uri"))
            return _signed_in(interaction, uid, person, amr=["pwd"], acr_value=acr_levels.LOA1)
    elif request.method == "POST":
        error = "login.invalid"
    return _login_page(interaction, uid, client, form, error=error)


def _login_page(interaction, uid: str, client, form, *, error: str | None = None, passkey_error: bool = False) -> Response:
    # Passwordless sign-in is offered to every browser that can do it (the script reveals
    # the button); the challenge is bound to this interaction.
    options = webauthn.authentication_options(person_id=None, binding=interaction.uid_hash)
    resp = make_response(render_template(
        "authn/login.html", form=form, client=client, error=MESSAGES.get(error) if error else None, uid=uid,
        passkey_options=options, passkey_error=MESSAGES["passkey.invalid"] if passkey_error else None,
    ))
    return _allow_form_target(resp, interaction.params.get("redirect_uri"))


class PasskeyForm(FlaskForm):
    # navigator.credentials.get()/create() serialised as JSON (static/js/webauthn.js).
    credential = StringField("credential", validators=[DataRequired(), Length(max=16384)])


@bp.post("/interaction/<uid>/passkey")
def passkey_login(uid: str):
    """Passwordless sign-in with a passkey and user verification: level 2 at once (acr.py)."""
    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    client = clients_svc.get_client(interaction.client_id)
    if client is None and interaction.client_id != authz.ACCOUNT:
        return error_page("error.unknown_client", 400)
    form = PasskeyForm()
    if form.validate_on_submit():
        try:
            person, amr = authn.authenticate_passkey(
                form.credential.data, interaction=interaction.uid_hash, remote_addr=client_address()
            )
        except throttle.ThrottledError as exc:
            return error_page("error.throttled", 429, **{"Retry-After": str(exc.retry_after)})
        except authn.InvalidCredentialsError:
            pass
        else:
            return _signed_in(interaction, uid, person, amr=amr, acr_value=acr_levels.LOA2)
    return _login_page(interaction, uid, client, LoginForm(formdata=None), passkey_error=True)


def _signed_in(interaction, uid: str, person, *, amr: list[str], acr_value: str) -> Response:
    """A new SSO session (a fresh id after every authentication step: T56), then resume."""
    old = current_session()
    if old is not None:
        authn.end_session(old)
    value = authn.start_session(person, amr=amr, remote_addr=client_address(), acr_value=acr_value)
    interaction.login_at = clock.now()
    interaction.pending_person_id = None
    db.session.commit()
    bid = flask_session.get("bid")
    flask_session.clear()
    flask_session["bid"] = bid
    if interaction.client_id == authz.ACCOUNT:
        interaction.completed_at = clock.now()
        db.session.commit()
        target = interaction.params.get("return_to", "/account")
        # Own pages only: the account pages, or the counter (officers step up to level 2 there).
        resp = redirect(target if target.startswith(("/account", "/counter")) else "/account", code=303)
    else:
        resp = redirect(url_for("oidc.resume", uid=uid), code=303)
    _set_session_cookie(resp, value)
    return _allow_form_target(resp, interaction.params.get("redirect_uri"))


@bp.post("/interaction/<uid>/registered")
def registered(uid: str):
    """Right after self-registration in this browser: sign the new account in once and
    continue the sign-in the citizen started at the relying party."""
    from idp.registration import services as registration

    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    person = registration.claim_sign_in(flask_session.get("reg"))
    if person is None:
        return redirect(url_for("oidc.login", uid=uid), code=303)
    return _signed_in(interaction, uid, person, amr=["pwd"], acr_value=acr_levels.LOA1)


class SendCodeForm(FlaskForm):
    send = StringField("send", validators=[DataRequired(), Length(max=16)])




class MfaForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=64)])


MFA_TRANSACTION_LIMIT = 5


@bp.route("/interaction/<uid>/mfa", methods=["GET", "POST"])
def mfa(uid: str):
    """The second factor: after the password step, or as step-up for a higher `acr`."""
    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    person = None
    if interaction.pending_person_id is not None:
        person = db.session.get(Person, interaction.pending_person_id)
    else:
        session = current_session()
        if session is not None:
            person = db.session.get(Person, session.person_id)
    if person is None or not authn.can_give_second_factor(person):
        return redirect(url_for("oidc.login", uid=uid))
    client = clients_svc.get_client(interaction.client_id)
    form, passkey_form, send_form = MfaForm(), PasskeyForm(), SendCodeForm()
    error = None
    sent_to = None
    use_passkey = request.method == "POST" and "credential" in request.form
    if request.method == "POST" and "send" in request.form:
        # A code by SMS/WhatsApp/e-mail: the weaker fallback (authn/oob.py).
        if send_form.validate_on_submit():
            try:
                if oob.send_code(person, send_form.send.data, binding=interaction.uid_hash, locale=_locale(),
                                 remote_addr=client_address()):
                    sent_to = dict(oob.channels(person)).get(send_form.send.data)
            except ratelimit.RateLimitedError as exc:
                return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
            except DeliveryError:
                return error_page("registration.delivery", 503, **{"Retry-After": "60"})
    elif (passkey_form if use_passkey else form).validate_on_submit():
        try:
            if use_passkey:
                amr = authn.verify_passkey_second_factor(
                    person, passkey_form.credential.data, interaction=interaction.uid_hash, remote_addr=client_address()
                )
            else:
                amr = authn.verify_second_factor(person, form.code.data, remote_addr=client_address(),
                                                 binding=interaction.uid_hash)
        except authn.FactorLockedError as exc:
            return error_page("error.factor_locked", 429, **{"Retry-After": str(exc.retry_after)})
        except passwords.HashingBusyError:
            return error_page("error.busy", 503, **{"Retry-After": "1"})
        except authn.TotpBlockedError:
            # The app is blocked after 30 failures (authn/services.py): say so, and what
            # still works; the try counts toward this transaction only.
            amr, error = None, "mfa.totp_blocked"
        if amr is not None:
            first = ["pwd"] if interaction.pending_person_id is not None else list(current_session().amr)
            methods = list(dict.fromkeys([*first, *amr, "mfa"]))
            return _signed_in(interaction, uid, person, amr=methods, acr_value=acr_levels.LOA2)
        interaction.mfa_failures += 1
        if interaction.mfa_failures >= MFA_TRANSACTION_LIMIT:
            # T52: the transaction is void after 5 wrong codes; the citizen starts again.
            interaction.completed_at = clock.now()
            interaction.pending_person_id = None
            db.session.commit()
            return error_page("error.mfa_void", 400)
        db.session.commit()
        error = error or ("passkey.invalid" if use_passkey else "mfa.invalid")
    elif request.method == "POST":
        error = "passkey.invalid" if use_passkey else "mfa.invalid"
    # A passkey first when the person has one (phishing-resistant); codes stay available
    # without JavaScript.
    has_passkey = webauthn.has_credentials(person.id)
    resp = make_response(render_template(
        "authn/mfa.html", form=form, client=client, uid=uid,
        error=MESSAGES.get(error) if error and not use_passkey else None,
        passkey_error=MESSAGES.get(error) if error and use_passkey else None,
        passkey_options=webauthn.authentication_options(person_id=person.id, binding=interaction.uid_hash) if has_passkey else None,
        has_codes=(totp.get_factor(person.id) is not None or recovery.remaining(person.id) > 0
                   or oob.pending(person.id, interaction.uid_hash) is not None),
        oob_channels=oob.channels(person), send_form=send_form, sent_to=sent_to,
    ))
    return _allow_form_target(resp, interaction.params.get("redirect_uri"))


class ConsentForm(FlaskForm):
    pass


@bp.route("/interaction/<uid>/consent", methods=["GET", "POST"])
def consent(uid: str):
    interaction, err = _interaction_or_error(uid)
    if err:
        return err
    session = current_session()
    if session is None:
        return redirect(url_for("oidc.login", uid=uid))
    try:
        req = authz.resolve_client(dict(interaction.params))
        authz.check_parameters(req, set())
    except authz.PageError as exc:
        return error_page(exc.message_key, 400)
    except authz.RedirectError as exc:
        return _respond(exc.request, authz.error_params(exc))
    form = ConsentForm()
    if form.validate_on_submit():
        decision = request.form.get("decision")
        if decision == "approve":
            consent_svc.grant_consent(session.person_id, req.client.client_id, set(req.scopes), req.consent_claims)
            # Documents: for `document_grant_ttl`, or once (the citizen's choice on the page).
            doc_grants.grant(session.person_id, req.client,
                             {t.code for t in doc_grants.requested_types(req.scopes, req.client)}, req.client.document_file,
                             one_time=request.form.get("document_duration") == "once")
            interaction.consent_given = True
            db.session.commit()
            return _allow_form_target(redirect(url_for("oidc.resume", uid=uid), code=303), req.redirect_uri)
        if decision == "deny":
            consent_svc.record_denial(session.person_id, req.client.client_id)
            interaction.completed_at = clock.now()
            db.session.commit()
            denied = authz.RedirectError("access_denied", "the end-user denied the request", req)
            return _respond(req, authz.error_params(denied))
    items = describe_request(req)
    documents = doc_grants.requested_types(req.scopes, req.client)
    resp = make_response(render_template(
        "consent/consent.html", client=req.client, items=items, uid=uid, form=form, documents=documents,
        document_until=clock.now() + current_app.config["IDP"]["document_grant_ttl"],
        document_purposes={t.code: doc_grants.purpose_for(req.client, t.code) for t in documents},
    ))
    return _allow_form_target(resp, req.redirect_uri)


def describe_request(req: authz.AuthorizationRequest) -> list[str]:
    from idp.web.scopes import describe

    return describe(set(req.scopes), req.consent_claims, req.client)


# -- token, userinfo, revocation, introspection -------------------------------------------------
@bp.after_request
def _dpop_nonce(resp: Response) -> Response:
    """RFC 9449 §8/§9: a fresh server nonce with every answer to a request carrying a proof."""
    if "DPoP" in request.headers and "DPoP-Nonce" not in resp.headers:
        resp.headers["DPoP-Nonce"] = dpop.new_nonce()
    return resp


@bp.post("/token")
@csrf.exempt
def token():
    # RFC 9449 §5: a DPoP proof binds what is issued to the client's key (server.DPoPBinding).
    try:
        proof = dpop.header_value(request.headers)
        if proof is not None:
            g.dpop_jkt = dpop.check_proof(proof, method="POST", uri=current_app.config["IDP"]["issuer"] + "/token",
                                          record=False)
    except dpop.DPoPError as exc:
        body = {"error": exc.error, "error_description": str(exc)}
        return Response(current_app.json.dumps(body), status=400, mimetype="application/json", headers=JSON_NO_STORE)
    response = _server().create_token_response()
    # One commit for everything the grant wrote (tokens, rotation, last use).
    if response.status_code == 200 and db.session.get_bind().dialect.name == "postgresql":
        # Issued tokens are re-obtainable: skip the WAL flush wait for this transaction
        # (saves ~0.3 ms of ~1 ms). A database crash can lose tokens issued in the last
        # fraction of a second; their holders sign in or refresh again. Code consumption,
        # revocations, consents and accounts are always written durably.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.commit()
    return response


@bp.post("/revoke")
@csrf.exempt
def revoke():
    return _server().create_endpoint_response("revocation")


@bp.post("/introspect")
@csrf.exempt
def introspect():
    return _server().create_endpoint_response("introspection")


_bearer_error = resource.error


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    # RFC 6750 §2.1 header or §2.2 form body on POST; RFC 9449 DPoP for bound tokens.
    found = resource.authenticate(current_app.config["IDP"]["issuer"] + "/userinfo", allow_form=True)
    if isinstance(found, Response):
        return found
    at, person, client = found
    scopes = set(at.scope.split())
    if "openid" not in scopes:
        return _bearer_error(403, "insufficient_scope", "The access token lacks the openid scope")
    body = {"sub": claims_svc.subject(person, client)}
    body.update(
        claims_svc.release(person, client, scopes, (at.claims or {}).get("userinfo", {}), include_scope_claims=True,
                           document_evidence=True)
    )
    if any(s.startswith("doc:") for s in scopes):
        from idp.oidc.documents_api import distributed_claims  # OIDC Core §5.6.2

        body.update(distributed_claims(current_app.config["IDP"]["issuer"]))
    return Response(current_app.json.dumps(body), mimetype="application/json", headers=JSON_NO_STORE)


# -- RP-initiated logout 1.0 ----------------------------------------------------------------------
class LogoutForm(FlaskForm):
    pass


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # the RP's request; the confirmation form below carries CSRF
def end_session():
    params, _ = authz.parse(request.args if request.method == "GET" else request.form)
    for locale in (params.get("ui_locales") or "").split():
        if locale.split("-")[0].lower() in ("id", "en"):
            g.ui_locale = locale.split("-")[0].lower()
            break
    hint = params.get("id_token_hint")
    claims = id_token.verify_hint(hint) if hint else None
    client_id = params.get("client_id") or (claims or {}).get("aud")
    if isinstance(client_id, list):
        client_id = client_id[0] if len(client_id) == 1 else None
    if claims is not None and params.get("client_id") and params["client_id"] != claims.get("aud"):
        claims = None
    client = clients_svc.get_client(client_id) if client_id else None
    target = params.get("post_logout_redirect_uri")
    # §3: exact match against the registration of the client the hint or client_id names.
    if target and (client is None or target not in client.post_logout_redirect_uris):
        return error_page("error.logout_bad_redirect", 400)
    session = current_session()
    # Log out without asking only when the hint proves the RP speaks for this session.
    hint_matches = (
        claims is not None and session is not None and claims.get("sid") == session.sid
    )
    flask_session["logout"] = {"target": target, "state": params.get("state"), "client_id": client.client_id if client else None}
    if hint_matches or session is None:
        return _finish_logout(session)
    resp = make_response(render_template("oidc/logout_confirm.html", client=client, form=LogoutForm()))
    return _allow_form_target(resp, target)


@bp.post("/logout/confirm")
def logout_confirm():
    form = LogoutForm()
    if not form.validate_on_submit():
        return error_page("error.csrf", 403)
    if request.form.get("decision") != "logout":
        flask_session.pop("logout", None)
        return render_template("oidc/logged_out.html", still_signed_in=True)
    return _finish_logout(current_session())


def _finish_logout(session) -> Response:
    pending = flask_session.pop("logout", None) or {}
    if session is not None:
        authn.end_session(session)
    target = pending.get("target")
    if target:
        params = [("state", pending["state"])] if pending.get("state") else []
        resp = redirect(add_params_to_uri(target, params), code=303 if request.method == "POST" else 302)
    else:
        resp = make_response(render_template("oidc/logged_out.html", still_signed_in=False))
    _set_session_cookie(resp, None)
    return resp
