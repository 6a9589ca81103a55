from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class Consent(db.Model):
    """What one person agreed to share with one client: scopes and individual claims."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("person_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list] = mapped_column(JSON)
    claims: Mapped[list] = mapped_column(JSON)
    granted_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
