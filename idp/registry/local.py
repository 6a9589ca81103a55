"""The ``local`` registry: a table of citizens imported from CSV (pilots, the demo).

Nothing identifying is stored in clear. A record is found by the NIK blind index (the
same HMAC-SHA-256 key as ``person.nik_index``); the name, date and place of birth and
gender are one AES-256-GCM ciphertext under the KEK (idp.keys.envelope), with associated
data ``registry.record:<nik_index>`` so a payload copied to another row does not decrypt.

CSV format (``idp registry import FILE``), UTF-8 (a BOM is fine), comma- or
semicolon-separated (Excel in the Indonesian locale writes ``;``), one header line; the
column names follow Dukcapil's element names, case-insensitive, in any order:

=================  ========  ===============================================================
column             required  content
=================  ========  ===============================================================
``nik``            yes       16 digits (spaces, dots and hyphens are ignored)
``nama_lengkap``   yes       full name as on the KTP-el, at most 200 characters
``tanggal_lahir``  yes       date of birth, ``YYYY-MM-DD`` or ``DD-MM-YYYY``
``tempat_lahir``   no        place of birth, at most 100 characters
``jenis_kelamin``  no        ``LAKI-LAKI``/``L`` or ``PEREMPUAN``/``P`` (empty: unknown)
=================  ========  ===============================================================

Other columns (``alamat``, ``agama``, ...) are ignored and not stored: we keep only what
verification needs (UU PDP data minimisation); the summary lists them.

Import rules: each row is validated on its own; a bad row is reported by line number
(never with its content) and skipped, the good rows are imported. Rows are upserted by
NIK in batches, one transaction per batch, so an interrupted import keeps whole batches
and re-running it completes the job. Re-importing the same file changes nothing
(``unchanged``); a NIK seen twice in one file keeps its first row and reports the
others. Every row touched carries the import's ``import_id``, which is how a duplicate
in a later batch is recognised without keeping the file's NIKs in memory. A record under
a previous KEK is re-encrypted under the current one when an import meets it.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from flask import current_app
from sqlalchemy import BigInteger, Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from idp import clock
from idp.extensions import db
from idp.identity.nik import InvalidNIKError, normalize_nik
from idp.keys import envelope
from idp.registry.base import (
    FieldResult,
    PersonRecord,
    RegistryUnavailableError,
    VerificationRequest,
    VerificationResult,
    not_found,
)
from idp.registry.names import MAX_NAME_LENGTH, names_match, normalize_name, places_match

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("nik", "nama_lengkap", "tanggal_lahir")
OPTIONAL_COLUMNS = ("tempat_lahir", "jenis_kelamin")
MAX_PLACE_LENGTH = 100
MAX_BATCH = 5000
MAX_REPORTED_ERRORS = 1000
_GENDERS = {
    "laki-laki": "male", "laki laki": "male", "lakilaki": "male", "l": "male", "pria": "male", "male": "male",
    "perempuan": "female", "p": "female", "wanita": "female", "female": "female",
}


class RegistryRecord(db.Model):
    """One citizen of the local registry. No NIK or name in clear (module docstring)."""

    __tablename__ = "registry_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # HMAC-SHA-256 blind index of the NIK (idp.identity.services.nik_index); one row per NIK.
    nik_index: Mapped[str] = mapped_column(String(64), unique=True)
    # AES-256-GCM of the JSON payload, AAD "registry.record:<nik_index>".
    payload_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # Where the current content came from: the import's source name (file name by default).
    source: Mapped[str] = mapped_column(String(200))
    # When the current content was imported (epoch seconds); unchanged re-imports keep it.
    imported_at: Mapped[int] = mapped_column(BigInteger)
    # The last import that listed this NIK (random per run): finds duplicates within a file.
    import_id: Mapped[str] = mapped_column(String(32))


def _aad(index: str) -> bytes:
    return b"registry.record:" + index.encode()


def _index(nik: str) -> str:
    from idp.identity.services import nik_index

    return nik_index(nik)


def _encrypt(index: str, payload: dict) -> bytes:
    kek = current_app.extensions["idp_secrets"]["kek"]
    return envelope.encrypt(kek, json.dumps(payload, sort_keys=True, ensure_ascii=False).encode(), _aad(index))


def _decrypt(row: RegistryRecord) -> dict:
    from idp.keys.store import keks

    return json.loads(envelope.decrypt_any(keks(), row.payload_encrypted, _aad(row.nik_index)))


# -- verification -------------------------------------------------------------------------------
class LocalRegistry:
    """RegistryAdapter over the ``registry_record`` table (needs an app context)."""

    name = "local"

    def verify(self, request: VerificationRequest) -> VerificationResult:
        """Returns the per-field result. Raises InvalidNIKError for a malformed NIK and
        RegistryUnavailableError if the database cannot be read or a record cannot be
        decrypted (wrong or missing KEK: an operator problem, never a mismatch)."""
        nik = normalize_nik(request.nik)
        now = clock.now()
        try:
            row = db.session.execute(
                select(RegistryRecord).where(RegistryRecord.nik_index == _index(nik))
            ).scalar_one_or_none()
        except (OperationalError, InterfaceError):
            db.session.rollback()
            log.warning(json.dumps({"event": "registry.unavailable", "registry": self.name, "reason": "database"}))
            raise RegistryUnavailableError("database", retry_after=5) from None
        if row is None:
            return not_found(self.name, now)
        try:
            record = _decrypt(row)
        except (InvalidTag, ValueError):
            log.error(json.dumps({"event": "registry.unavailable", "registry": self.name, "reason": "decrypt",
                                  "record_id": row.id}))
            raise RegistryUnavailableError("decrypt") from None
        fields = {
            "nik": FieldResult.MATCH,
            "full_name": FieldResult.MATCH if names_match(request.full_name, record["nama_lengkap"]) else FieldResult.MISMATCH,
            "birthdate": FieldResult.MATCH if request.birthdate.isoformat() == record["tanggal_lahir"] else FieldResult.MISMATCH,
            "birthplace": _optional(request.birthplace, record.get("tempat_lahir"), places_match),
            "gender": _optional(request.gender, record.get("jenis_kelamin"), str.__eq__),
        }
        return VerificationResult(
            found=True, fields=fields, registry=self.name, checked_at=now, source_id=row.source,
            gender=record.get("jenis_kelamin"),
        )


    def record(self, nik: str) -> PersonRecord | None:
        """The record of this NIK (None when the registry has none). Raises
        InvalidNIKError, RegistryUnavailableError (database down, record undecryptable)."""
        nik = normalize_nik(nik)
        try:
            row = db.session.execute(
                select(RegistryRecord).where(RegistryRecord.nik_index == _index(nik))
            ).scalar_one_or_none()
        except (OperationalError, InterfaceError):
            db.session.rollback()
            raise RegistryUnavailableError("database", retry_after=5) from None
        if row is None:
            return None
        try:
            data = _decrypt(row)
        except (InvalidTag, ValueError):
            raise RegistryUnavailableError("decrypt") from None
        return PersonRecord(nik=nik, full_name=data["nama_lengkap"], birthdate=datetime.date.fromisoformat(data["tanggal_lahir"]),
                            birthplace=data.get("tempat_lahir"), gender=data.get("jenis_kelamin"))


def _optional(given: str | None, recorded: str | None, same: Callable[[str, str], bool]) -> FieldResult:
    if not given or not recorded:
        return FieldResult.NOT_CHECKED
    return FieldResult.MATCH if same(given, recorded) else FieldResult.MISMATCH


# -- import -------------------------------------------------------------------------------------
class ImportFileError(ValueError):
    """The file cannot be imported at all (unreadable, no header, a required column
    missing, broken CSV quoting). The message has no personal data."""


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ImportSummary:
    source: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_invalid: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.skipped_invalid

    def reject(self, line: int, message: str) -> None:
        self.skipped_invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, message))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rows"] = self.rows
        out["errors_truncated"] = self.skipped_invalid > len(self.errors)
        return out


def _parse_date(value: str) -> datetime.date | None:
    for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _validate(row: dict[str, str]) -> tuple[str, dict] | str:
    """(nik, payload) for a good row, else the error message (column and reason only)."""
    if any("\udc80" <= ch <= "\udcff" for v in row.values() for ch in v):
        return "row: not valid UTF-8"
    try:
        nik = normalize_nik(row["nik"])
    except InvalidNIKError:
        return "nik: not 16 digits"
    name = " ".join(row["nama_lengkap"].split())
    if not name:
        return "nama_lengkap: empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"nama_lengkap: longer than {MAX_NAME_LENGTH} characters"
    if not normalize_name(name):
        return "nama_lengkap: no letters"
    born = _parse_date(row["tanggal_lahir"].strip())
    if born is None:
        return "tanggal_lahir: expected YYYY-MM-DD or DD-MM-YYYY"
    if born > datetime.date.fromtimestamp(clock.now()) or born.year < 1850:
        return "tanggal_lahir: not a plausible date of birth"
    place = " ".join(row.get("tempat_lahir", "").split()) or None
    if place and len(place) > MAX_PLACE_LENGTH:
        return f"tempat_lahir: longer than {MAX_PLACE_LENGTH} characters"
    raw_gender = " ".join(row.get("jenis_kelamin", "").split()).casefold()
    gender = _GENDERS.get(raw_gender) if raw_gender else None
    if raw_gender and gender is None:
        return "jenis_kelamin: expected LAKI-LAKI or PEREMPUAN"
    return nik, {"nama_lengkap": name, "tanggal_lahir": born.isoformat(), "tempat_lahir": place, "jenis_kelamin": gender}


@dataclass
class _Pending:
    line: int
    index: str
    payload: dict


def _flush(pending: list[_Pending], summary: ImportSummary, *, import_id: str, now: int) -> None:
    """Upsert one batch in one transaction. A concurrent import inserting the same NIK
    makes the commit fail; the batch is then re-read and applied once more."""
    current = current_app.extensions["idp_secrets"]["kek"]
    for attempt in (1, 2):
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        duplicates: list[RowError] = []
        existing = {
            r.nik_index: r for r in db.session.execute(
                select(RegistryRecord).where(RegistryRecord.nik_index.in_([p.index for p in pending]))
            ).scalars()
        }
        for item in pending:
            row = existing.get(item.index)
            if row is None:
                db.session.add(RegistryRecord(
                    nik_index=item.index, payload_encrypted=_encrypt(item.index, item.payload), source=summary.source,
                    imported_at=now, import_id=import_id,
                ))
                counts["inserted"] += 1
            elif row.import_id == import_id:
                duplicates.append(RowError(item.line, "duplicate NIK: an earlier line of this file has it"))
            elif _readable(row) == item.payload:
                if not envelope.decrypts_with(current, row.payload_encrypted, _aad(row.nik_index)):
                    row.payload_encrypted = _encrypt(item.index, item.payload)  # rewrap under the current KEK
                row.import_id = import_id
                counts["unchanged"] += 1
            else:
                row.payload_encrypted = _encrypt(item.index, item.payload)
                row.source, row.imported_at, row.import_id = summary.source, now, import_id
                counts["updated"] += 1
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
            continue
        summary.inserted += counts["inserted"]
        summary.updated += counts["updated"]
        summary.unchanged += counts["unchanged"]
        for err in duplicates:
            summary.reject(err.line, err.message)
        return


def _readable(row: RegistryRecord) -> dict | None:
    """The stored payload, or None if no configured KEK decrypts it (the import then
    overwrites it: the file is the source of truth)."""
    try:
        return _decrypt(row)
    except (InvalidTag, ValueError):
        return None


def _delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def import_csv(
    path: str | Path,
    *,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
    actor: str = "cli",
) -> ImportSummary:
    """Import (upsert) the CSV file at ``path`` (format: module docstring).

    ``source`` names the import in each record it writes (default: the file name);
    ``progress(lines_read)`` is called after each committed batch of ``batch`` rows.
    Returns an ImportSummary (rejected rows by line number, without their content).
    Raises ImportFileError when the file cannot be imported at all; batches committed
    before a mid-file ImportFileError stay, and re-running the fixed file completes it.
    """
    from idp.audit.services import EventTag, record_event

    path = Path(path)
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be 1 to {MAX_BATCH}")
    summary = ImportSummary(source=(source or path.name)[:200])
    import_id = secrets.token_hex(16)
    now = clock.now()
    try:
        fh = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        first = fh.readline()
        if not first.strip():
            raise ImportFileError(f"{path}: empty file (a header line is required)")
        header = [h.strip().casefold() for h in next(csv.reader([first], delimiter=_delimiter(first)))]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ImportFileError(f"{path}: missing column(s): {', '.join(missing)}")
        duplicated = sorted({h for h in header if header.count(h) > 1 and h})
        if duplicated:
            raise ImportFileError(f"{path}: column(s) named twice: {', '.join(duplicated)}")
        summary.ignored_columns = [h for h in header if h and h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        reader = csv.reader(fh, delimiter=_delimiter(first), strict=True)
        pending: list[_Pending] = []
        in_batch: dict[str, int] = {}
        line = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ImportFileError(f"{path}: line {reader.line_num + 1}: broken CSV ({exc})") from None
            line = reader.line_num + 1  # physical line where this record ends (the header is line 1)
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                summary.reject(line, f"row: expected {len(header)} columns, found {len(values)}")
                continue
            checked = _validate(dict(zip(header, values, strict=True)))
            if isinstance(checked, str):
                summary.reject(line, checked)
                continue
            nik, payload = checked
            index = _index(nik)
            if index in in_batch:
                summary.reject(line, f"duplicate NIK: same as line {in_batch[index]}")
                continue
            in_batch[index] = line
            pending.append(_Pending(line, index, payload))
            if len(pending) >= batch:
                _flush(pending, summary, import_id=import_id, now=now)
                pending, in_batch = [], {}
                if progress:
                    progress(line)
        if pending:
            _flush(pending, summary, import_id=import_id, now=now)
        if progress:
            progress(line)
    summary.errors.sort(key=lambda e: e.line)
    record_event(
        EventTag.REGISTRY_IMPORTED, actor=actor, source=summary.source, inserted=summary.inserted,
        updated=summary.updated, unchanged=summary.unchanged, skipped_invalid=summary.skipped_invalid,
    )
    db.session.commit()
    return summary
