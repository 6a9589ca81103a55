from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class SigningKey(db.Model):
    """A provider signing key. The private key is AES-GCM encrypted under the KEK.

    States: next (published, not signing), active (signing; one per alg, enforced by a
    partial unique index), retiring (published until `retire_after`), revoked.
    """

    __tablename__ = "signing_key"
    __table_args__ = (
        Index(
            "uq_signing_key_active_alg",
            "alg",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    private_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    activated_at: Mapped[int | None] = mapped_column(BigInteger)
    retire_after: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
