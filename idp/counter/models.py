from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Officer(db.Model):
    """An MPP counter officer: a citizen account an operator has bound to one MPP location
    (`idp officers add`). Counter pages need the officer's second factor (acr level 2)."""

    __tablename__ = "counter_officer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    # The MPP the officer serves; recorded on every action and in the evidence it creates.
    location_code: Mapped[str] = mapped_column(String(32))
    location_name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128))
    disabled_at: Mapped[int | None] = mapped_column(BigInteger)


class ActivationCode(db.Model):
    """A one-time code with which a citizen sets the first password of an account an officer
    created, took over or reset. Stored argon2id-hashed; single use; a new code voids the
    older unused ones; 5 wrong tries void it (idp/counter/services.py)."""

    __tablename__ = "activation_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    # "printed" (handed over at the counter), "sms" or "email".
    channel: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    voided_at: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by_officer_id: Mapped[int | None] = mapped_column(ForeignKey("counter_officer.id", ondelete="SET NULL"))
    created_at: Mapped[int] = mapped_column(BigInteger)
