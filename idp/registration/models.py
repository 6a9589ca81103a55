from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Registration(db.Model):
    """A provisional registration: a server-side state machine (identity → contact → code
    → password → done). It binds nothing: no account exists until the contact is proven
    and a password chosen, and an unfinished registration simply expires (T39)."""

    __tablename__ = "registration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The browser holds a random handle in its signed session; only its hash is stored.
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nik_index: Mapped[str] = mapped_column(String(64), index=True)
    nik_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(200))
    birthdate: Mapped[str] = mapped_column(String(10))
    birthplace: Mapped[str | None] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(16))
    # What the population registry said, kept as evidence for verified_claims.
    evidence: Mapped[dict] = mapped_column(JSON)
    step: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(254))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)
    contact_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    signed_in_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
