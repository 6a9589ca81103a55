"""Document grants: a citizen lets one client read their documents of one type, for a
limited time (`document_grant_ttl`, at most 12 months), revocable at any time; every read
is recorded and shown to the citizen ("Riwayat akses data", UU PDP Art. 9/22/32).

Grants are separate from the general consent record (consent/models.py): they have their
own expiry per type and are withdrawn one by one. A grant is checked on every read, with
no cache, so a withdrawal takes effect at once on every node (SECURITY.md T67: <= 60 s).
"""

from __future__ import annotations

import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.documents import services, types
from idp.documents.models import Document, DocumentAccess, DocumentGrant
from idp.extensions import db


def requested_types(scopes, client) -> list[types.DocumentType]:
    """The document types a request's scopes ask for that the client is registered for,
    in the registry's order."""
    codes = types.codes_in_scopes(scopes) & set(client.document_types or [])
    return [t for code, t in types.current().items() if code in codes]


def purpose_for(client, code: str) -> str:
    """Why the client needs documents of this type: its registration's purpose for the
    type (`document_purposes`), else its general purpose."""
    return ((client.document_purposes or {}).get(code) or client.purpose or "").strip()


def live_grants(person_id: int, client_id: str, now: int | None = None, *, spent_ok: bool = False) -> dict[str, DocumentGrant]:
    """{type code: grant} of grants neither expired nor withdrawn, nor one-time grants
    already used (unless ``spent_ok``: a file link issued by that one read still works)."""
    now = clock.now() if now is None else now
    query = select(DocumentGrant).where(
        DocumentGrant.person_id == person_id, DocumentGrant.client_id == client_id,
        DocumentGrant.revoked_at.is_(None), DocumentGrant.expires_at > now,
    )
    if not spent_ok:
        query = query.where((DocumentGrant.one_time.is_(False)) | (DocumentGrant.used_at.is_(None)))
    return {g.type_code: g for g in db.session.execute(query).scalars()}


def _same_purpose(row: DocumentGrant, client, code: str) -> bool:
    if row.purpose is None:  # granted before purposes were recorded (migration 0016)
        return code not in (client.document_purposes or {})
    return row.purpose == purpose_for(client, code)


def covers(person_id: int, client, type_codes: set[str], include_file: bool) -> bool:
    """Whether live grants cover these types (and their files when ``include_file``) for
    the purposes the client states now; another purpose needs a new agreement (T65)."""
    if not type_codes:
        return True
    live = live_grants(person_id, client.client_id)
    return all(
        code in live and (live[code].include_file or not include_file) and _same_purpose(live[code], client, code)
        for code in type_codes
    )


def grant(person_id: int, client, type_codes: set[str], include_file: bool, *, one_time: bool = False) -> None:
    """Record (or renew) the citizen's grants for these types, for the client's purposes:
    until `document_grant_ttl`, or ``one_time`` for the first read within the access
    token's lifetime. Commits."""
    if not type_codes:
        return
    try:
        _grant(person_id, client, type_codes, include_file, one_time)
    except IntegrityError:  # two tabs approving at once: the loser renews the winner's rows
        db.session.rollback()
        _grant(person_id, client, type_codes, include_file, one_time)


def _grant(person_id: int, client, type_codes: set[str], include_file: bool, one_time: bool) -> None:
    now = clock.now()
    cfg = current_app.config["IDP"]
    ttl = cfg["access_token_ttl"] if one_time else cfg["document_grant_ttl"]
    client_id = client.client_id
    existing = {
        g.type_code: g for g in db.session.execute(
            select(DocumentGrant).where(DocumentGrant.person_id == person_id, DocumentGrant.client_id == client_id)
        ).scalars()
    }
    for code in sorted(type_codes):
        row = existing.get(code)
        if row is None:
            row = DocumentGrant(person_id=person_id, client_id=client_id, type_code=code)
            db.session.add(row)
        row.include_file = include_file
        row.granted_at = now
        row.expires_at = now + ttl
        row.revoked_at = None
        row.purpose = purpose_for(client, code)
        row.one_time = one_time
        row.used_at = None
    record_event(EventTag.DOCUMENT_GRANTED, actor="citizen", person_id=person_id, client_id=client_id,
                 types=sorted(type_codes), include_file=include_file, expires_at=now + ttl, one_time=one_time)
    db.session.commit()


def list_grants(person_id: int) -> list[DocumentGrant]:
    """The citizen's live grants, by client then type."""
    now = clock.now()
    return list(db.session.execute(
        select(DocumentGrant).where(
            DocumentGrant.person_id == person_id, DocumentGrant.revoked_at.is_(None), DocumentGrant.expires_at > now
        ).order_by(DocumentGrant.client_id, DocumentGrant.type_code)
    ).scalars())


def withdraw(person_id: int, grant_id: int) -> bool:
    """Withdraw one of the citizen's grants; the client's next read of that type is
    refused. Commits. Returns False when the citizen has no such live grant."""
    row = db.session.get(DocumentGrant, grant_id)
    if row is None or row.person_id != person_id or row.revoked_at is not None:
        return False
    row.revoked_at = clock.now()
    record_event(EventTag.DOCUMENT_GRANT_WITHDRAWN, actor="citizen", person_id=person_id, client_id=row.client_id,
                 type=row.type_code)
    db.session.commit()
    return True


def withdraw_client(person_id: int, client_id: str) -> int:
    """Withdraw every live grant of the citizen to one client (the citizen stopped sharing
    with it). The caller commits. Returns how many."""
    return db.session.execute(
        update(DocumentGrant).where(DocumentGrant.person_id == person_id, DocumentGrant.client_id == client_id,
                                    DocumentGrant.revoked_at.is_(None)).values(revoked_at=clock.now())
    ).rowcount or 0


def _iso_time(ts: int | None) -> str | None:
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def release(person_id: int, client_id: str, type_codes: set[str], *, kind: str, client=None,
            files: bool = True) -> list[dict] | None:
    """The attributes of the citizen's documents of ``type_codes`` that live grants allow
    this client to read, with provenance; the read is recorded. Commits. With ``client``,
    grants given for another purpose than the registration states now are left out; a
    one-time grant is spent by this read. ``files=False``: no file links (attributes only).

    Returns None when no requested type has a live grant (the caller answers 403)."""
    now = clock.now()
    live = live_grants(person_id, client_id, now)
    if client is not None:
        # A grant given for one purpose does not cover another the registration now states.
        live = {code: row for code, row in live.items() if _same_purpose(row, client, code)}
    allowed = sorted(code for code in type_codes if code in live and _spend(live[code], now))
    if not allowed:
        return None
    docs = db.session.execute(
        select(Document).where(
            Document.person_id == person_id, Document.type_code.in_(allowed), Document.deleted_at.is_(None)
        ).order_by(Document.type_code, Document.created_at.desc(), Document.id.desc())
    ).scalars().all()
    out: list[dict] = []
    log_items: list[dict] = []
    for doc in docs:
        attrs = services.attributes(doc)
        entry: dict = {
            "type": doc.type_code,
            "attributes": attrs,
            "provenance": doc.provenance,
            "verified": None,
            "expires_on": doc.expires_on.isoformat() if doc.expires_on else None,
            "expired": services.is_expired(doc, now),
        }
        if doc.provenance == "verified":
            entry["verified"] = {"location": doc.verified_location, "time": _iso_time(doc.verified_at)}
        elif doc.provenance == "issued":
            doc_type = types.get(doc.type_code)
            entry["verified"] = {"issuer": doc_type.issuer if doc_type else None, "time": _iso_time(doc.verified_at)}
        if files and live[doc.type_code].include_file and services.file_releasable(doc):
            # The file only through a single-use link, never inline (documents/links.py), and
            # only once scanned clean (T70): a pending or quarantined file gets no link; its
            # attributes are still released.
            from idp.documents import links

            entry["file"] = links.issue(doc, client_id, now)
        out.append(entry)
        log_items.append({"document": doc.public_id, "type": doc.type_code, "attributes": sorted(attrs),
                          "grant": live[doc.type_code].id})
    found = {i["type"] for i in log_items}
    log_items += [{"document": None, "type": code, "attributes": [], "grant": live[code].id}
                  for code in allowed if code not in found]
    db.session.add(DocumentAccess(person_id=person_id, client_id=client_id, kind=kind, items=log_items, created_at=now))
    db.session.commit()
    return out


def _spend(row: DocumentGrant, now: int) -> bool:
    """A one-time grant is spent by its first read, on whichever node sees it first (a
    conditional UPDATE); other grants are not spent. Returns whether this read may go on."""
    if not row.one_time:
        return True
    won = db.session.execute(
        update(DocumentGrant).where(DocumentGrant.id == row.id, DocumentGrant.used_at.is_(None)).values(used_at=now)
    ).rowcount
    return bool(won)


def access_history(person_id: int, limit: int = 200) -> list[DocumentAccess]:
    """The citizen's most recent reads by services, newest first."""
    return list(db.session.execute(
        select(DocumentAccess).where(DocumentAccess.person_id == person_id)
        .order_by(DocumentAccess.created_at.desc(), DocumentAccess.id.desc()).limit(limit)
    ).scalars())
