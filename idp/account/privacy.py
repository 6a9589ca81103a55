"""UU PDP self-service: a copy of everything stored about the citizen (T93, Art. 32) and
deleting the account (T94, Art. 8).

Export (`export_person`): the person record (the NIK decrypted: it is the citizen's own),
security settings without secrets (which factors exist, never seeds, hashes or codes),
consents, documents with their attributes and provenance (files are downloaded one by
one from the account pages), document grants, and the processing record: every read of
documents by a service (`document_access`) and the audit events about the person.

Deletion (`delete_account`), in one transaction: every session ends and every token is
revoked, with a back-channel logout queued for each RP (`sign_out_everywhere`); every
consent and document grant is withdrawn; every document is crypto-erased (its wrapped key
goes; files are removed from the store after the commit); factors, pending codes,
contacts and the password are deleted.

Retention basis: the person row is pseudonymised, not deleted. Audit events are kept
(security accountability, PP 71/2019 Art. 24 on electronic-system logs; SECURITY.md
"Audit"), the document-access record (proof of what each service received, UU PDP
Art. 31), erased document rows (no personal data) and the back-channel queue all refer to
the person's numeric id and `sub` basis (`public_id`), which identify no one once the row
is pseudonymised: name, birth date and place, gender, address, contacts, evidence and
password are cleared; the NIK ciphertext and blind index are replaced by random values,
so the same NIK can register again; the row is locked. No personal data goes into the
`account:person:deleted` event.
"""

from __future__ import annotations

import datetime
import secrets

from sqlalchemy import delete, select, update

from idp import clock, signals
from idp.audit.models import AuditEvent
from idp.audit.services import EventTag, record_event
from idp.authn import services as authn
from idp.authn.models import OobCode, RecoveryCode, TotpFactor, WebAuthnChallenge, WebAuthnCredential, WebAuthnUser
from idp.consent.models import Consent
from idp.counter.models import ActivationCode
from idp.documents import services as documents
from idp.documents import types
from idp.documents.models import Document, DocumentAccess, DocumentDownloadLink, DocumentGrant
from idp.extensions import db
from idp.identity import services as identity
from idp.identity.models import Person
from idp.oidc.models import Client
from idp.recovery.models import Recovery

# Audit data keys never copied into an export, whatever an event holds.
_SECRET_WORDS = ("hash", "secret", "key", "code", "token", "nik")


def _time(ts: int | None) -> str | None:
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _client_names() -> dict[str, str]:
    return dict(db.session.execute(select(Client.client_id, Client.name)).all())


def _document(doc: Document) -> dict:
    entry = {
        "id": doc.public_id, "type": doc.type_code, "created_at": _time(doc.created_at),
        "provenance": doc.provenance,
    }
    if doc.deleted_at is not None:
        entry["erased_at"] = _time(doc.deleted_at)
        return entry
    doc_type = types.get(doc.type_code)
    entry.update({
        "type_name": doc_type.name if doc_type else None,
        "attributes": documents.attributes(doc),
        "verified_location": doc.verified_location,
        "verified_at": _time(doc.verified_at),
        "issuer": doc_type.issuer if doc_type and doc.provenance == "issued" else None,
        "expires_on": doc.expires_on.isoformat() if doc.expires_on else None,
        "file": None,
    })
    if doc.blob_name:
        entry["file"] = {"content_type": doc.content_type, "size": doc.size, "pages": doc.pages,
                         "download": f"/account/documents/{doc.public_id}/file",
                         "virus_check": {"status": doc.scan_status, "checked_at": _time(doc.scanned_at),
                                         "found": doc.scan_signature}}
    return entry


def export_person(person_id: int, *, record: bool = True) -> dict:
    """Everything stored about the person, for the person (T93). Records the export in the
    audit log (unless ``record`` is False: the caller records its own event) and commits.
    No hash, key, seed or code is included."""
    person = db.session.get(Person, person_id)
    names = _client_names()
    now = clock.now()
    totp = db.session.get(TotpFactor, person_id)
    codes = db.session.execute(select(RecoveryCode).where(RecoveryCode.person_id == person_id)).scalars().all()
    passkeys = db.session.execute(
        select(WebAuthnCredential).where(WebAuthnCredential.person_id == person_id).order_by(WebAuthnCredential.id)
    ).scalars().all()
    consents = db.session.execute(
        select(Consent).where(Consent.person_id == person_id).order_by(Consent.granted_at.desc())
    ).scalars().all()
    docs = db.session.execute(
        select(Document).where(Document.person_id == person_id).order_by(Document.created_at.desc(), Document.id.desc())
    ).scalars().all()
    doc_grants = db.session.execute(
        select(DocumentGrant).where(DocumentGrant.person_id == person_id).order_by(DocumentGrant.granted_at.desc())
    ).scalars().all()
    reads = db.session.execute(
        select(DocumentAccess).where(DocumentAccess.person_id == person_id)
        .order_by(DocumentAccess.created_at.desc(), DocumentAccess.id.desc())
    ).scalars().all()
    events = db.session.execute(
        select(AuditEvent).where(AuditEvent.person_id == person_id).order_by(AuditEvent.created_at, AuditEvent.id)
    ).scalars().all()
    out = {
        "exported_at": _time(now),
        "person": {
            "sub_basis": person.public_id,
            "nik": identity.decrypt_nik(person),
            "name": person.name, "birthdate": person.birthdate, "birthplace": person.birthplace,
            "gender": person.gender, "address": person.address,
            "email": person.email, "email_verified": person.email_verified,
            "phone_number": person.phone_number, "phone_number_verified": person.phone_number_verified,
            "identity_level": person.identity_level, "identity_verified_at": _time(person.identity_verified_at),
            "evidence": person.evidence or [],
            "has_password": bool(person.password_hash), "locked": person.locked,
            "created_at": _time(person.created_at), "updated_at": _time(person.updated_at),
        },
        "security": {
            "authenticator_app": None if totp is None or totp.confirmed_at is None
            else {"added_at": _time(totp.confirmed_at)},
            "recovery_codes": {"unused": sum(1 for c in codes if c.used_at is None),
                               "created_at": _time(max((c.created_at for c in codes), default=None))},
            "passkeys": [{"name": p.name, "added_at": _time(p.created_at), "last_used_at": _time(p.last_used_at),
                          "synced": p.backup_eligible} for p in passkeys],
            "sessions": [{"signed_in_at": _time(s.auth_time), "last_seen_at": _time(s.last_seen_at), "acr": s.acr,
                          "amr": s.amr} for s in authn.list_sessions(person_id)],
        },
        "consents": [{"client_id": c.client_id, "client_name": names.get(c.client_id), "scopes": c.scopes,
                      "claims": c.claims, "granted_at": _time(c.granted_at), "expires_at": _time(c.expires_at),
                      "live": c.expires_at > now} for c in consents],
        "documents": [_document(d) for d in docs],
        "document_grants": [{"client_id": g.client_id, "client_name": names.get(g.client_id), "type": g.type_code,
                             "include_file": g.include_file, "granted_at": _time(g.granted_at),
                             "expires_at": _time(g.expires_at), "withdrawn_at": _time(g.revoked_at),
                             "purpose": g.purpose, "one_time": g.one_time, "used_at": _time(g.used_at)}
                            for g in doc_grants],
        "processing_record": {
            "document_reads": [{"client_id": a.client_id, "client_name": names.get(a.client_id), "kind": a.kind,
                                "time": _time(a.created_at), "items": a.items} for a in reads],
            "events": [{"tag": e.tag, "time": _time(e.created_at), "actor": e.actor, "client_id": e.client_id,
                        "client_name": names.get(e.client_id) if e.client_id else None,
                        "data": {k: v for k, v in (e.data or {}).items()
                                 if not any(w in k.lower() for w in _SECRET_WORDS)}} for e in events],
        },
    }
    if record:
        record_event(EventTag.DATA_EXPORTED, actor="citizen", person_id=person_id)
    db.session.commit()
    return out


def delete_account(person_id: int) -> None:
    """Delete the citizen's account (T94), in one transaction; see the module docstring
    for what is kept and why. Commits, then removes the erased documents' files."""
    person = db.session.get(Person, person_id)
    now = clock.now()
    # Tokens revoked and back-channel logouts queued while the person row still names the RP links.
    authn.sign_out_everywhere(person_id)
    consents = db.session.execute(select(Consent).where(Consent.person_id == person_id)).scalars().all()
    for consent in consents:
        db.session.delete(consent)
        signals.consent_withdrawn.send(person_id, client_id=consent.client_id)
        record_event(EventTag.CONSENT_WITHDRAWN, actor="citizen", person_id=person_id, client_id=consent.client_id)
    db.session.execute(
        update(DocumentGrant).where(DocumentGrant.person_id == person_id, DocumentGrant.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.execute(delete(DocumentDownloadLink).where(DocumentDownloadLink.person_id == person_id))
    blobs = [documents.erase(doc) for doc in documents.list_documents(person_id)]
    # Pending activation and recovery codes go with the factors.
    for model in (TotpFactor, RecoveryCode, WebAuthnCredential, WebAuthnChallenge, WebAuthnUser, OobCode,
                  ActivationCode, Recovery):
        db.session.execute(delete(model).where(model.person_id == person_id))
    person.nik_encrypted = identity.encrypt_nik(secrets.token_hex(16))
    person.nik_index = secrets.token_hex(32)
    person.name, person.birthdate, person.birthplace, person.gender, person.address = "", "", None, None, None
    person.email, person.email_verified, person.phone_number, person.phone_number_verified = None, False, None, False
    person.evidence, person.identity_verified_at, person.password_hash = [], None, None
    person.locked, person.updated_at = True, now
    record_event(EventTag.ACCOUNT_DELETED, actor="citizen", person_id=person_id,
                 documents=len(blobs), consents=len(consents))
    db.session.commit()
    for name in blobs:
        if name:
            documents.remove_blob(name)
