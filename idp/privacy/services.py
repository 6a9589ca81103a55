"""Operator privacy tooling (UU PDP): who a breach touched, the notices and the agency
report Art. 46 asks for within 3×24 hours (SECURITY.md T96), and the manual path of the
right of access, Art. 32 (T93).

Affected citizens (`affected`) are computed from what the provider keeps, over the window
``since <= t < until`` and, with ``client_id``, only from records that name that client:

``documents``  every read of documents by a service (``document_access``, kept for good)
               and every document an MPP officer opened, verified or issued (audit log);
``tokens``     every access and refresh token issued; the personal data category is what
               the token releases (its scopes and requested claims, OIDC Core §5.4, §5.5);
``contacts``   every one-time code and security notice that went to an e-mail address or
               phone number: the SMS/e-mail gateway saw the contact. Not tied to a client;
``events``     audit events of the tags asked for (``account:login:success``, or a prefix
               such as ``counter:*``), e.g. everyone who signed in while a page was tampered.

Tokens and one-time codes are deleted some time after they expire (`idp purge`); for older
windows the audit log and the document reads remain, and `coverage()` says so.

Each source is read in keyset-paginated batches ordered by person, and the sources are
merged (heapq.merge) one person at a time, so memory does not grow with the number of
rows or citizens, and no cursor stays open across the commits of the notice run.
Citizens are named by their numeric person id only: never a NIK, a name or a contact.

Notices (`run_notices`) go to every verified contact of each affected citizen (as the
security notices of authn/notices.py: an unverified address may be someone else's), as
the ``breach_notice`` letter of idp/notify, in both languages. One
``privacy:breach:notified`` audit event per citizen and incident makes a re-run skip
whoever was already told; a run that stops between delivering and that event's commit
tells that citizen again on the next run (at least once, never silently never).
"""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import io
import itertools
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import and_, func, or_, select

from idp import clock
from idp.audit.models import AuditEvent
from idp.audit.services import EventTag, record_event
from idp.authn.models import OobCode
from idp.authn.notices import verified_contacts
from idp.counter.models import ActivationCode
from idp.documents import types as document_types
from idp.documents.models import DocumentAccess
from idp.extensions import db
from idp.identity import services as identity
from idp.identity.models import Person
from idp.identity.nik import normalize_nik
from idp.notify import services as notify
from idp.oidc.claims import SCOPE_CLAIMS, requested_claim_names
from idp.oidc.models import AccessToken, RefreshToken
from idp.recovery.models import Recovery

SOURCES = ("documents", "tokens", "contacts")
NOTICE_KIND = "breach_notice"
SHORT_NOTICE_KIND = "breach_notice_short"
# UU PDP Art. 46(1): written notice at the latest 3 × 24 hours after the breach is known.
NOTICE_DEADLINE = 3 * 24 * 3600
DEFAULT_BATCH = 1000
WIB = datetime.timezone(datetime.timedelta(hours=7), "WIB")
INCIDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# A free text that goes to every citizen, the agency or the audit log must not carry a NIK.
_NIK_LIKE = re.compile(r"(?<!\d)\d{16}(?!\d)")

# Personal data categories: code -> (Bahasa Indonesia, English). Order = order in notices.
CATEGORIES: dict[str, tuple[str, str]] = {
    "nik": ("NIK (Nomor Induk Kependudukan)", "NIK (national identity number)"),
    "name": ("nama lengkap", "full name"),
    "birthdate": ("tanggal lahir", "date of birth"),
    "gender": ("jenis kelamin", "gender"),
    "address": ("alamat", "address"),
    "email": ("alamat e-mail", "e-mail address"),
    "phone_number": ("nomor telepon seluler", "mobile phone number"),
    "contact": ("alamat e-mail dan/atau nomor telepon", "e-mail address and/or phone number"),
    "identity_verification": ("data verifikasi identitas (Dukcapil/MPP)", "identity verification data (Dukcapil/MPP)"),
    "documents": ("dokumen", "documents"),
    "account_identifier": ("pengenal akun di layanan penerima", "account identifier at the receiving service"),
    "sign_in": ("riwayat masuk (waktu, alamat IP, metode)", "sign-in record (time, IP address, method)"),
    "consent": ("persetujuan berbagi data", "data-sharing consents"),
    "account_security": ("pengaturan keamanan akun", "account security settings"),
    "account_activity": ("riwayat aktivitas akun", "account activity record"),
}
_CLAIM_CATEGORY = {
    "nik": "nik", "name": "name", "birthdate": "birthdate", "gender": "gender", "address": "address",
    "email": "email", "email_verified": "email", "phone_number": "phone_number", "phone_number_verified": "phone_number",
}
# Audit tags whose event sent a code or a notice to the citizen's contacts (idp/notify).
_CONTACT_TAGS = {
    EventTag.CONTACT_CHANGED.value, EventTag.REGISTRATION_COMPLETED.value, EventTag.REGISTRATION_DUPLICATE.value,
    EventTag.PASSWORD_RESET.value, EventTag.MFA_LOCKED.value, EventTag.TOTP_ADDED.value, EventTag.PASSKEY_ADDED.value,
}
_DOCUMENT_TAG_PREFIX = "counter:document:"
# Category of an event asked for with --event, by tag prefix (first match wins).
_EVENT_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("account:login:", "sign_in"), ("account:session:", "sign_in"), ("authn:passkey:used", "sign_in"),
    ("account:mfa:failure", "sign_in"), ("account:password:locked_out", "sign_in"),
    ("account:consent:", "consent"),
    ("account:contact:", "contact"),
    ("registry:verify:", "identity_verification"), ("counter:identity:", "identity_verification"),
    ("counter:citizen:", "identity_verification"), ("counter:account:", "identity_verification"),
    ("citizen:activation:", "identity_verification"), ("citizen:registration:", "identity_verification"),
    ("account:totp:", "account_security"), ("account:passkey:", "account_security"),
    ("account:recovery_codes:", "account_security"), ("account:password:", "account_security"),
    ("account:mfa:", "account_security"), ("citizen:recovery:", "account_security"),
    ("counter:credentials:", "account_security"), ("counter:activation_code:", "contact"),
)


class BreachInputError(ValueError):
    """An option of the drill is unusable; ``str()`` says which and why (never echoes a NIK)."""


class NoAccountError(LookupError):
    """No account for the NIK or person id the operator gave."""


# -- the query ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BreachScope:
    """What the incident touched: the window ``since <= t < until`` (epoch seconds), an
    optional client, the data sources, and audit tags (exact, or a prefix ending in ``*``)."""

    since: int
    until: int
    client_id: str | None = None
    sources: frozenset[str] = frozenset(SOURCES)
    events: tuple[str, ...] = ()

    def __post_init__(self):
        if self.until <= self.since:
            raise BreachInputError("--until must be later than --since")
        unknown = set(self.sources) - set(SOURCES)
        if unknown:
            raise BreachInputError(f"--data: unknown source {min(unknown)!r}")
        known = [t.value for t in EventTag]
        for pattern in self.events:
            if not any(_tag_matches(tag, (pattern,)) for tag in known):
                raise BreachInputError(f"--event: {pattern!r} matches no audit event tag")
        if not self.sources and not self.events:
            raise BreachInputError("nothing to search: give --data or --event")

    def to_dict(self) -> dict:
        return {"since": iso(self.since), "until": iso(self.until), "client_id": self.client_id,
                "data": sorted(self.sources), "events": list(self.events)}


def _tag_matches(tag: str, patterns: Iterable[str]) -> bool:
    return any(tag.startswith(p[:-1]) if p.endswith("*") else tag == p for p in patterns)


def check_text(name: str, value: str, max_length: int = 2000) -> str:
    """A free text of the operator (what, how, remediation, contact, reason), stripped.
    Raises BreachInputError when empty, too long, or holding a NIK-like number."""
    value = (value or "").strip()
    if not value:
        raise BreachInputError(f"--{name}: must not be empty")
    if len(value) > max_length:
        raise BreachInputError(f"--{name}: at most {max_length} characters")
    if _NIK_LIKE.search(re.sub(r"(?<=\d)[ .-](?=\d)", "", value)):
        raise BreachInputError(f"--{name}: must not contain a NIK or another 16-digit number")
    return value


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wib(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts, WIB).strftime("%Y-%m-%d %H:%M WIB")


def parse_time(value: str) -> int:
    """ISO 8601 with an explicit offset (``2026-03-01T08:00+07:00``, ``…Z``) or epoch
    seconds. A time without an offset is refused: a 7-hour slip silently changes who is
    affected."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BreachInputError(f"{value!r}: not an ISO 8601 time (e.g. 2026-03-01T08:00+07:00)") from None
    if parsed.tzinfo is None:
        raise BreachInputError(f"{value!r}: give the offset, e.g. +07:00 for WIB or Z for UTC")
    return int(parsed.timestamp())


# -- hits: one record that shows a citizen was touched -------------------------------------------
class Hit(NamedTuple):
    person_id: int
    at: int
    sources: frozenset[str]
    client_id: str | None
    categories: frozenset[str]


def _keyset(stmt, person_col, id_col, batch: int) -> Iterator[Any]:
    """Rows of ``stmt`` (selecting person id and row id first) in (person, id) order, one
    short query per batch: no long-lived cursor, so commits in between are harmless."""
    after = None
    while True:
        q = stmt
        if after is not None:
            # The leading `person >= last` lets PostgreSQL seek in the person index instead of
            # rescanning it from the start on every batch (quadratic on millions of rows).
            q = q.where(person_col >= after[0],
                        or_(person_col > after[0], and_(person_col == after[0], id_col > after[1])))
        rows = db.session.execute(q.order_by(person_col, id_col).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1][0], rows[-1][1])


def _window(col, scope: BreachScope, shift: int = 0):
    return and_(col >= scope.since + shift, col < scope.until + shift)


def _document_hits(scope: BreachScope, batch: int) -> Iterator[Hit]:
    D = DocumentAccess
    stmt = select(D.person_id, D.id, D.client_id, D.kind, D.items, D.created_at).where(_window(D.created_at, scope))
    if scope.client_id:
        stmt = stmt.where(D.client_id == scope.client_id)
    for row in _keyset(stmt, D.person_id, D.id, batch):
        cats = set()
        for item in row.items or []:
            # An item without a document: the grant existed but nothing of that type was there.
            if isinstance(item, dict) and item.get("document") and item.get("type"):
                cats.add(f"document:{item['type']}")
                if row.kind == "file" or item.get("file"):
                    cats.add(f"document_file:{item['type']}")
        if cats:
            yield Hit(row.person_id, row.created_at, frozenset({"documents"}), row.client_id, frozenset(cats))


def token_categories(scope: str, claims: Any) -> set[str]:
    """What a token with these scopes and requested claims releases (claims.release)."""
    scopes = set((scope or "").split())
    names: set[str] = set()
    for s in scopes:
        names.update(SCOPE_CLAIMS.get(s, ()))
    verified = False
    if isinstance(claims, dict):
        try:
            names |= requested_claim_names(claims)
            verified = any(claims.get(m, {}).get("verified_claims") for m in ("userinfo", "id_token"))
        except (AttributeError, KeyError, TypeError):  # a malformed stored value: scopes only
            pass
    if "nik" not in scopes:  # claims.release never gives the NIK without its scope
        names.discard("nik")
    cats = {"account_identifier"} | {_CLAIM_CATEGORY[n] for n in names if n in _CLAIM_CATEGORY}
    if verified:
        cats.add("identity_verification")
    cats |= {f"document:{s[len(document_types.SCOPE_PREFIX):]}" for s in scopes
             if s.startswith(document_types.SCOPE_PREFIX)}
    return cats


def _token_hits(model, scope: BreachScope, batch: int) -> Iterator[Hit]:
    # A token counts when it was usable during the window: issued before its end and not
    # expired before its start (one issued just before `since` is still a live credential).
    stmt = select(model.person_id, model.id, model.client_id, model.scope, model.claims, model.issued_at).where(
        model.person_id.is_not(None), model.issued_at < scope.until, model.expires_at > scope.since)
    if scope.client_id:
        stmt = stmt.where(model.client_id == scope.client_id)
    for row in _keyset(stmt, model.person_id, model.id, batch):
        yield Hit(row.person_id, row.issued_at, frozenset({"tokens"}), row.client_id,
                  frozenset(token_categories(row.scope, row.claims)))


def _channel_category(channel: str | None) -> str | None:
    if channel == "email":
        return "email"
    if channel in ("sms", "whatsapp"):
        return "phone_number"
    return None


def _code_hits(scope: BreachScope, batch: int) -> Iterator[Iterator[Hit]]:
    """One stream per table of codes sent to a contact: one-time codes (sent `otp_ttl`
    before they expire), password resets, activation codes (not the printed ones)."""
    ttl = current_app.config["IDP"]["otp_ttl"]

    def hits(stmt, person_col, id_col, shift=0):
        for row in _keyset(stmt, person_col, id_col, batch):
            category = _channel_category(row.channel)
            if category:
                yield Hit(row.person_id, row.at - shift, frozenset({"contacts"}), None, frozenset({category}))

    yield hits(select(OobCode.person_id, OobCode.id, OobCode.channel, OobCode.expires_at.label("at"))
               .where(_window(OobCode.expires_at, scope, ttl)), OobCode.person_id, OobCode.id, ttl)
    yield hits(select(Recovery.person_id, Recovery.id, Recovery.channel, Recovery.created_at.label("at"))
               .where(Recovery.person_id.is_not(None), Recovery.codes_sent > 0, _window(Recovery.created_at, scope)),
               Recovery.person_id, Recovery.id)
    yield hits(select(ActivationCode.person_id, ActivationCode.id, ActivationCode.channel,
                      ActivationCode.created_at.label("at")).where(_window(ActivationCode.created_at, scope)),
               ActivationCode.person_id, ActivationCode.id)


def _event_category(tag: str, data: dict) -> str:
    if tag == EventTag.CONTACT_CHANGED.value:
        return "email" if data.get("contact") == "email" else "phone_number"
    if tag.startswith((_DOCUMENT_TAG_PREFIX, "account:document")):
        return f"document:{data['type']}" if data.get("type") else "documents"
    for prefix, category in _EVENT_CATEGORIES:
        if tag.startswith(prefix):
            return category
    return "account_activity"


def _audit_hits(scope: BreachScope, batch: int) -> Iterator[Hit]:
    """Audit events: the tags asked for, plus the document and contact tags of those sources."""
    conditions = []
    for pattern in scope.events:
        conditions.append(AuditEvent.tag.startswith(pattern[:-1], autoescape=True) if pattern.endswith("*")
                          else AuditEvent.tag == pattern)
    if "documents" in scope.sources:
        conditions.append(AuditEvent.tag.startswith(_DOCUMENT_TAG_PREFIX, autoescape=True))
    contacts = "contacts" in scope.sources and not scope.client_id
    if contacts:
        conditions.append(AuditEvent.tag.in_(sorted(_CONTACT_TAGS)))
    if not conditions:
        return
    stmt = select(AuditEvent.person_id, AuditEvent.id, AuditEvent.tag, AuditEvent.client_id, AuditEvent.data,
                  AuditEvent.created_at).where(AuditEvent.person_id.is_not(None), _window(AuditEvent.created_at, scope),
                                               or_(*conditions))
    if scope.client_id:
        stmt = stmt.where(AuditEvent.client_id == scope.client_id)
    for row in _keyset(stmt, AuditEvent.person_id, AuditEvent.id, batch):
        data = row.data if isinstance(row.data, dict) else {}
        sources, cats = set(), set()
        if _tag_matches(row.tag, scope.events):
            sources.add("events")
            cats.add(_event_category(row.tag, data))
        if "documents" in scope.sources and row.tag.startswith(_DOCUMENT_TAG_PREFIX):
            sources.add("documents")
            cats.add(_event_category(row.tag, data))
        if contacts and row.tag in _CONTACT_TAGS:
            sources.add("contacts")
            cats.add(_event_category(row.tag, data) if row.tag == EventTag.CONTACT_CHANGED.value else "contact")
        yield Hit(row.person_id, row.created_at, frozenset(sources), row.client_id, frozenset(cats))


def _streams(scope: BreachScope, batch: int) -> list[Iterator[Hit]]:
    streams: list[Iterator[Hit]] = [_audit_hits(scope, batch)]
    if "documents" in scope.sources:
        streams.append(_document_hits(scope, batch))
    if "tokens" in scope.sources:
        streams += [_token_hits(AccessToken, scope, batch), _token_hits(RefreshToken, scope, batch)]
    if "contacts" in scope.sources and not scope.client_id:  # codes name no client
        streams += list(_code_hits(scope, batch))
    return streams


# -- affected citizens ---------------------------------------------------------------------------
@dataclasses.dataclass
class Affected:
    """One citizen the incident touched: person id only, never a NIK, name or contact."""

    person_id: int
    categories: set[str]
    sources: set[str]
    clients: set[str]
    first_at: int
    last_at: int
    records: int

    def to_dict(self) -> dict:
        return {"person_id": self.person_id, "categories": sort_categories(self.categories),
                "sources": sorted(self.sources), "clients": sorted(self.clients),
                "first_at": iso(self.first_at), "last_at": iso(self.last_at), "records": self.records}


def affected(scope: BreachScope, *, batch: int = DEFAULT_BATCH) -> Iterator[Affected]:
    """Every citizen the incident touched, in person id order, one at a time."""
    merged = heapq.merge(*_streams(scope, batch), key=lambda h: h.person_id)
    for person_id, group in itertools.groupby(merged, key=lambda h: h.person_id):
        a = Affected(person_id, set(), set(), set(), 2**62, 0, 0)
        for hit in group:
            a.categories |= hit.categories
            a.sources |= hit.sources
            if hit.client_id:
                a.clients.add(hit.client_id)
            a.first_at, a.last_at = min(a.first_at, hit.at), max(a.last_at, hit.at)
            a.records += 1
        yield a


def _category_rank(code: str) -> tuple[int, str]:
    order = list(CATEGORIES)
    base = code.split(":", 1)[0]
    if base in ("document", "document_file"):
        return order.index("documents"), code
    return (order.index(code) if code in order else len(order)), code


def sort_categories(codes: Iterable[str]) -> list[str]:
    return sorted(set(codes), key=_category_rank)


def category_labels(codes: Iterable[str], locale: str) -> list[str]:
    """Human names of categories, in Bahasa Indonesia (``id``) or English (``en``)."""
    en = locale == "en"
    out = []
    for code in sort_categories(codes):
        kind, _, type_code = code.partition(":")
        if kind in ("document", "document_file") and type_code:
            doc_type = document_types.get(type_code)
            name = (doc_type.name_en if en else doc_type.name) if doc_type else type_code
            if kind == "document":
                out.append(f"document: {name}" if en else f"dokumen: {name}")
            else:
                out.append(f"document file (scan): {name}" if en else f"berkas (pindaian) dokumen: {name}")
        elif code in CATEGORIES:
            out.append(CATEGORIES[code][1 if en else 0])
        else:
            out.append(code)
    return out


@dataclasses.dataclass
class Summary:
    citizens: int = 0
    records: int = 0
    categories: Counter = dataclasses.field(default_factory=Counter)
    sources: Counter = dataclasses.field(default_factory=Counter)
    clients: Counter = dataclasses.field(default_factory=Counter)
    first_at: int | None = None
    last_at: int | None = None

    def add(self, a: Affected) -> None:
        self.citizens += 1
        self.records += a.records
        self.categories.update(a.categories)
        self.sources.update(a.sources)
        self.clients.update(a.clients)
        self.first_at = a.first_at if self.first_at is None else min(self.first_at, a.first_at)
        self.last_at = a.last_at if self.last_at is None else max(self.last_at, a.last_at)

    def to_dict(self) -> dict:
        return {
            "citizens": self.citizens, "records": self.records,
            "categories": {c: self.categories[c] for c in sort_categories(self.categories)},
            "sources": dict(sorted(self.sources.items())), "clients": dict(sorted(self.clients.items())),
            "first_at": iso(self.first_at), "last_at": iso(self.last_at),
        }


def coverage(scope: BreachScope) -> list[str]:
    """Notes on what the database can no longer show for this window (purged rows)."""
    notes = []
    checks = []
    if "tokens" in scope.sources:
        checks += [("access tokens", AccessToken.issued_at), ("refresh tokens", RefreshToken.issued_at)]
    if "contacts" in scope.sources and not scope.client_id:
        checks += [("one-time codes", OobCode.expires_at - current_app.config["IDP"]["otp_ttl"]),
                   ("password resets", Recovery.created_at)]
    for label, col in checks:
        oldest = db.session.execute(select(func.min(col))).scalar()
        if oldest is None or oldest > scope.since:
            kept = f"the oldest kept is from {iso(oldest)}" if oldest is not None else "none kept"
            notes.append(f"{label}: {kept}; expired ones are deleted by `idp purge`, so for the part of the window "
                         "before that only the audit log and the document reads count")
    if "contacts" in scope.sources and scope.client_id:
        notes.append("contacts: codes and notices name no client; not searched with --client")
    return notes


def assess(scope: BreachScope, *, batch: int = DEFAULT_BATCH, actor: str = "cli", incident: str | None = None,
           on_citizen: Callable[[Affected], None] | None = None,
           progress: Callable[[int], None] | None = None) -> Summary:
    """Walk the affected citizens once: ``on_citizen`` sees each, ``progress(n)`` every
    ``batch`` citizens. Records `privacy:breach:assessed` (no person in it) and commits.
    Returns the Summary."""
    summary = Summary()
    for a in affected(scope, batch=batch):
        summary.add(a)
        if on_citizen:
            on_citizen(a)
        if progress and summary.citizens % batch == 0:
            progress(summary.citizens)
    record_event(EventTag.BREACH_ASSESSED, actor=actor, client_id=scope.client_id, incident=incident,
                 **_scope_data(scope), citizens=summary.citizens)
    db.session.commit()
    return summary


def _scope_data(scope: BreachScope) -> dict:
    return {"since": scope.since, "until": scope.until, "data": sorted(scope.sources), "events": list(scope.events)}


# -- notices (UU PDP Art. 46) ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Incident:
    id: str
    detected_at: int
    what: str
    how: str
    remediation: str
    contact: str

    def __post_init__(self):
        if not INCIDENT_RE.fullmatch(self.id or ""):
            raise BreachInputError("--incident: 1-64 letters, digits, '.', '_', ':' or '-'")
        if _NIK_LIKE.search(re.sub(r"(?<=\d)[.:_-](?=\d)", "", self.id)):
            raise BreachInputError("--incident: must not contain a NIK or another 16-digit number")
        for name in ("what", "how", "remediation", "contact"):
            object.__setattr__(self, name, check_text(name, getattr(self, name)))

    @property
    def deadline(self) -> int:
        return self.detected_at + NOTICE_DEADLINE


@dataclasses.dataclass
class NoticeRun:
    incident: Incident
    scope: BreachScope
    sent: bool
    summary: Summary = dataclasses.field(default_factory=Summary)
    already_notified: int = 0  # told by an earlier run for this incident
    to_notify: int = 0  # would be told (dry run) / were attempted (--send)
    notified: int = 0  # told by this run
    failed: int = 0  # every contact refused the message; a re-run tries again
    unreachable: int = 0  # no verified contact: a letter or a counter visit is needed
    channels: Counter = dataclasses.field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "incident": self.incident.id, "dry_run": not self.sent, **self.summary.to_dict(),
            "already_notified": self.already_notified, "to_notify": self.to_notify, "notified": self.notified,
            "failed": self.failed, "unreachable": self.unreachable, "channels": dict(sorted(self.channels.items())),
            "notified_total": self.already_notified + self.notified,
            "detected_at": iso(self.incident.detected_at), "deadline": iso(self.incident.deadline),
        }


def notice_params(incident: Incident, scope: BreachScope, categories: Iterable[str]) -> dict:
    """The values of the breach_notice letter (templates/notify/breach_notice.txt)."""
    cats = list(categories)
    return {"incident": incident.id, "what": incident.what, "how": incident.how,
            "remediation": incident.remediation, "contact": incident.contact,
            "since": wib(scope.since), "until": wib(scope.until), "detected": wib(incident.detected_at),
            "categories_id": category_labels(cats, "id"), "categories_en": category_labels(cats, "en")}


def _already_notified(incident_id: str, person_ids: list[int]) -> dict[int, set[str]]:
    """{person id: categories they were told about} for this incident."""
    rows = db.session.execute(
        select(AuditEvent.person_id, AuditEvent.data).where(
            AuditEvent.tag == EventTag.BREACH_NOTIFIED.value, AuditEvent.person_id.in_(person_ids))
    ).all()
    told: dict[int, set[str]] = {}
    for pid, data in rows:
        if isinstance(data, dict) and data.get("incident") == incident_id:
            told.setdefault(pid, set()).update(data.get("categories") or [])
    return told


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def run_notices(scope: BreachScope, incident: Incident, *, send: bool, batch: int = DEFAULT_BATCH,
                actor: str = "cli", on_citizen: Callable[[Affected, str], None] | None = None,
                progress: Callable[[int], None] | None = None) -> NoticeRun:
    """Prepare (``send=False``) or send the notice to each affected citizen not yet told
    about this incident. ``on_citizen(a, status)`` sees each citizen with its status:
    already_notified, unreachable, to_notify (dry run), notified, failed. Records
    `privacy:breach:notified` per citizen told and `privacy:breach:assessed`; commits."""
    cfg = current_app.config["IDP"]
    if send and not cfg["debug"] and "outbox" in (cfg["notify_email_backend"], cfg["notify_sms_backend"]):
        # The outbox only stores messages (development): recording "notified" would make
        # later runs, with a real backend, skip citizens who were never told.
        raise BreachInputError("--send: a notify backend is 'outbox' (development only); configure SMTP and the "
                               "SMS/WhatsApp gateway first, or leave out --send for a dry run")
    run = NoticeRun(incident, scope, send)
    locale = cfg["default_locale"]  # no per-person language is stored
    for chunk in _chunks(affected(scope, batch=batch), batch):
        ids = [a.person_id for a in chunk]
        done = _already_notified(incident.id, ids)
        people = {p.id: p for p in db.session.execute(select(Person).where(Person.id.in_(ids))).scalars()}
        # Read every contact before the first commit expires the loaded rows.
        contacts = {pid: verified_contacts(p) for pid, p in people.items()}
        for a in chunk:
            run.summary.add(a)
            # Told already, about every category found now (a wider re-run may add some:
            # Art. 46(2) wants the data named, so they are told again).
            if a.person_id in done and set(a.categories) <= done[a.person_id]:
                status = "already_notified"
                run.already_notified += 1
            elif not contacts.get(a.person_id):
                status = "unreachable"
                run.unreachable += 1
            elif not send:
                status = "to_notify"
                run.to_notify += 1
            else:
                run.to_notify += 1
                status = _notify_one(a, contacts[a.person_id], incident, scope, locale, actor, run)
            if on_citizen:
                on_citizen(a, status)
        if progress:
            progress(run.summary.citizens)
    record_event(EventTag.BREACH_ASSESSED, actor=actor, client_id=scope.client_id, incident=incident.id,
                 **_scope_data(scope), citizens=run.summary.citizens, notices_sent=send, notified=run.notified,
                 failed=run.failed, unreachable=run.unreachable)
    db.session.commit()
    return run


def _notify_one(a: Affected, contacts: list[tuple[str, str]], incident: Incident, scope: BreachScope,
                locale: str, actor: str, run: NoticeRun) -> str:
    params = notice_params(incident, scope, a.categories)
    delivered = []
    has_email = any(channel == "email" for channel, _ in contacts)
    for channel, address in contacts:
        # The full letter is long (10+ SMS segments): by SMS/WhatsApp only a short notice when
        # the full one also goes by e-mail; a citizen with a phone only gets the whole letter.
        kind = SHORT_NOTICE_KIND if has_email and channel != "email" else NOTICE_KIND
        try:
            notify.send(kind, channel, address, locale=locale, **params)
        except notify.DeliveryError:
            continue
        delivered.append(channel)
    if not delivered:
        run.failed += 1
        return "failed"
    record_event(EventTag.BREACH_NOTIFIED, actor=actor, person_id=a.person_id, incident=incident.id,
                 channels=delivered, categories=sorted(a.categories))
    db.session.commit()
    run.notified += 1
    run.channels.update(delivered)
    return "notified"


def sample_notice(incident: Incident, scope: BreachScope, categories: Iterable[str]) -> tuple[str, str]:
    """(subject, body) of the letter for these categories, for the operator to review."""
    return notify.render(NOTICE_KIND, current_app.config["IDP"]["default_locale"],
                         **notice_params(incident, scope, categories))


# -- the report for the PDP agency ----------------------------------------------------------------
def agency_report(run: NoticeRun, notes: list[str]) -> dict:
    """The written notice to the agency (UU PDP Art. 46(1)): what happened, when it was
    detected, the categories of data, how many citizens, what is being done, whom to ask.
    Holds no personal data."""
    now = clock.now()
    inc = run.incident
    return {
        "incident": inc.id,
        "controller": {"name": "SatuAkun", "issuer": current_app.config["IDP"]["issuer"], "contact": inc.contact},
        "status": "notices sent" if run.sent else "draft: notices prepared, not sent",
        "generated_at": iso(now),
        "detected_at": iso(inc.detected_at),
        "notice_deadline": iso(inc.deadline),
        "within_deadline": now <= inc.deadline,
        "window": {"since": iso(run.scope.since), "until": iso(run.scope.until)},
        "scope": run.scope.to_dict(),
        "what": inc.what,
        "how": inc.how,
        "remediation": inc.remediation,
        "citizens_affected": run.summary.citizens,
        "categories": [{"code": c, "name_id": category_labels([c], "id")[0], "name_en": category_labels([c], "en")[0],
                        "citizens": n} for c, n in run.summary.to_dict()["categories"].items()],
        "clients": dict(sorted(run.summary.clients.items())),
        "notices": {"notified": run.already_notified + run.notified, "pending": run.to_notify - run.notified - run.failed,
                    "failed": run.failed, "unreachable": run.unreachable,
                    "channels": dict(sorted(run.channels.items()))},
        "coverage_notes": notes,
    }


def report_markdown(report: dict) -> str:
    n = report["notices"]
    lines = [
        f"# Laporan kegagalan pelindungan data pribadi / Personal data breach report — {report['incident']}",
        "",
        "UU No. 27 Tahun 2022 tentang Pelindungan Data Pribadi, Pasal 46.",
        "",
        f"- Pengendali data / Controller: {report['controller']['name']} ({report['controller']['issuer']})",
        f"- Kontak / Contact: {report['controller']['contact']}",
        f"- Status: {report['status']}",
        f"- Dibuat / Generated: {report['generated_at']}",
        f"- Diketahui / Detected: {report['detected_at']}",
        f"- Batas pemberitahuan (3×24 jam) / Notice deadline (72 h): {report['notice_deadline']}"
        + ("" if report["within_deadline"] else " — TERLAMBAT / LATE"),
        f"- Rentang waktu insiden / Incident window: {report['window']['since']} — {report['window']['until']}",
        "",
        "## Apa yang terjadi / What happened",
        "",
        report["what"],
        "",
        "## Bagaimana data terungkap / How the data was disclosed",
        "",
        report["how"],
        "",
        "## Penanganan dan pemulihan / Handling and remediation",
        "",
        report["remediation"],
        "",
        "## Subjek data dan kategori data / Data subjects and categories of data",
        "",
        f"Jumlah subjek data terdampak / Number of data subjects affected: **{report['citizens_affected']}**",
        "",
        "| Kategori / Category | Subjek data / Data subjects |",
        "|---|---|",
        *[f"| {c['name_id']} / {c['name_en']} | {c['citizens']} |" for c in report["categories"]],
        "",
        "## Pemberitahuan kepada subjek data / Notices to data subjects",
        "",
        f"- Sudah diberi tahu / Notified: {n['notified']}",
        f"- Belum dikirim / Not yet sent: {n['pending']}",
        f"- Gagal dikirim (dicoba lagi) / Delivery failed (retried on the next run): {n['failed']}",
        f"- Tanpa kontak terverifikasi (surat/loket) / No verified contact (letter or counter): {n['unreachable']}",
    ]
    if report["clients"]:
        lines += ["", "## Layanan terkait / Services involved", "",
                  *[f"- {cid}: {count}" for cid, count in report["clients"].items()]]
    if report["coverage_notes"]:
        lines += ["", "## Catatan cakupan data / Coverage notes", "", *[f"- {note}" for note in report["coverage_notes"]]]
    return "\n".join(lines) + "\n"


class _Replacing(io.BufferedWriter):
    """Writes a new file beside ``target`` and moves it into place on close: whoever holds
    the old file open (or a symlink planted there) never sees what is written."""

    def __init__(self, fd: int, tmp: Path, target: Path):
        super().__init__(io.FileIO(fd, "wb"))
        self._tmp, self._target = tmp, target

    def close(self):
        if self.closed:
            return
        super().close()
        os.replace(self._tmp, self._target)


def open_private(path: Path, *, exclusive: bool):
    """A binary file only the operator can read (0600 whatever the umask), opened for
    writing. ``exclusive``: raise FileExistsError rather than replace an existing file;
    otherwise a new file replaces the old one when closed (never written through it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    target = Path(path)
    if exclusive:
        fd = os.open(target, flags, 0o600)
        tmp = None
    else:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb") if tmp is None else _Replacing(fd, tmp, target)
    except BaseException:
        os.close(fd)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    with open_private(path, exclusive=exclusive) as fh:
        fh.write(data)


def write_report(run: NoticeRun, notes: list[str], path: Path, *, actor: str = "cli") -> dict:
    """Write the agency report to ``path`` (JSON when it ends in .json, else Markdown),
    record `privacy:breach:reported` and commit. Returns the report."""
    report = agency_report(run, notes)
    as_json = path.suffix.lower() == ".json"
    body = json.dumps(report, indent=2, ensure_ascii=False) + "\n" if as_json else report_markdown(report)
    write_private(path, body.encode(), exclusive=False)
    record_event(EventTag.BREACH_REPORTED, actor=actor, incident=run.incident.id, citizens=report["citizens_affected"],
                 notified=report["notices"]["notified"], draft=not run.sent, file=path.name)
    db.session.commit()
    return report


# -- manual data access (T93) ---------------------------------------------------------------------
def find_person(*, nik: str | None = None, person_id: int | None = None, actor: str = "cli") -> Person:
    """The account for a NIK (blind index) or a person id. Raises InvalidNIKError (a
    malformed NIK), NoAccountError; an unknown NIK is audited by its blind index (as
    counter look-ups), never in clear."""
    if nik is not None:
        nik = normalize_nik(nik)
    person = identity.get_person_by_nik(nik) if nik is not None else db.session.get(Person, person_id)
    if person is None:
        data = {"nik_index": identity.nik_index(nik)} if nik is not None else {"person": person_id}
        record_event(EventTag.DATA_EXPORT_NO_ACCOUNT, actor=actor, **data)
        db.session.commit()
        raise NoAccountError()
    return person


def export_for_request(person_id: int, *, reason: str, actor: str = "cli", operator: str | None = None) -> bytes:
    """The self-service export (account/privacy.export_person) of one citizen, for a
    written request handled by an operator: same builder, same serialisation as
    /account/export. Records `privacy:data:exported` with the reason in the same
    transaction (so the export itself lists it). Returns the UTF-8 JSON document."""
    from idp.account.privacy import export_person

    record_event(EventTag.DATA_EXPORTED_BY_OPERATOR, actor=actor, person_id=person_id, reason=reason,
                 operator=operator)
    data = export_person(person_id, record=False)  # the operator's event above, not a citizen's
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
