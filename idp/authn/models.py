from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, String
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
