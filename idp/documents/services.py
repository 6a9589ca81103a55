"""The citizen's document vault: upload, list, read, delete, orphan purge.

Encryption (SECURITY.md "Data-encryption keys"): each document has its own random
256-bit data key; attributes and file are AES-256-GCM encrypted under it, with the
document's public id and purpose as associated data, and the data key is stored wrapped by
the KEK (keys/envelope.py; `idp keys rewrap` re-wraps it after a KEK rotation). Deleting a
document erases its wrapped key: whatever copy of the file survives (a backup) is noise.

Anti-virus scanning (SECURITY.md T70, documents/scan.py): `upload` scans the bytes to be
stored (the PDF as sent, the re-encoded image) after the content checks and before anything
is written. Infected: refused (InfectedFileError), nothing stored. Scanner unavailable: stored
as `pending`, never released to a service until `scan_stored_files` (`idp documents scan`)
finds it clean; one found infected then is quarantined (kept encrypted, served to no one),
audited, and the citizen told. Scanning before the quota lock keeps a slow scanner from
holding the citizen's row locked.

Crash safety: the encrypted file is written first under a random name, then the row is
committed; any failure in between removes the file, and a file whose row never arrived
(process killed) is removed by `purge_orphan_blobs` after an hour. A document is visible
only once its row is committed, and its row names a file that exists.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.documents import sandbox, scan, storage, types
from idp.documents.models import Document
from idp.extensions import db
from idp.keys import envelope, store

log = logging.getLogger(__name__)
JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
ORPHAN_AGE = 3600


class DocumentError(Exception):
    """Base of vault errors."""


class UnknownTypeError(DocumentError):
    pass


class QuotaExceededError(DocumentError):
    """Too many files or bytes for this citizen (413)."""

    def __init__(self, which: str):
        super().__init__(which)
        self.which = which  # "files" or "bytes"


class InfectedFileError(DocumentError):
    """The virus scanner found ``signature`` in the file (422); nothing was stored."""

    def __init__(self, signature: str):
        super().__init__(signature)
        self.signature = signature


def _cfg():
    return current_app.config["IDP"]


def scanner() -> scan.Scanner:
    """The configured virus scanner (documents.setup builds it at start-up)."""
    ext = current_app.extensions
    if "idp_scanner" not in ext:
        ext["idp_scanner"] = scan.from_config(_cfg())
    return ext["idp_scanner"]


def file_releasable(doc: Document) -> bool:
    """Whether the document's file may go to anyone but its owner (a service through a
    download link, an officer at the counter): it has a live file, scanned clean, or
    skipped while scanning is explicitly off (scan.releasable)."""
    return bool(doc.blob_name) and doc.deleted_at is None and scan.releasable(doc.scan_status,
                                                                              _cfg()["document_scanner"])


def quarantined(doc: Document) -> bool:
    """The file was found infected: served to no one, not even its owner."""
    return doc.scan_status == scan.INFECTED


def blob_store() -> storage.BlobStore:
    """The configured store (one per app; documents.setup builds it at start-up)."""
    ext = current_app.extensions
    if "idp_blob_store" not in ext:
        ext["idp_blob_store"] = storage.from_config(_cfg())
    return ext["idp_blob_store"]


def today(now: int | None = None) -> datetime.date:
    return datetime.datetime.fromtimestamp(clock.now() if now is None else now, JAKARTA).date()


# -- keys ---------------------------------------------------------------------------------------
def _aad(purpose: str, public_id: str) -> bytes:
    return f"document.{purpose}:{public_id}".encode()


def key_aad(doc: Document) -> bytes:
    return _aad("key", doc.public_id)


def _data_key(doc: Document) -> bytes:
    if not doc.data_key_wrapped:
        raise DocumentError("document erased")
    return envelope.decrypt_any(store.keks(), doc.data_key_wrapped, key_aad(doc))


def attributes(doc: Document) -> dict:
    """The document's attributes, decrypted."""
    if not doc.attributes_encrypted:
        return {}
    return json.loads(envelope.decrypt(_data_key(doc), doc.attributes_encrypted, _aad("attributes", doc.public_id)))


def read_file(doc: Document) -> bytes:
    """The document's file, decrypted and checked against its digest. Raises DocumentError
    when it has no file, or storage.BlobStoreError."""
    if not doc.blob_name or doc.deleted_at is not None:
        raise DocumentError("no file")
    data = envelope.decrypt(_data_key(doc), blob_store().get(doc.blob_name), _aad("file", doc.public_id))
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        raise DocumentError("file does not match its digest")
    return data


def is_expired(doc: Document, now: int | None = None) -> bool:
    return doc.expires_on is not None and doc.expires_on < today(now)


# -- queries ------------------------------------------------------------------------------------
def list_documents(person_id: int) -> list[Document]:
    return list(db.session.execute(
        select(Document).where(Document.person_id == person_id, Document.deleted_at.is_(None))
        .order_by(Document.created_at.desc(), Document.id.desc())
    ).scalars())


def get_document(person_id: int, public_id: str) -> Document | None:
    """The citizen's own live document, or None (also for another citizen's id)."""
    if not isinstance(public_id, str) or len(public_id) > 32:
        return None
    doc = db.session.execute(select(Document).where(Document.public_id == public_id)).scalar_one_or_none()
    if doc is None or doc.person_id != person_id or doc.deleted_at is not None:
        return None
    return doc


def usage(person_id: int) -> tuple[int, int]:
    """(files, bytes) the citizen stores."""
    count, total = db.session.execute(
        select(func.count(Document.id), func.coalesce(func.sum(Document.size), 0))
        .where(Document.person_id == person_id, Document.deleted_at.is_(None))
    ).one()
    return int(count), int(total)


# -- changes ------------------------------------------------------------------------------------
def upload(person_id: int, type_code: str, raw_attributes: dict, filename: str, data: bytes) -> Document:
    """Check, encrypt and store a citizen's document. Commits.

    The stored bytes are virus-scanned first (module docstring): the document's
    ``scan_status`` is clean, skipped (scanning off) or pending (scanner unavailable).

    Returns the Document. Raises UnknownTypeError, types.AttributeError_,
    validate.RefusedFileError, validate.FileTooLargeError, InfectedFileError (audited),
    QuotaExceededError, storage.BlobStoreError."""
    from idp.identity.models import Person

    cfg = _cfg()
    doc_type = types.get(type_code)
    if doc_type is None:
        raise UnknownTypeError(str(type_code)[:32])
    attrs = doc_type.clean(raw_attributes)
    checked = sandbox.check(filename, data, max_bytes=cfg["document_max_bytes"],
                            cpu_seconds=cfg["document_parse_cpu_seconds"], memory_mb=cfg["document_parse_memory_mb"])
    # Nothing is written yet: end the read transaction so no connection idles in one while
    # clamd scans (up to clamd_connect_timeout + clamd_timeout).
    db.session.rollback()
    scan_status = _scan_upload(person_id, doc_type.code, checked)
    now = clock.now()
    public_id = secrets.token_urlsafe(16)
    data_key = os.urandom(32)
    name = storage.new_name()
    blob = envelope.encrypt(data_key, checked.data, _aad("file", public_id))
    written = False
    try:
        # Quota under a lock on the citizen's row: two uploads at once cannot both fit
        # into the last free place (PostgreSQL; SQLite serialises writers anyway).
        db.session.execute(select(Person.id).where(Person.id == person_id).with_for_update()).one()
        files, used = usage(person_id)
        if files >= cfg["document_max_files"]:
            raise QuotaExceededError("files")
        if used + len(checked.data) > cfg["document_quota_bytes"]:
            raise QuotaExceededError("bytes")
        blob_store().put(name, blob)
        written = True
        expires = attrs.get("expires_on")
        doc = Document(
            public_id=public_id, person_id=person_id, type_code=doc_type.code,
            data_key_wrapped=envelope.encrypt(store.kek(), data_key, _aad("key", public_id)),
            attributes_encrypted=envelope.encrypt(data_key, json.dumps(attrs).encode(), _aad("attributes", public_id)),
            provenance="uploaded", expires_on=datetime.date.fromisoformat(expires) if expires else None,
            blob_name=name, content_type=checked.content_type, size=len(checked.data), pages=checked.pages,
            pixels=checked.pixels, sha256=hashlib.sha256(checked.data).hexdigest(), created_at=now,
            scan_status=scan_status, scanned_at=now if scan_status == scan.CLEAN else None,
        )
        db.session.add(doc)
        record_event(EventTag.DOCUMENT_UPLOADED, actor="citizen", person_id=person_id, document=public_id,
                     type=doc_type.code, content_type=checked.content_type, size=len(checked.data), scan=scan_status)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if written:
            _remove_blob(name)
        raise
    return doc


def _scan_upload(person_id: int, type_code: str, checked) -> str:
    """The scan status of a new upload's bytes: clean, skipped or pending. Raises
    InfectedFileError, having recorded the refusal (committed: nothing else is stored)."""
    result = scanner().scan(checked.data)
    if result.verdict == scan.INFECTED:
        record_event(EventTag.DOCUMENT_INFECTED_REFUSED, actor="citizen", person_id=person_id, type=type_code,
                     content_type=checked.content_type, size=len(checked.data), signature=result.signature)
        db.session.commit()
        raise InfectedFileError(result.signature or "")
    if result.verdict == scan.ERROR:
        # Kept, never released until scanned: the citizen does not lose the upload.
        log.warning(json.dumps({"event": "document_scan_failed", "reason": result.reason, "detail": result.detail}))
        return scan.PENDING
    return result.verdict  # clean, or skipped by the `none` scanner


def _remove_blob(name: str) -> None:
    try:
        blob_store().delete(name)
    except storage.BlobStoreError as exc:
        # The orphan purge retries; the data key is gone with the row anyway.
        log.warning(json.dumps({"event": "document_blob_not_removed", "error": str(exc)}))


remove_blob = _remove_blob  # for callers that erased documents with `erase`


def erase(doc: Document) -> str | None:
    """Crypto-erase ``doc`` in the current transaction (the caller commits): its wrapped
    key, attributes and file name go. Returns the file's name, to remove from the store
    with `remove_blob` once committed."""
    name = doc.blob_name
    doc.deleted_at = clock.now()
    doc.data_key_wrapped = None
    doc.attributes_encrypted = None
    doc.blob_name = None
    doc.sha256 = None
    return name


def delete(person_id: int, public_id: str) -> bool:
    """Crypto-erase a citizen's document: the wrapped key, attributes and file go; the row
    stays (without personal data) so the access history can still name it. Commits.
    Returns False when the citizen has no such document."""
    doc = get_document(person_id, public_id)
    if doc is None:
        return False
    name = erase(doc)
    record_event(EventTag.DOCUMENT_DELETED, actor="citizen", person_id=person_id, document=public_id, type=doc.type_code)
    db.session.commit()
    if name:
        _remove_blob(name)
    return True


def purge_orphan_blobs(min_age: int = ORPHAN_AGE, batch: int = 500) -> int:
    """Remove stored files no document row names that are older than ``min_age`` seconds
    (left by a process killed between writing the file and committing the row, or by a
    failed removal). Returns the number removed."""
    bs = blob_store()
    removed = 0
    pending: list[str] = []

    def flush() -> int:
        known = set(db.session.execute(select(Document.blob_name).where(Document.blob_name.in_(pending))).scalars())
        n = 0
        for name in pending:
            if name not in known:
                _remove_blob(name)
                n += 1
        pending.clear()
        return n

    for name in bs.names_older_than(min_age):
        pending.append(name)
        if len(pending) >= batch:
            removed += flush()
    if pending:
        removed += flush()
    return removed


# -- virus scanning of stored files (`idp documents scan`) --------------------------------------
class ScanningOffError(DocumentError):
    """`document_scanner` is "none": there is nothing to scan with."""


@dataclass
class ScanRun:
    """What one `scan_stored_files` run did."""

    waiting: int = 0  # live files not releasable for want of a scan when the run started
    scanned: int = 0  # files the scanner gave a verdict on
    clean: int = 0
    infected: list[str] = field(default_factory=list)  # public ids quarantined by this run
    failed: int = 0  # the scanner could not scan this file (too large, limits): left as it was
    unreadable: int = 0  # the stored file could not be read (store, digest): left as it was
    unavailable: bool = False  # the scanner did not answer: the run stopped there
    remaining: int = 0  # live files still pending or skipped after the run

    def to_dict(self) -> dict:
        return {"waiting": self.waiting, "scanned": self.scanned, "clean": self.clean, "infected": len(self.infected),
                "infected_documents": self.infected, "failed": self.failed, "unreadable": self.unreadable,
                "scanner_unavailable": self.unavailable, "remaining": self.remaining}


def _unscanned(statuses) -> tuple:
    return (Document.scan_status.in_(statuses), Document.blob_name.is_not(None), Document.deleted_at.is_(None))


def scan_stored_files(*, actor: str = "cli", rescan_clean: bool = False, batch: int = 100, limit: int | None = None,
                      progress: Callable[[ScanRun], None] | None = None) -> ScanRun:
    """Scan the stored files not yet scanned (pending: the scanner was unavailable at upload;
    skipped: stored while scanning was off, or before it existed), oldest first, ``batch``
    per transaction, at most ``limit``; with ``rescan_clean`` also those scanned clean
    before (new signatures). A clean file becomes releasable. An infected one is
    quarantined: served to no one, audited (`operator:document:quarantined`, by ``actor``),
    and the citizen told on their verified contacts. Infected files are never re-scanned:
    the citizen deletes the document. Each status changes by a conditional UPDATE, so a
    document deleted or re-scanned meanwhile (another node) is left alone.

    Stops when the scanner stops answering (``unavailable``: a file's scan failed and a
    PING then fails too); files it answers an error for (or cannot finish while still
    answering PING), and files that cannot be read, are counted and left as they were. ``progress`` is called after each batch. Returns the ScanRun. Raises
    ScanningOffError."""
    sc = scanner()
    if sc.name == "none":
        raise ScanningOffError()
    statuses = [scan.PENDING, scan.SKIPPED] + ([scan.CLEAN] if rescan_clean else [])
    count = select(func.count(Document.id))
    run = ScanRun(waiting=db.session.scalar(count.where(*_unscanned([scan.PENDING, scan.SKIPPED]))) or 0)
    if not sc.ping():
        run.unavailable = True
    last_id, seen = 0, 0
    while not run.unavailable and (limit is None or seen < limit):
        size = batch if limit is None else min(batch, limit - seen)
        docs = db.session.execute(select(Document).where(Document.id > last_id, *_unscanned(statuses))
                                  .order_by(Document.id).limit(size)).scalars().all()
        if not docs:
            break
        for doc in docs:
            last_id = doc.id
            seen += 1
            try:
                data = read_file(doc)
            except (DocumentError, storage.BlobStoreError) as exc:
                run.unreadable += 1
                log.error(json.dumps({"event": "document_scan_unreadable", "document": doc.public_id, "error": str(exc)}))
                continue
            result = sc.scan(data)
            if result.unavailable and not sc.ping():
                run.unavailable = True
                log.warning(json.dumps({"event": "document_scan_failed", "reason": result.reason, "detail": result.detail}))
                break
            if result.verdict != scan.CLEAN and result.verdict != scan.INFECTED:
                # An error for this file only (clamd still answers): count it and go on, so one
                # file clamd cannot finish never holds back the ones after it.
                run.failed += 1
                log.warning(json.dumps({"event": "document_scan_failed", "document": doc.public_id,
                                        "reason": result.reason, "detail": result.detail}))
                continue
            run.scanned += 1
            recorded = _record_verdict(doc, result, actor)
            # Commit each verdict at once: no row stays locked while the next file is scanned.
            db.session.commit()
            if recorded:
                if result.verdict == scan.INFECTED:
                    run.infected.append(doc.public_id)
                    _tell_quarantined(doc.person_id, doc.type_code)  # after the commit (authn/notices.py)
                else:
                    run.clean += 1
        db.session.commit()
        if progress is not None:
            progress(run)
    db.session.commit()
    run.remaining = db.session.scalar(count.where(*_unscanned([scan.PENDING, scan.SKIPPED]))) or 0
    return run


def _record_verdict(doc: Document, result: scan.ScanResult, actor: str) -> bool:
    """Set the document's scan status from ``result`` unless it changed since it was read
    (the caller commits). Returns whether it was set."""
    from sqlalchemy import update

    now = clock.now()
    won = db.session.execute(
        update(Document).where(Document.id == doc.id, Document.scan_status == doc.scan_status,
                               Document.blob_name == doc.blob_name, Document.deleted_at.is_(None))
        .values(scan_status=result.verdict, scanned_at=now, scan_signature=result.signature)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won == 1 and result.verdict == scan.INFECTED:
        record_event(EventTag.DOCUMENT_QUARANTINED, actor=actor, person_id=doc.person_id, document=doc.public_id,
                     type=doc.type_code, signature=result.signature, previous=doc.scan_status)
    return won == 1


def _tell_quarantined(person_id: int, type_code: str) -> None:
    from idp.authn.notices import notify_person
    from idp.identity.models import Person

    person = db.session.get(Person, person_id)
    if person is None:
        return
    locale = _cfg()["default_locale"]
    doc_type = types.get(type_code)
    name = (doc_type.name if locale == "id" else doc_type.name_en) if doc_type else type_code
    notify_person(person, "document_quarantined", locale=locale, document=name)


# -- provenance: verified at a counter, issued by the registry ---------------------------------
class NoSuchDocumentError(DocumentError):
    """No live document of this citizen with this id (also: another citizen's document)."""


class NotVerifiableError(DocumentError):
    """Only an uploaded document can be verified, by an officer whose level meets the
    type's ``verifiable_at``; ``code`` says which rule refused it."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code  # "provenance" or "level"


class NotInspectedError(DocumentError):
    """The officer did not confirm inspecting the original document."""


class RegistryMismatchError(DocumentError):
    """The population registry holds no record matching the account; nothing stored."""


class RegistryDownError(DocumentError):
    """The registry cannot answer now (``retry_after`` seconds), or cannot return records
    at all (``not_supported``); nothing stored."""

    def __init__(self, retry_after: int = 60, *, not_supported: bool = False):
        super().__init__("not_supported" if not_supported else "unavailable")
        self.retry_after, self.not_supported = retry_after, not_supported


KTP = "ktp"
REGISTRY_ISSUER = "Dukcapil"
# The KTP-el prints the sex in these words; the registry gives OIDC's male/female.
_KTP_GENDER = {"male": "LAKI-LAKI", "female": "PEREMPUAN"}


def _citizen_for_officer(officer, raw_nik: str):
    """The account behind a NIK for a counter action. Raises InvalidNIKError,
    counter.SelfServiceError, NoSuchDocumentError (no account)."""
    from idp.counter import services as counter
    from idp.identity import services as identity

    person = identity.get_person_by_nik(raw_nik)
    if person is not None and person.id == officer.person_id:
        raise counter.SelfServiceError()
    if person is None:
        raise NoSuchDocumentError("no account")
    return person


def counter_documents(officer, raw_nik: str) -> list[Document]:
    """The citizen's live documents, for the counter page an officer reaches after an
    audited look-up. Returns [] when the NIK has no account (or is the officer's own)."""
    from idp.counter import services as counter
    from idp.identity.nik import InvalidNIKError

    try:
        person = _citizen_for_officer(officer, raw_nik)
    except (NoSuchDocumentError, counter.SelfServiceError, InvalidNIKError):
        return []
    return list_documents(person.id)


class FileWithheldError(DocumentError):
    """The file is not releasable (scan status ``status``: pending, infected, or skipped
    while scanning is on)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def open_for_officer(officer, raw_nik: str, public_id: str, reason: str, *, remote_addr: str) -> tuple[Document, bytes]:
    """The file of a citizen's document, for the officer to compare with the original;
    audited (`counter:document:opened`). Returns (document, bytes). Raises
    counter.InvalidReasonError, InvalidNIKError, counter.SelfServiceError,
    NoSuchDocumentError (also when it has no file), FileWithheldError (not scanned clean),
    DocumentError, storage.BlobStoreError."""
    from idp.counter import services as counter

    reason = counter.clean_reason(reason)
    person = _citizen_for_officer(officer, raw_nik)
    doc = get_document(person.id, public_id)
    if doc is None or not doc.blob_name:
        raise NoSuchDocumentError(public_id[:32] if isinstance(public_id, str) else "")
    if not file_releasable(doc):
        # Not yet scanned clean, or quarantined: not onto a counter workstation either (T70).
        raise FileWithheldError(doc.scan_status)
    data = read_file(doc)
    counter.audit_action(EventTag.COUNTER_DOCUMENT_OPENED, officer, person.id, reason, remote_addr, document=doc.public_id,
                   type=doc.type_code)
    db.session.commit()
    return doc, data


def verify_document(officer, raw_nik: str, public_id: str, *, level: int, inspected: bool, reason: str,
                    remote_addr: str, now: int | None = None) -> Document:
    """Mark a citizen's uploaded document `verified`: the officer inspected the original
    at the counter and it agrees with the stored attributes as they are (attributes are
    never corrected here: verify as is, or refuse). Records on the document the officer
    (``verified_by`` = ``officer:<person id>@<location code>``), the location's name and
    the time, with the audit event `counter:document:verified` (officer, location, citizen,
    reason) in the same transaction. Commits.

    ``level`` is the assurance level the officer acts at (the counter session's acr level:
    3 for an officer verified in person using a second factor); it must meet the type's
    ``verifiable_at``. Returns the document. Raises counter.InvalidReasonError,
    InvalidNIKError, counter.SelfServiceError, NoSuchDocumentError, NotInspectedError,
    NotVerifiableError."""
    from idp.counter import services as counter

    reason = counter.clean_reason(reason)
    person = _citizen_for_officer(officer, raw_nik)
    doc = get_document(person.id, public_id)
    if doc is None:
        raise NoSuchDocumentError(public_id[:32] if isinstance(public_id, str) else "")
    doc_type = types.get(doc.type_code)
    if doc.provenance != "uploaded":
        raise NotVerifiableError("provenance")
    if doc_type is None or level < doc_type.verifiable_at:
        raise NotVerifiableError("level")
    if not inspected:
        raise NotInspectedError()
    now = clock.now() if now is None else now
    # Only one officer wins when two verify at once (the row changes only while uploaded).
    from sqlalchemy import update

    won = db.session.execute(update(Document).where(Document.id == doc.id, Document.provenance == "uploaded").values(
        provenance="verified", verified_by=f"officer:{officer.person_id}@{officer.location_code}"[:128],
        verified_location=officer.location_name[:100], verified_at=now,
    )).rowcount
    if won != 1:
        db.session.rollback()
        raise NotVerifiableError("provenance")
    counter.audit_action(EventTag.COUNTER_DOCUMENT_VERIFIED, officer, person.id, reason, remote_addr, document=doc.public_id,
                   type=doc.type_code, location_name=officer.location_name, level=level)
    db.session.commit()
    db.session.refresh(doc)
    return doc


def refuse_document(officer, raw_nik: str, public_id: str, *, reason: str, remote_addr: str) -> Document:
    """The officer refuses to verify a document (the original differs, or was not shown):
    the document stays `uploaded`; audited (`counter:document:refused`). Commits. Raises as
    verify_document, except the level and inspection rules."""
    from idp.counter import services as counter

    reason = counter.clean_reason(reason)
    person = _citizen_for_officer(officer, raw_nik)
    doc = get_document(person.id, public_id)
    if doc is None:
        raise NoSuchDocumentError(public_id[:32] if isinstance(public_id, str) else "")
    counter.audit_action(EventTag.COUNTER_DOCUMENT_REFUSED, officer, person.id, reason, remote_addr, document=doc.public_id,
                   type=doc.type_code)
    db.session.commit()
    return doc


def issue_from_registry(person, *, officer=None, reason: str | None = None, remote_addr: str | None = None) -> Document:
    """Store the citizen's KTP as issued by the population registry (provenance `issued`,
    issuer Dukcapil): attributes only, no file. The registry must hold a record matching
    the account's NIK, name and date of birth (registry.verify, audited); the attributes
    come from the record. A KTP issued earlier is replaced (crypto-erased) in the same
    transaction. Called by the citizen (``officer`` None) or at the counter (``officer``
    and ``reason``: also audited `counter:document:issued`). Commits.

    Returns the document. Raises UnknownTypeError (no ``ktp`` type configured),
    RegistryMismatchError, RegistryDownError, QuotaExceededError, and at the counter
    counter.InvalidReasonError, counter.SelfServiceError. Nothing is stored on a raise."""
    from idp.counter import services as counter
    from idp.identity.models import Person
    from idp.identity.services import decrypt_nik
    from idp.registry import services as registry
    from idp.registry.base import RecordNotSupportedError, RegistryUnavailableError, VerificationRequest

    if officer is not None:
        reason = counter.clean_reason(reason)
        if person.id == officer.person_id:
            raise counter.SelfServiceError()
    doc_type = types.get(KTP)
    if doc_type is None:
        raise UnknownTypeError(KTP)
    actor = f"officer:{officer.person_id}" if officer is not None else "citizen"
    nik = decrypt_nik(person)
    try:
        # First the record (the http adapter refuses at once, without a request), then the
        # audited check that the account is the registry's person.
        record = registry.fetch_record(nik)
        result = registry.verify(VerificationRequest(nik=nik, full_name=person.name,
                                                     birthdate=datetime.date.fromisoformat(person.birthdate)),
                                 actor=actor, person_id=person.id)
    except RecordNotSupportedError:
        raise RegistryDownError(not_supported=True) from None
    except RegistryUnavailableError as exc:
        raise RegistryDownError(exc.retry_after) from None
    if record is None or not result.matched:
        raise RegistryMismatchError()
    attrs = doc_type.clean({
        "number": record.nik, "holder_name": record.full_name, "birth_place": record.birthplace or "",
        "birth_date": record.birthdate.isoformat(), "gender": _KTP_GENDER.get(record.gender or "", ""),
    })
    now = clock.now()
    public_id = secrets.token_urlsafe(16)
    data_key = os.urandom(32)
    try:
        db.session.execute(select(Person.id).where(Person.id == person.id).with_for_update()).one()
        earlier = db.session.execute(select(Document).where(
            Document.person_id == person.id, Document.type_code == doc_type.code, Document.provenance == "issued",
            Document.deleted_at.is_(None))).scalars().all()
        for old in earlier:
            old.deleted_at, old.data_key_wrapped, old.attributes_encrypted = now, None, None
        files, _ = usage(person.id)
        if files - len(earlier) >= _cfg()["document_max_files"]:
            raise QuotaExceededError("files")
        doc = Document(
            public_id=public_id, person_id=person.id, type_code=doc_type.code,
            data_key_wrapped=envelope.encrypt(store.kek(), data_key, _aad("key", public_id)),
            attributes_encrypted=envelope.encrypt(data_key, json.dumps(attrs).encode(), _aad("attributes", public_id)),
            provenance="issued", verified_by=f"registry:{result.registry}"[:128], verified_location=None,
            verified_at=now, expires_on=None, blob_name=None, content_type=None, size=0, created_at=now,
        )
        db.session.add(doc)
        record_event(EventTag.DOCUMENT_ISSUED, actor=actor, person_id=person.id, document=public_id, type=doc_type.code,
                     issuer=REGISTRY_ISSUER, registry=result.registry, replaced=[d.public_id for d in earlier])
        if officer is not None:
            counter.audit_action(EventTag.COUNTER_DOCUMENT_ISSUED, officer, person.id, reason, remote_addr or "",
                           document=public_id, type=doc_type.code)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return doc


def issue_at_counter(officer, raw_nik: str, reason: str, *, remote_addr: str) -> Document:
    """issue_from_registry for the citizen an officer looked up. Raises as it, and
    InvalidNIKError, NoSuchDocumentError (the NIK has no account)."""
    from idp.counter import services as counter

    counter.clean_reason(reason)
    return issue_from_registry(_citizen_for_officer(officer, raw_nik), officer=officer, reason=reason,
                               remote_addr=remote_addr)


def evidence_documents(person_id: int, type_code: str = KTP) -> list[Document]:
    """The citizen's live `verified` and `issued` documents of a type, newest first: the
    evidence OIDC4IDA `verified_claims` may cite (oidc/claims.py)."""
    return list(db.session.execute(
        select(Document).where(Document.person_id == person_id, Document.type_code == type_code,
                               Document.provenance.in_(("verified", "issued")), Document.deleted_at.is_(None))
        .order_by(Document.created_at.desc(), Document.id.desc())
    ).scalars())
