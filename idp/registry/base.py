"""The population-registry adapter interface: what we ask, what we get back, how it fails.

An adapter answers one question: does the registry hold a person with this NIK, and do
the name, date of birth and (when given) place of birth and gender agree with its
record? It answers per field and never returns the record itself, only the evidence we
keep (which registry, which record source, when). Two implementations: ``local`` (a
table imported from CSV, for pilots and the demo) and ``http`` (a Dukcapil-style
data-verification web service).

Failure is an exception, never a result: an outage, a timeout, a 5xx, an answer we
cannot parse or an open circuit breaker raise RegistryUnavailableError, so no caller can
mistake "could not ask" for "no match" or, worse, for "match".
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from idp.identity.nik import mask_nik, normalize_nik

# Fields every verification checks; `matched` needs all of them to match.
REQUIRED_FIELDS = ("nik", "full_name", "birthdate")
OPTIONAL_FIELDS = ("birthplace", "gender")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
GENDERS = ("male", "female")


class FieldResult(str, enum.Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class VerificationRequest:
    """What the citizen claims. ``nik`` is normalised on creation (InvalidNIKError if it
    is not 16 digits); ``gender`` is
    ``"male"``/``"female"`` (OIDC Core §5.1 values). repr() shows the masked NIK only,
    so a stray log line or traceback carries no NIK or name (SECURITY.md T92)."""

    nik: str
    full_name: str
    birthdate: datetime.date
    birthplace: str | None = None
    gender: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nik", normalize_nik(self.nik))  # raises InvalidNIKError
        if not isinstance(self.birthdate, datetime.date) or isinstance(self.birthdate, datetime.datetime):
            raise TypeError("birthdate must be a datetime.date")
        if self.gender is not None and self.gender not in GENDERS:
            raise ValueError("gender must be 'male' or 'female'")

    def __repr__(self) -> str:
        return f"VerificationRequest(nik={mask_nik(self.nik)})"


@dataclass(frozen=True)
class VerificationResult:
    """The registry's answer, field by field.

    ``found`` is False when the registry holds no (usable) record for the NIK; then every
    field is NOT_CHECKED. ``registry`` names the adapter (``local``/``http``),
    ``source_id`` the record's provenance (local: the import batch; http: the service's
    transaction id if it sends one), ``checked_at`` the epoch second of the check, and
    ``gender`` the registry's gender when it told us (local) — evidence we may store.
    """

    found: bool
    fields: Mapping[str, FieldResult]
    registry: str
    checked_at: int
    source_id: str | None = None
    gender: str | None = None

    @property
    def matched(self) -> bool:
        """Found, every required field MATCH, and no optional field that was checked
        MISMATCH (a wrong place of birth the citizen chose to give still fails)."""
        return (
            self.found
            and all(self.fields.get(f) is FieldResult.MATCH for f in REQUIRED_FIELDS)
            and not any(v is FieldResult.MISMATCH for v in self.fields.values())
        )

    def summary(self) -> dict[str, str]:
        """Per-field results as plain strings (for audit events, logs and JSON output)."""
        return {k: FieldResult(v).value for k, v in self.fields.items()}


def not_found(registry: str, checked_at: int) -> VerificationResult:
    return VerificationResult(
        found=False, fields={f: FieldResult.NOT_CHECKED for f in FIELDS}, registry=registry, checked_at=checked_at,
    )


class RegistryUnavailableError(Exception):
    """The registry could not answer. Show the citizen "try again later" (503 with
    ``Retry-After: retry_after``) and create nothing. ``reason`` is a short code for logs
    and audit (``timeout``, ``connection``, ``http_5xx``, ``http_status``, ``credentials``,
    ``rejected``, ``malformed``, ``too_large``, ``circuit_open``, ``database``, ``decrypt``,
    ``configuration``); it never holds personal data."""

    def __init__(self, reason: str, retry_after: int = 30) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, int(retry_after))


class RecordNotSupportedError(RegistryUnavailableError):
    """The adapter can check data but cannot return a person's record (the http adapter:
    the Dukcapil contract has no data endpoint yet). A kind of unavailability, so a caller
    that only knows outages still stores nothing."""

    def __init__(self) -> None:
        super().__init__("not_supported", retry_after=3600)


@dataclass(frozen=True)
class PersonRecord:
    """A registry record, for documents the registry issues (a KTP in the vault). repr()
    shows the masked NIK only (SECURITY.md T92)."""

    nik: str
    full_name: str
    birthdate: datetime.date
    birthplace: str | None = None
    gender: str | None = None

    def __repr__(self) -> str:
        return f"PersonRecord(nik={mask_nik(self.nik)})"


class RegistryConfigError(RuntimeError):
    """The registry adapter cannot be built from the configuration (e.g. the password
    environment variable is not set)."""


@runtime_checkable
class RegistryAdapter(Protocol):
    name: str

    def verify(self, request: VerificationRequest) -> VerificationResult:
        """Returns the per-field result. Raises RegistryUnavailableError."""
        ...
