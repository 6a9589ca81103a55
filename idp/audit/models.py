from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class AuditEvent(db.Model):
    """Append-only record of security-relevant changes. No NIK, secret or token in `data`."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict] = mapped_column(JSON)
