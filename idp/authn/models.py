from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String
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
