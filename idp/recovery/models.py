from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Recovery(db.Model):
    """One "forgot password" attempt: a server-side state machine (code → factor →
    password → done, or void) bound to one browser by a random handle.

    A row exists for every request, whether or not the facts matched an account with a
    verified contact on the chosen channel; ``person_id`` is set only when a code was
    really sent. The browser cannot tell the two apart (T36)."""

    __tablename__ = "account_recovery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The browser holds a random handle in its signed session; only its hash is stored.
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Blind index of the NIK as typed: the per-NIK send caps apply to unknown NIKs too.
    nik_index: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)
    code_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    # Wrong second factors in this recovery (5 void it, as a sign-in transaction).
    factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    factor_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
