from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Person(db.Model):
    """A citizen account. The NIK is stored only encrypted, found by its blind index."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable random identifier, the basis of `sub` (never derived from the NIK).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # One account per NIK, enforced by the database (unique blind index).
    nik_index: Mapped[str] = mapped_column(String(64), unique=True)
    nik_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(200))
    birthdate: Mapped[str] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone_number: Mapped[str | None] = mapped_column(String(32))
    phone_number_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[dict | None] = mapped_column(JSON)
    birthplace: Mapped[str | None] = mapped_column(String(100))
    # How strongly the person behind the account was verified (issue #3): 1 = matched
    # against the population registry online, 3 = verified in person at an MPP counter.
    identity_level: Mapped[int] = mapped_column(Integer, default=1)
    identity_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    # OIDC4IDA evidence entries (registry checks, documents an officer inspected).
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
