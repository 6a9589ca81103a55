from __future__ import annotations

import hashlib
import hmac

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from sqlalchemy import JSON, BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp import clock
from idp.extensions import db


def hash_secret(value: str) -> str:
    """SHA-256 of a high-entropy bearer secret (token, code, generated client secret).

    A fast hash is right here: the values carry >=256 bits of randomness, so there is
    nothing to brute-force; slow hashes are for human-chosen passwords.
    """
    return hashlib.sha256(value.encode()).hexdigest()


class Client(db.Model, ClientMixin):
    """A relying party, loaded from clients/<client_id>.toml by `idp clients sync`."""

    __tablename__ = "client"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(Text, default="")
    purpose_en: Mapped[str] = mapped_column(Text, default="")
    # Deferred: up to 64 KiB that only the consent page and the logo route read.
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    redirect_uris: Mapped[list] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    client_secret_hash: Mapped[str | None] = mapped_column(String(80))
    jwks: Mapped[dict | None] = mapped_column(JSON)
    grant_types: Mapped[list] = mapped_column(JSON)
    scopes: Mapped[list] = mapped_column(JSON)
    claims: Mapped[list] = mapped_column(JSON)
    subject_type: Mapped[str] = mapped_column(String(16))
    sector_identifier: Mapped[str] = mapped_column(String(255))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # May receive OIDC4IDA `verified_claims` (clients/*.toml `identity_assurance = true`).
    identity_assurance: Mapped[bool] = mapped_column(Boolean, default=False)
    # OIDC Back-Channel Logout 1.0 §2.2: where logout tokens go, and whether `sid` is required.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Document types it may ask for (scopes doc:<code>), and whether with the files.
    document_types: Mapped[list] = mapped_column(JSON, default=list)
    document_file: Mapped[bool] = mapped_column(Boolean, default=False)
    # Purpose per document type ({code: text}), shown on the consent page and recorded in
    # the grant; a type without one uses `purpose`.
    document_purposes: Mapped[dict | None] = mapped_column(JSON, default=dict)
    # RFC 9449 §5.2: every access token of this client must be DPoP-bound.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[int] = mapped_column(BigInteger)

    # -- Authlib ClientMixin ------------------------------------------------------------
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # OIDC Core §3.1.2.1: redirect_uri is REQUIRED; never guess one.
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        # Exact string match (RFC 9700 §2.1, OIDC Core §3.1.2.1).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        if not self.client_secret_hash:
            return False
        return hmac.compare_digest(self.client_secret_hash, "sha256:" + hash_secret(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint != "token":
            return True
        if method == "client_assertion_jwt":
            method = "private_key_jwt"
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


class AuthorizationCode(db.Model):
    """A single-use authorization code (stored hashed), bound to client, redirect_uri, PKCE."""

    __tablename__ = "authorization_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(Integer)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[dict | None] = mapped_column(JSON)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[list] = mapped_column(JSON)
    sid: Mapped[str | None] = mapped_column(String(43))
    max_age_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    redeemed_at: Mapped[int | None] = mapped_column(BigInteger)
    # The token family the redemption created, revoked if the code is replayed.
    family_id: Mapped[str | None] = mapped_column(String(43))
    # RFC 9449 §10: the `dpop_jkt` of the authorization request; the token request's proof
    # must use that key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))

    # -- Authlib AuthorizationCodeMixin ---------------------------------------------------
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return self.acr

    def get_amr(self):
        return self.amr


class RefreshToken(db.Model):
    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(43), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[dict | None] = mapped_column(JSON)
    sid: Mapped[str | None] = mapped_column(String(43), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[list] = mapped_column(JSON)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int] = mapped_column(BigInteger)
    rotated_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    # RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key (thumbprint).
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))

    def is_usable(self, now: int, cfg: dict) -> bool:
        """Not revoked, not rotated away, within its absolute and idle lifetimes."""
        idle = cfg["offline_refresh_token_idle_ttl"] if self.offline else cfg["refresh_token_idle_ttl"]
        return (
            self.revoked_at is None and self.rotated_at is None
            and now < self.expires_at and now - self.last_used_at < idle
        )

    # -- Authlib TokenMixin-like API used by the grants ------------------------------------
    def get_scope(self):
        return self.scope

    def check_client(self, client):
        return self.client_id == client.client_id


class AccessToken(db.Model, TokenMixin):
    __tablename__ = "access_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str | None] = mapped_column(String(43), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[dict | None] = mapped_column(JSON)
    sid: Mapped[str | None] = mapped_column(String(43), index=True)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    # RFC 9449: the JWK SHA-256 thumbprint (RFC 7638) the token is bound to, or None (Bearer).
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))

    def check_client(self, client):
        return self.client_id == client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_at - self.issued_at

    def is_expired(self):
        return self.expires_at <= clock.now()

    def is_revoked(self):
        return self.revoked_at is not None


class Interaction(db.Model):
    """A pending authorization request (login/consent in progress), 10 min, browser-bound."""

    __tablename__ = "interaction"

    uid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict] = mapped_column(JSON)
    # Set when the person authenticated inside this interaction (satisfies prompt=login).
    login_at: Mapped[int | None] = mapped_column(BigInteger)
    # Login state machine: the password step passed for this person; the second factor
    # is still owed. No session exists until it is given (T44).
    pending_person_id: Mapped[int | None] = mapped_column(Integer)
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0)
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)


class UsedJti(db.Model):
    """Seen client-assertion `jti`s, kept until the assertion expires (RFC 7523 §3 item 7)."""

    __tablename__ = "used_jti"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class SessionClient(db.Model):
    """A client that received a code under an SSO session: the RPs to tell when the
    session ends (Back-Channel Logout §2.5). Written with each code; kept until purge."""

    __tablename__ = "session_client"

    sid: Mapped[str] = mapped_column(String(43), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Set when a logout token was queued for this (sid, client): one notice per sign-in.
    notified_at: Mapped[int | None] = mapped_column(BigInteger)


class BackchannelDelivery(db.Model):
    """A logout token owed to a client's backchannel_logout_uri. Only the claims that
    identify the session are stored; the token is signed afresh at each attempt (exp 2 min)."""

    __tablename__ = "backchannel_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    sid: Mapped[str] = mapped_column(String(43))
    sub: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # None once delivered or given up; otherwise when a worker may (next) try.
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    gave_up_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
