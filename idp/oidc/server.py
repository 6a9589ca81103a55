"""Authlib wiring: the token endpoint grants, client authentication, revocation, introspection.

Authlib owns the protocol (RFC 6749, 7009, 7523, 7636, 7662); the subclasses here only
call our services (Indico `core/oauth/grants.py`).
"""

from __future__ import annotations

import json
import logging

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app, g
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.identity.models import Person
from idp.oidc import claims as claims_svc
from idp.oidc import clients as clients_svc
from idp.oidc import id_token, tokens
from idp.oidc.models import AccessToken, RefreshToken, UsedJti

log = logging.getLogger(__name__)

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def _cfg():
    return current_app.config["IDP"]


def _live_person(person_id: int | None) -> Person | None:
    person = db.session.get(Person, person_id) if person_id is not None else None
    if person is None or person.locked:
        return None
    return person


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 7636 §4.2; RFC 9700 §2.1.1). The authorization
    endpoint enforces presence and method; here the verifier is checked."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def __call__(self, grant):
        grant.register_hook("after_validate_token_request", self.validate_code_verifier)


class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"  # RFC 9449 §5


def request_jkt() -> str | None:
    """Thumbprint of the key of this token request's verified DPoP proof (views.token)."""
    return g.get("dpop_jkt")


class DPoPBinding:
    """RFC 9449 at the token endpoint, once the grant has found its code or refresh token:
    a client registered with `dpop_bound_access_tokens` must send a proof (§5.2); a code
    requested with `dpop_jkt` (§10) and a bound refresh token (§5) need the same key."""

    def __call__(self, grant):
        grant.register_hook("before_create_token_response", self.check)

    def check(self, grant):
        jkt = request_jkt()
        request = grant.request
        if jkt is not None:
            # The proof's jti is spent now that the client has authenticated (§11.1).
            from idp.oidc import dpop

            try:
                dpop.remember(jkt, g.dpop_jti)
            except dpop.DPoPError as exc:
                raise InvalidDPoPProofError(str(exc)) from None
        if jkt is None and request.client.dpop_bound_access_tokens:
            # SECURITY.md T24: a missing header is an invalid request (a bad one is invalid_dpop_proof).
            raise InvalidRequestError("A DPoP proof is required for this client")
        code, refresh = request.authorization_code, request.refresh_token
        if code is not None and code.dpop_jkt is not None and code.dpop_jkt != jkt:
            raise InvalidGrantError("The DPoP proof key does not match the dpop_jkt of the authorization request")
        if refresh is not None and refresh.dpop_jkt is not None and refresh.dpop_jkt != jkt:
            raise InvalidGrantError("The DPoP proof key does not match the refresh token")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def query_authorization_code(self, code, client):
        row, replay = tokens.consume_code(code)
        if row is None:
            return None
        if replay:
            # RFC 6749 §4.1.2 / RFC 9700 §4.2.4: a replayed code revokes what it issued.
            tokens.revoke_family(row.family_id)
            record_event(EventTag.CODE_REUSED, actor="client", person_id=row.person_id, client_id=row.client_id)
            db.session.commit()
            return None
        if row.client_id != client.client_id or row.expires_at <= clock.now():
            return None  # already burnt by consume_code
        return row

    def delete_authorization_code(self, authorization_code):
        pass  # consumed atomically in query_authorization_code

    def authenticate_user(self, authorization_code):
        return _live_person(authorization_code.person_id)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return super().generate_token(
            user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
            include_refresh_token=self.client.check_grant_type("refresh_token"),
        )

    def save_authorization_code(self, code, request):  # codes are minted by oidc.authorize
        raise RuntimeError("authorization codes are issued by idp.oidc.authorize")


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token):
        found = tokens.find_refresh_token_with_person(refresh_token)
        if found is None:
            return None
        row, person = found
        row.person = person  # for authenticate_user: no second query
        if row.revoked_at is not None:
            return None
        now = clock.now()
        if row.rotated_at is not None:
            # Reuse of a rotated token: someone holds a copy. Kill the family (RFC 9700 §4.14.2).
            tokens.revoke_family(row.family_id)
            record_event(EventTag.REFRESH_REUSED, actor="client", person_id=row.person_id, client_id=row.client_id)
            db.session.commit()
            return None
        return row if row.is_usable(now, _cfg()) else None

    def authenticate_user(self, refresh_token):
        person = refresh_token.person
        return None if person.locked else person

    def issue_token(self, user, refresh_token):
        scope = self.request.payload.scope or refresh_token.get_scope()
        # Public clients get a new refresh token each time (rotation); confidential
        # clients keep theirs (sender-constrained by client authentication).
        return self.generate_token(user=user, scope=scope, include_refresh_token=self.client.is_public)

    def revoke_old_credential(self, refresh_token):
        # The token view commits once, after the response is built.
        now = clock.now()
        if self.client.is_public:
            refresh_token.rotated_at = now
            refresh_token.last_used_at = now
        elif now - refresh_token.last_used_at >= 60:
            # Idle expiry counts in minutes: skip a write per refresh for busy clients.
            refresh_token.last_used_at = now


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    # A public client cannot prove it is itself: no machine tokens without authentication.
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


class OpenIDCode:
    """Adds the ID token to code and refresh grant responses that carry `openid`."""

    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant, response):
        _, token, _ = response
        if "openid" not in (token.get("scope") or "").split():
            return token
        request = grant.request
        source = request.authorization_code or request.refresh_token
        token["id_token"] = id_token.issue(
            client=request.client,
            person=request.user,
            auth_time=source.auth_time,
            acr=source.acr,
            amr=source.amr,
            sid=source.sid,
            nonce=source.nonce if request.authorization_code is not None else None,
            access_token=token.get("access_token"),
            requested=(source.claims or {}).get("id_token", {}),
            scopes=set(token["scope"].split()),
        )
        return token


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core §9)."""

    CLIENT_AUTH_METHOD = "client_assertion_jwt"

    def get_audiences(self):
        issuer = _cfg()["issuer"]
        return [issuer, issuer + "/token"]

    def validate_jti(self, claims, jti):
        if not isinstance(jti, str) or len(jti) > 256:
            return False
        exp = claims.get("exp")
        expires_at = exp if isinstance(exp, int) else clock.now() + 3600
        db.session.add(UsedJti(key=tokens.hash_secret(f"{claims['iss']}\x00{jti}"), expires_at=expires_at))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    def resolve_client_public_key(self, client):
        return KeySet.import_key_set(client.jwks or {"keys": []})


class _TokenLookup:
    """Finds an access or refresh token by value for revocation and introspection."""

    CLIENT_AUTH_METHODS = AUTH_METHODS
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")

    def query_token(self, token_string, token_type_hint):
        order = [tokens.find_refresh_token, tokens.find_access_token]
        if token_type_hint == "access_token":
            order.reverse()
        for find in order:
            row = find(token_string)
            if row is not None:
                return row
        return None


class Revocation(_TokenLookup, RevocationEndpoint):
    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 §2.2: a token of another client is not revoked, and we do not tell.
        if token is not None and not token.check_client(client):
            return None
        return token

    def revoke_token(self, token, request):
        now = clock.now()
        if isinstance(token, RefreshToken):
            # §2.1: revoking a refresh token also invalidates the access tokens of its grant.
            tokens.revoke_family(token.family_id)
        elif token.revoked_at is None:
            token.revoked_at = now
        record_event(EventTag.TOKEN_REVOKED, actor="client", person_id=token.person_id, client_id=token.client_id)
        db.session.commit()


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def check_permission(self, token, client, request):
        # A client may introspect only its own tokens.
        return token.check_client(client)

    def create_introspection_payload(self, token):
        if token is None:
            return {"active": False}
        if isinstance(token, RefreshToken):
            if not token.is_usable(clock.now(), _cfg()):
                return {"active": False}
        elif token.is_expired() or token.is_revoked():
            return {"active": False}
        person = _live_person(token.person_id)
        if person is None and token.person_id is not None:
            return {"active": False}
        return self.introspect_token(token, person)

    def introspect_token(self, token, person=None):
        # The caller already authenticated this client, so the snapshot is current enough.
        client = clients_svc.get_client_cached(token.client_id)
        payload = {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "iss": _cfg()["issuer"],
            "iat": token.issued_at,
            "exp": token.expires_at,
            "token_type": "refresh_token" if isinstance(token, RefreshToken) else "Bearer",
        }
        if token.dpop_jkt is not None:
            # RFC 9449 §6.2: the key the token is bound to.
            payload["cnf"] = {"jkt": token.dpop_jkt}
            if not isinstance(token, RefreshToken):
                payload["token_type"] = "DPoP"
        if person is not None and client is not None:
            payload["sub"] = claims_svc.subject(person, client)
        return payload


def _generate_bearer_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    token = {
        "token_type": "DPoP" if request_jkt() is not None else "Bearer",
        "access_token": tokens.new_token(),
        "expires_in": _cfg()["access_token_ttl"],
    }
    if scope:
        token["scope"] = scope
    if include_refresh_token:
        token["refresh_token"] = tokens.new_token()
    return token


def _save_token(token, request):
    """Store hashes of what the grant issued, tied to its family, session and person."""
    cfg = _cfg()
    now = clock.now()
    person_id = request.user.id if request.user is not None else None
    code = request.authorization_code
    old_rt = request.refresh_token
    source = code or old_rt
    if code is not None:
        family = tokens.new_family()
        code.family_id = family
    elif old_rt is not None:
        family = old_rt.family_id
    else:
        family = None
    db.session.add(
        AccessToken(
            token_hash=tokens.hash_secret(token["access_token"]),
            family_id=family,
            client_id=request.client.client_id,
            person_id=person_id,
            scope=token.get("scope", ""),
            claims=source.claims if source is not None else None,
            sid=source.sid if source is not None else None,
            issued_at=now,
            expires_at=now + cfg["access_token_ttl"],
            dpop_jkt=request_jkt(),
        )
    )
    if "refresh_token" in token:
        if old_rt is not None:
            offline, expires_at = old_rt.offline, old_rt.expires_at
        else:
            offline = "offline_access" in token.get("scope", "").split()
            ttl = cfg["offline_refresh_token_absolute_ttl"] if offline else cfg["refresh_token_absolute_ttl"]
            expires_at = now + ttl
        db.session.add(
            RefreshToken(
                token_hash=tokens.hash_secret(token["refresh_token"]),
                family_id=family,
                client_id=request.client.client_id,
                person_id=person_id,
                scope=token.get("scope", ""),
                claims=source.claims,
                # offline_access tokens outlive the SSO session (OIDC Core §11).
                sid=None if offline else source.sid,
                auth_time=source.auth_time,
                acr=source.acr,
                amr=source.amr,
                offline=offline,
                issued_at=now,
                expires_at=expires_at,
                last_used_at=now,
                # RFC 9449 §5: a public client's refresh token is bound to its DPoP key
                # (a confidential client's is bound by client authentication).
                dpop_jkt=request_jkt() if request.client.is_public else None,
            )
        )
    # No commit here: the token view commits once, after the ID token is added.


class Server(AuthorizationServer):
    def handle_error_response(self, request, error):
        # Public error_description stays short and generic; the detail goes to the log
        # (node-oidc-provider errors.js / err_out.js).
        if isinstance(error, InvalidClientError):
            log.info(json.dumps({"event": "client_authentication_failed", "detail": error.description}))
            error.description = "Client authentication failed"
        return super().handle_error_response(request, error)


def create_server(app) -> AuthorizationServer:
    server = Server()
    server.init_app(app, query_client=clients_svc.get_client_cached, save_token=_save_token)
    server.register_token_generator("default", _generate_bearer_token)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(), DPoPBinding()])
    server.register_grant(RefreshTokenGrant, [OpenIDCode(), DPoPBinding()])
    server.register_grant(ClientCredentialsGrant, [DPoPBinding()])
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    return server
