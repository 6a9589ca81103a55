"""Single-use download links to document files (issue #6: "file only through a
short-lived single-use link, and only where the grant includes the file").

- A link is issued in a claims answer (`GET /claims/documents`) for each document whose
  live grant has `include_file`; it lives `document_link_ttl` seconds (60 by default).
- The link id carries 256 random bits; only its SHA-256 is stored, as for every bearer
  secret (idp/oidc/models.py `hash_secret`).
- The link alone is useless: the download also needs a live access token of the same
  client for the same citizen, with the document's `doc:<code>` scope (checked by the
  caller, idp/oidc/documents_api.py), so a leaked URL (logs, proxies) reveals nothing.
- Using it is a conditional UPDATE (`used_at IS NULL AND expires_at > now`): of two
  concurrent downloads exactly one wins, on every node (PostgreSQL or SQLite).
- The grant is checked again at download time (no cache): a withdrawal between the claims
  answer and the download refuses the file (SECURITY.md T67).
- Only a file scanned clean (or skipped while scanning is off) is linked or served, checked
  again at download time: a file quarantined after its link was issued is refused (T70).
  A quarantined (infected) file is not served to its owner either.
- Every download is recorded in the citizen's access history (DocumentAccess kind "file").
- With `document_files_origin` set, link URLs use that origin (idp/documents/origin.py),
  and the citizen's own download goes through an owner link too (client_id OWNER, served
  at OWNER_FILE_PATH without a token: the files origin never sees the session cookie).
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from sqlalchemy import select, update

from idp import clock
from idp.documents import grants, services
from idp.documents.models import Document, DocumentAccess, DocumentDownloadLink
from idp.extensions import db

FILE_PATH = "/claims/documents/files/"
OWNER_FILE_PATH = "/documents/files/"
# client_id of a link issued to the document's owner (no client has an empty id).
OWNER = ""
MAX_LINK_ID = 64


class LinkRefusedError(Exception):
    """The link cannot be used. ``reason``: "unknown" (no such link for this client and
    citizen, used, expired, or document gone: 404), "grant" (the grant no longer allows
    the file: 403) or "scan" (the file is not scanned clean, or is quarantined: 404)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _hash(link_id: str) -> str:
    return hashlib.sha256(link_id.encode()).hexdigest()


def issue(doc: Document, client_id: str, now: int | None = None) -> dict:
    """Add a download link for ``doc`` to the session (the caller commits).

    Returns the `file` member of the claims answer: url, expires_in, content_type, size,
    sha256. Raises LinkRefusedError("scan") for a file not releasable (the caller checks
    services.file_releasable first; this is the last guard)."""
    from idp.documents import origin

    if not services.file_releasable(doc):
        raise LinkRefusedError("scan")
    ttl = current_app.config["IDP"]["document_link_ttl"]
    link_id = _add(doc, client_id, now)
    return {
        "url": origin.base_url() + FILE_PATH + link_id,
        "expires_in": ttl,
        "content_type": doc.content_type,
        "size": doc.size,
        "sha256": doc.sha256,
    }


def _add(doc: Document, client_id: str, now: int | None) -> str:
    now = clock.now() if now is None else now
    link_id = secrets.token_urlsafe(32)
    db.session.add(DocumentDownloadLink(id_hash=_hash(link_id), document_id=doc.id, client_id=client_id,
                                        person_id=doc.person_id,
                                        expires_at=now + current_app.config["IDP"]["document_link_ttl"]))
    return link_id


def issue_owner(doc: Document, now: int | None = None) -> str:
    """Add a link for the document's owner to the session (the caller commits); returns
    its URL on the files origin."""
    from idp.documents import origin

    return origin.base_url() + OWNER_FILE_PATH + _add(doc, OWNER, now)


def consume_owner(link_id: str) -> Document:
    """Use an owner link once (no token: the link was issued to the signed-in owner a
    moment ago). A service's link is "unknown" here, as an owner link is on the service
    route. Commits. Raises LinkRefusedError("unknown")."""
    if not isinstance(link_id, str) or not link_id or len(link_id) > MAX_LINK_ID:
        raise LinkRefusedError("unknown")
    now = clock.now()
    id_hash = _hash(link_id)
    row = db.session.execute(
        select(DocumentDownloadLink, Document)
        .join(Document, Document.id == DocumentDownloadLink.document_id)
        .where(DocumentDownloadLink.id_hash == id_hash, DocumentDownloadLink.client_id == OWNER)
    ).first()
    if row is None:
        raise LinkRefusedError("unknown")
    link, doc = row
    if doc.deleted_at is not None or not doc.blob_name or doc.person_id != link.person_id or services.quarantined(doc):
        raise LinkRefusedError("unknown")
    _use_once(id_hash, now)
    db.session.commit()
    return doc


def _use_once(id_hash: str, now: int) -> None:
    """Mark the link used with one conditional UPDATE: of two racing requests (on any
    nodes) exactly one wins; the other, and a used or expired link, raise "unknown"."""
    used = db.session.execute(
        update(DocumentDownloadLink)
        .where(DocumentDownloadLink.id_hash == id_hash, DocumentDownloadLink.used_at.is_(None),
               DocumentDownloadLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        db.session.rollback()
        raise LinkRefusedError("unknown")


def consume(link_id: str, client_id: str, person_id: int, scope_codes: set[str]) -> Document:
    """Use a link once, for this client and citizen, whose token covers ``scope_codes``.
    Records the download in the access history. Commits.

    Returns the Document (its file still to be read). Raises LinkRefusedError; an
    unknown, foreign, used or expired link is "unknown", a token without the document's
    scope is "scope" (403), and a file not releasable (scan status) is "scan"."""
    if not isinstance(link_id, str) or not link_id or len(link_id) > MAX_LINK_ID or client_id == OWNER:
        raise LinkRefusedError("unknown")
    now = clock.now()
    id_hash = _hash(link_id)
    row = db.session.execute(
        select(DocumentDownloadLink, Document)
        .join(Document, Document.id == DocumentDownloadLink.document_id)
        .where(DocumentDownloadLink.id_hash == id_hash)
    ).first()
    # Another client's or citizen's link answers as if it did not exist (no oracle, T68).
    if row is None or row[0].client_id != client_id or row[0].person_id != person_id:
        raise LinkRefusedError("unknown")
    _link, doc = row
    if doc.deleted_at is not None or not doc.blob_name or doc.person_id != person_id:
        raise LinkRefusedError("unknown")
    if doc.type_code not in scope_codes:
        raise LinkRefusedError("scope")
    grant = grants.live_grants(person_id, client_id, now, spent_ok=True).get(doc.type_code)
    if grant is None or not grant.include_file:
        raise LinkRefusedError("grant")
    if not services.file_releasable(doc):
        raise LinkRefusedError("scan")
    _use_once(id_hash, now)
    db.session.add(DocumentAccess(person_id=person_id, client_id=client_id, kind="file", created_at=now, items=[
        {"document": doc.public_id, "type": doc.type_code, "attributes": [], "grant": grant.id, "file": True}]))
    db.session.commit()
    return doc
