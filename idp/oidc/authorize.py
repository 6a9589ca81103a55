"""The authorization endpoint, as small named checks in an order that fits on one screen
(node-oidc-provider `lib/actions/authorization/index.js`). The order matters:

1. client and redirect_uri are verified before anything can be redirected (RFC 6749
   §4.1.2.1; RFC 9700 §2.1): failures there show our own error page;
2. then every request parameter is checked, failures redirect with `error`, `state`
   and `iss` (RFC 9207) in the requested response mode;
3. then authentication (session, prompt, max_age, id_token_hint, acr), then consent,
   then the code is minted.

Everything here is plain Python over a params dict, so an interaction can resume the
same request after login and consent.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from idp import clock
from idp.authn import acr as acr_levels
from idp.authn import services as authn
from idp.authn.models import Session
from idp.consent import services as consent_svc
from idp.documents import grants as doc_grants
from idp.extensions import db
from idp.identity.models import Person
from idp.oidc import backchannel, dpop, id_token, tokens
from idp.oidc import claims as claims_svc
from idp.oidc import clients as clients_svc
from idp.oidc.models import AuthorizationCode, Client, Interaction

SUPPORTED_PROMPTS = {"none", "login", "consent", "select_account"}
RESPONSE_MODES = {"query", "form_post"}
# RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)) = 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_PARAM = 4096


class PageError(Exception):
    """Cannot redirect (unknown client, unregistered redirect_uri): show our error page."""

    def __init__(self, message_key: str):
        super().__init__(message_key)
        self.message_key = message_key


@dataclass
class RedirectError(Exception):
    """An OAuth/OIDC error delivered to the verified redirect_uri."""

    error: str
    description: str
    request: AuthorizationRequest


@dataclass
class NeedsInteraction(Exception):
    """The person must sign in (kind='login') or decide (kind='consent')."""

    kind: str
    request: AuthorizationRequest


@dataclass
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    params: dict[str, str]
    response_mode: str = "query"
    state: str | None = None
    scopes: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)
    prompts: set[str] = field(default_factory=set)
    max_age: int | None = None
    ui_locale: str | None = None

    @property
    def consent_claims(self) -> set[str]:
        return claims_svc.requested_claim_names(self.claims) & set(self.client.claims)


@dataclass
class Approved:
    request: AuthorizationRequest
    code: str


def _fail(req: AuthorizationRequest, error: str, description: str):
    raise RedirectError(error, description, req)


# -- step 1: who is asking and where the answer goes ------------------------------------
def resolve_client(params: dict[str, str]) -> AuthorizationRequest:
    client = clients_svc.get_client(params.get("client_id"))
    if client is None:
        raise PageError("error.unknown_client")
    if "authorization_code" not in client.grant_types:
        raise PageError("error.unknown_client")
    redirect_uri = params.get("redirect_uri")
    # OIDC Core §3.1.2.1: redirect_uri is REQUIRED and must match exactly.
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        raise PageError("error.bad_redirect_uri")
    req = AuthorizationRequest(client=client, redirect_uri=redirect_uri, params=params)
    mode = params.get("response_mode")
    if mode in RESPONSE_MODES:
        req.response_mode = mode
    state = params.get("state")
    if state is not None and len(state) <= current_app.config["IDP"]["max_state_length"]:
        req.state = state
    return req


# -- step 2: the request parameters ----------------------------------------------------
def check_parameters(req: AuthorizationRequest, duplicated: set[str]) -> None:
    p = req.params
    cfg = current_app.config["IDP"]
    if duplicated:
        _fail(req, "invalid_request", "parameters must not be repeated")
    if "state" in p and req.state is None:
        _fail(req, "invalid_request", "state is too long")
    if any(len(v) > MAX_PARAM for k, v in p.items() if k not in ("claims", "id_token_hint")):
        _fail(req, "invalid_request", "a parameter is too long")
    if "request" in p:
        _fail(req, "request_not_supported", "request objects are not supported")
    if "request_uri" in p:
        _fail(req, "request_uri_not_supported", "request_uri is not supported")
    if "response_mode" in p and p["response_mode"] not in RESPONSE_MODES:
        _fail(req, "invalid_request", "unsupported response_mode")
    response_type = p.get("response_type")
    if not response_type:
        _fail(req, "invalid_request", "response_type is required")
    if response_type != "code":
        _fail(req, "unsupported_response_type", "only response_type=code is supported")
    scopes = (p.get("scope") or "").split()
    if "openid" not in scopes:
        _fail(req, "invalid_scope", "the openid scope is required")
    # Scopes the client is not registered for are left out (RFC 6749 §3.3).
    allowed = set(req.client.scopes)
    req.scopes = [s for s in dict.fromkeys(scopes) if s in allowed]
    check_pkce(req)
    jkt = req.params.get("dpop_jkt")
    if jkt is not None and not dpop.JKT_RE.fullmatch(jkt):
        # RFC 9449 §10: the SHA-256 JWK thumbprint of the key the client will prove at /token.
        _fail(req, "invalid_request", "invalid dpop_jkt")
    nonce = p.get("nonce")
    if nonce is not None and len(nonce) > cfg["max_state_length"]:
        _fail(req, "invalid_request", "nonce is too long")
    prompts = set((p.get("prompt") or "").split())
    if prompts - SUPPORTED_PROMPTS:
        _fail(req, "invalid_request", "unsupported prompt value")
    if "none" in prompts and len(prompts) > 1:
        _fail(req, "invalid_request", "prompt=none must stand alone")
    req.prompts = prompts
    if "max_age" in p:
        if not re.fullmatch(r"[0-9]{1,10}", p["max_age"]):
            _fail(req, "invalid_request", "max_age must be a non-negative integer")
        req.max_age = int(p["max_age"])
    try:
        req.claims = claims_svc.parse_claims_parameter(p.get("claims"))
    except claims_svc.InvalidClaimsParameterError:
        _fail(req, "invalid_request", "invalid claims parameter")
    for locale in (p.get("ui_locales") or "").split():
        lang = locale.split("-")[0].lower()
        if lang in ("id", "en"):
            req.ui_locale = lang
            break


def check_pkce(req: AuthorizationRequest) -> None:
    """PKCE S256 is required of every client (RFC 9700 §2.1.1); plain is refused."""
    challenge = req.params.get("code_challenge")
    method = req.params.get("code_challenge_method")
    if not challenge:
        _fail(req, "invalid_request", "code_challenge is required")
    if method != "S256":
        _fail(req, "invalid_request", "code_challenge_method must be S256")
    if not S256_CHALLENGE.fullmatch(challenge):
        _fail(req, "invalid_request", "invalid code_challenge")


# -- step 3: authentication --------------------------------------------------------------
def requested_acr(req: AuthorizationRequest) -> tuple[list[str], bool]:
    """(acceptable acr values in preference order, essential?) from acr_values or claims."""
    spec = req.claims.get("id_token", {}).get("acr")
    if spec:
        values = spec.get("values") or ([spec["value"]] if "value" in spec else [])
        return [v for v in values if isinstance(v, str)], bool(spec.get("essential"))
    return (req.params.get("acr_values") or "").split(), False


def check_authentication(req: AuthorizationRequest, session: Session | None, interaction: Interaction | None) -> Person:
    """Returns the signed-in person, or raises NeedsInteraction('login') / RedirectError."""
    logged_in_here = interaction is not None and interaction.login_at is not None
    reason = None
    if session is None:
        reason = "login_required"
    elif not logged_in_here:
        if "login" in req.prompts or "select_account" in req.prompts or req.max_age is not None and clock.now() - session.auth_time > req.max_age:
            reason = "login_required"
        else:
            # §3.1.2.1 id_token_hint and §5.5.1 a requested `sub` value: the session must
            # belong to that end-user, or the request is answered as if no one were signed in.
            expected_subs = []
            hint = req.params.get("id_token_hint")
            if hint:
                claims = id_token.verify_hint(hint)
                if claims is None:
                    _fail(req, "invalid_request", "invalid id_token_hint")
                expected_subs.append(claims.get("sub"))
            sub_spec = req.claims.get("id_token", {}).get("sub") or {}
            if "value" in sub_spec:
                expected_subs.append(sub_spec["value"])
            if expected_subs:
                person = db.session.get(Person, session.person_id)
                actual = claims_svc.subject(person, req.client)
                if any(sub != actual for sub in expected_subs):
                    reason = "login_required"
    if reason is not None:
        if "none" in req.prompts:
            _fail(req, reason, "the end-user is not signed in")
        raise NeedsInteraction("login", req)

    values, essential = requested_acr(req)
    person = db.session.get(Person, session.person_id)
    if values and not any(acr_levels.satisfies(session.acr, v) for v in values):
        # Step-up (T45): a second factor raises the session to level 2 (3 for people
        # verified in person) in the same flow;
        # an essential request that cannot be met is refused, never silently downgraded.
        level = person.identity_level or 1
        reachable = [v for v in values if acr_levels.reachable_with_second_factor(v, level)]
        if reachable and authn.can_give_second_factor(person) and (essential or values[0] in reachable):
            if "none" in req.prompts:
                _fail(req, "interaction_required", "a second factor is required")
            raise NeedsInteraction("mfa", req)
        if essential:
            if "none" in req.prompts:
                _fail(req, "interaction_required", "the session does not meet the requested acr")
            _fail(req, "unmet_authentication_requirements", "the requested acr cannot be met")
    return person


# -- step 4: consent -----------------------------------------------------------------------
def check_consent(req: AuthorizationRequest, person: Person, interaction: Interaction | None) -> None:
    decided_here = interaction is not None and interaction.consent_given
    if decided_here:
        return
    existing = consent_svc.get_consent(person.id, req.client.client_id)
    needed = "consent" in req.prompts or not consent_svc.covers(existing, set(req.scopes), req.consent_claims)
    # Document types: each has its own grant, which expires or is withdrawn on its own.
    doc_codes = {t.code for t in doc_grants.requested_types(req.scopes, req.client)}
    needed = needed or not doc_grants.covers(person.id, req.client, doc_codes, req.client.document_file)
    if needed:
        if "none" in req.prompts:
            _fail(req, "consent_required", "consent is required")
        raise NeedsInteraction("consent", req)


# -- step 5: the code -------------------------------------------------------------------------
def issue_code(req: AuthorizationRequest, person: Person, session: Session, interaction: Interaction | None) -> str:
    cfg = current_app.config["IDP"]
    now = clock.now()
    code = secrets.token_urlsafe(32)
    scopes = list(req.scopes)
    # OIDC Core §11: offline_access only after consent was asked in this flow or given before.
    db.session.add(
        AuthorizationCode(
            code_hash=tokens.hash_secret(code),
            client_id=req.client.client_id,
            person_id=person.id,
            redirect_uri=req.redirect_uri,
            scope=" ".join(scopes),
            claims=req.claims,
            nonce=req.params.get("nonce"),
            code_challenge=req.params["code_challenge"],
            code_challenge_method="S256",
            auth_time=session.auth_time,
            acr=session.acr,
            amr=session.amr,
            sid=session.sid,
            max_age_sent=req.max_age is not None,
            expires_at=now + cfg["authorization_code_ttl"],
            dpop_jkt=req.params.get("dpop_jkt"),
        )
    )
    # Back-Channel Logout §2.5: the RPs of this session are told when it ends.
    backchannel.record_sign_in(sid=session.sid, client_id=req.client.client_id, person_id=person.id)
    if interaction is not None:
        interaction.completed_at = now
    db.session.commit()
    return code


def process(
    params: dict[str, str],
    duplicated: set[str],
    session: Session | None,
    interaction: Interaction | None = None,
) -> Approved:
    """Run the whole pipeline. Raises PageError, RedirectError or NeedsInteraction."""
    req = resolve_client(params)
    check_parameters(req, duplicated)
    person = check_authentication(req, session, interaction)
    check_consent(req, person, interaction)
    return Approved(req, issue_code(req, person, session, interaction))


# -- interactions ---------------------------------------------------------------------------
def start_interaction(req: AuthorizationRequest, browser_id: str) -> str:
    """Store the request for the login/consent pages. Returns the interaction uid."""
    return _new_interaction(browser_id, req.client.client_id, req.params)


def _new_interaction(browser_id: str, client_id: str, params: dict) -> str:
    now = clock.now()
    uid = secrets.token_urlsafe(24)
    db.session.add(
        Interaction(
            uid_hash=tokens.hash_secret(uid),
            browser_hash=tokens.hash_secret(browser_id),
            client_id=client_id,
            params=params,
            created_at=now,
            expires_at=now + current_app.config["IDP"]["interaction_ttl"],
        )
    )
    db.session.commit()
    return uid


ACCOUNT = ""  # client_id of interactions for the citizen's own account pages


def start_account_interaction(browser_id: str, return_to: str, *, reauth: bool) -> str:
    """A sign-in for the account pages (no relying party). Returns the interaction uid."""
    return _new_interaction(browser_id, ACCOUNT, {"return_to": return_to, "prompt": "login" if reauth else ""})


def get_interaction(uid: str, browser_id: str | None) -> Interaction | None:
    """A live interaction started in this browser, or None."""
    if not uid or len(uid) > 64 or not browser_id:
        return None
    row = db.session.get(Interaction, tokens.hash_secret(uid))
    if row is None or row.completed_at is not None or row.expires_at <= clock.now():
        return None
    if not secrets.compare_digest(row.browser_hash, tokens.hash_secret(browser_id)):
        return None
    return row


def response_params(req: AuthorizationRequest, values: dict[str, str]) -> list[tuple[str, str]]:
    out = list(values.items())
    if req.state is not None:
        out.append(("state", req.state))
    out.append(("iss", current_app.config["IDP"]["issuer"]))  # RFC 9207 §2
    return out


def error_params(err: RedirectError) -> list[tuple[str, str]]:
    return response_params(err.request, {"error": err.error, "error_description": err.description})


def parse(source: Any) -> tuple[dict[str, str], set[str]]:
    """Flatten a MultiDict; returns (params, names that were repeated).

    Empty values count as absent (OIDC Core §3.1.2.1 / RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    duplicated: set[str] = set()
    for key in source:
        values = source.getlist(key)
        if len(values) > 1:
            duplicated.add(key)
        if values and values[0] != "":
            params[key] = values[0]
    return params, duplicated
