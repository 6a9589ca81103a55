"""The document vault: documents (encrypted at rest), per client × type grants, and the
record of every read by a relying party (shown to the citizen, UU PDP Art. 32)."""

from __future__ import annotations

import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db

PROVENANCES = ("uploaded", "verified", "issued")
SCAN_STATUSES = ("pending", "clean", "infected", "skipped")


class Document(db.Model):
    """One document of one citizen.

    Attributes and file are AES-256-GCM encrypted under a random per-document data key;
    the data key is stored wrapped by the KEK (keys/envelope.py). Deleting erases the
    wrapped key and the file (crypto-erase); the row stays so the access history can name it.
    """

    __tablename__ = "document"
    __table_args__ = (Index("ix_document_person_id", "person_id"), Index("ix_document_scan_status", "scan_status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Random id used in URLs (never the sequential primary key).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    type_code: Mapped[str] = mapped_column(String(32))
    data_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    attributes_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # uploaded (citizen-supplied) | verified (checked by an MPP officer) | issued (from the issuer)
    provenance: Mapped[str] = mapped_column(String(16))
    verified_by: Mapped[str | None] = mapped_column(String(128))
    verified_location: Mapped[str | None] = mapped_column(String(100))
    verified_at: Mapped[int | None] = mapped_column(BigInteger)
    expires_on: Mapped[datetime.date | None] = mapped_column(Date)
    # The encrypted file in the blob store (None: no file, or erased).
    blob_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    pixels: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Anti-virus scan of the file (documents/scan.py, SECURITY.md T70), one of SCAN_STATUSES:
    # pending (not scanned yet: the scanner was unavailable), clean, infected (quarantined:
    # never served), skipped (not scanned: scanning off, stored before scanning existed, or
    # no file). Only clean files, or skipped ones while scanning is off, reach services.
    scan_status: Mapped[str] = mapped_column(String(16), default="skipped")
    scanned_at: Mapped[int | None] = mapped_column(BigInteger)
    # The scanner's name for what it found (infected only).
    scan_signature: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger)


class DocumentGrant(db.Model):
    """A citizen lets one client read their documents of one type until `expires_at`."""

    __tablename__ = "document_grant"
    __table_args__ = (UniqueConstraint("person_id", "client_id", "type_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    type_code: Mapped[str] = mapped_column(String(32))
    include_file: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    # The purpose the citizen agreed to (the registration's, for this type); None for
    # grants from before purposes were recorded. Another purpose needs a new agreement.
    purpose: Mapped[str | None] = mapped_column(Text)
    # One-time sharing: the first read spends it (`used_at`); a file link from that read
    # still works until `expires_at` (the access token's lifetime).
    one_time: Mapped[bool] = mapped_column(Boolean, default=False)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class DocumentAccess(db.Model):
    """One read by a relying party: which service, when, which documents and attributes,
    under which grants ("Riwayat akses data")."""

    __tablename__ = "document_access"
    __table_args__ = (Index("ix_document_access_person_created", "person_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    # claims (JSON), claims_jwt (signed), file (download)
    kind: Mapped[str] = mapped_column(String(16))
    # [{"document": public_id, "type": code, "attributes": [names], "grant": grant id}]
    items: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DocumentDownloadLink(db.Model):
    """A single-use link to one document's file, given to one client in a claims answer.

    Only the SHA-256 of the link id (256 random bits) is stored; the link is consumed by a
    conditional UPDATE (`used_at IS NULL`), so two concurrent downloads cannot both win."""

    __tablename__ = "document_download_link"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
