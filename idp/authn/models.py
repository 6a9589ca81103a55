from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Session(db.Model):
    """A server-side SSO session. The cookie holds a random value; only its hash is stored."""

    __tablename__ = "sso_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Public session id, the `sid` claim (OIDC Front/Back-Channel Logout).
    sid: Mapped[str] = mapped_column(String(43), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)


class TotpFactor(db.Model):
    """An RFC 6238 authenticator. Pending (server-side) until a first valid code confirms it."""

    __tablename__ = "totp_factor"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger)
    # Last accepted time step: a code is accepted once (RFC 6238 §5.2, T50).
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class RecoveryCode(db.Model):
    """One of a set of single-use recovery codes, stored argon2id-hashed (T53)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Throttle(db.Model):
    """Failure counters shared by every node (per account, per source address)."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[int] = mapped_column(BigInteger)
    blocked_until: Mapped[int] = mapped_column(BigInteger, default=0)


class RateCounter(db.Model):
    """Event times per subject (a sliding log) shared by every node: send caps,
    registration attempts. Small by construction: only times inside the longest window
    are kept, and the longest window's cap bounds their number."""

    __tablename__ = "rate_counter"

    # "<name>:<hashed subject>"
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    events: Mapped[list] = mapped_column(JSON)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class WebAuthnUser(db.Model):
    """The WebAuthn user handle of a person: 32 random bytes, never derived from the NIK
    or `sub` (it is stored on authenticators and, for synced passkeys, in cloud keychains)."""

    __tablename__ = "webauthn_user"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    user_handle: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class WebAuthnCredential(db.Model):
    """A registered passkey or security key (W3C WebAuthn L2 §6.1 credential record)."""

    __tablename__ = "webauthn_credential"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # Signature counter: a value that does not grow (when either side is non-zero) is refused.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON)
    aaguid: Mapped[str] = mapped_column(String(36))
    # Chosen by the citizen, at most 64 characters, escaped wherever shown.
    name: Mapped[str] = mapped_column(String(64))
    # Backup eligible = a synced passkey (amr `swk`); otherwise device-bound (`hwk`).
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    user_verified_at_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class WebAuthnChallenge(db.Model):
    """An outstanding challenge, single use (deleted when used), bound to its purpose, the
    person (if known) and the sign-in transaction or session (`binding`)."""

    __tablename__ = "webauthn_challenge"

    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    binding: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class OobCode(db.Model):
    """A one-time code sent by SMS, WhatsApp or e-mail as a (weaker) second factor, bound
    to one sign-in transaction; single use, `otp_ttl` seconds, `otp_max_attempts` tries."""

    __tablename__ = "oob_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # The interaction (uid hash) the code was sent for.
    binding: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
