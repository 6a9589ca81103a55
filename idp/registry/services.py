"""Population-registry checks: the configured adapter, and verify() with its audit trail.

Callers (self-registration) must show the same message for "not found" and "mismatch"
(STYLE.md: never reveal whether a NIK exists), and "try again later" with
``Retry-After`` for RegistryUnavailableError, having created nothing: call verify()
before writing anything.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from idp import config as config_mod
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.registry.base import (
    PersonRecord,
    RecordNotSupportedError,
    RegistryAdapter,
    RegistryConfigError,
    RegistryUnavailableError,
    VerificationRequest,
    VerificationResult,
)

log = logging.getLogger(__name__)


def build_registry(cfg: dict) -> RegistryAdapter:
    """A new adapter from the settings. Raises RegistryConfigError when the password
    variable is unset or a TLS file is missing."""
    if cfg["registry_backend"] == "local":
        from idp.registry.local import LocalRegistry

        return LocalRegistry()
    from idp.registry.http import CircuitBreaker, HttpRegistry

    password = os.environ.get(cfg["registry_password_env"], "")
    if not password:
        raise RegistryConfigError(f"registry: set the password in the environment variable {cfg['registry_password_env']}")
    paths = {}
    for key in ("registry_client_cert", "registry_client_key", "registry_ca_bundle"):
        if cfg[key]:
            path = config_mod.resolve_path(cfg[key])
            if not path.is_file():
                raise RegistryConfigError(f"config key {key!r}: {path} is not a readable file")
            paths[key] = str(path)
    return HttpRegistry(
        cfg["registry_url"], user=cfg["registry_user"], password=password, ip_user=cfg["registry_ip_user"],
        client_cert=paths.get("registry_client_cert"), client_key=paths.get("registry_client_key"),
        ca_bundle=paths.get("registry_ca_bundle"), connect_timeout=cfg["registry_connect_timeout"],
        read_timeout=cfg["registry_read_timeout"], retries=cfg["registry_retries"],
        breaker=CircuitBreaker(cfg["registry_breaker_failures"], cfg["registry_breaker_seconds"]),
        allow_http=cfg["registry_allow_http"],
    )


def get_registry(app: Flask | None = None) -> RegistryAdapter:
    """The app's adapter, built on first use and kept (the http adapter's circuit
    breaker and connection pools live as long as the process). Raises RegistryConfigError."""
    app = app or current_app
    adapter = app.extensions.get("idp_registry")
    if adapter is None:
        adapter = app.extensions.setdefault("idp_registry", build_registry(app.config["IDP"]))
    return adapter


def fetch_record(nik: str, *, registry: RegistryAdapter | None = None) -> PersonRecord | None:
    """The registry's record of a NIK, for documents the registry issues (a KTP in the
    vault), or None when it holds none. Not audited here: callers verify() first or after,
    which is. Raises RecordNotSupportedError (the adapter cannot return records),
    RegistryUnavailableError, RegistryConfigError."""
    adapter = registry or get_registry()
    fetch = getattr(adapter, "record", None)
    if fetch is None:
        raise RecordNotSupportedError()
    return fetch(nik)


def verify(
    request: VerificationRequest,
    *,
    actor: str = "citizen",
    person_id: int | None = None,
    registry: RegistryAdapter | None = None,
) -> VerificationResult:
    """Ask the registry and record the outcome as an audit event (committed here, so it
    stays even when the caller then stops: call this before writing anything else).

    The event holds the registry's name, whether a record was found and the per-field
    results, or the failure reason: no NIK, name, date or blind index.
    Returns the VerificationResult (``.matched`` is the decision). Raises
    RegistryUnavailableError (show "try again later"), RegistryConfigError.
    """
    adapter = registry or get_registry()
    try:
        result = adapter.verify(request)
    except RegistryUnavailableError as exc:
        try:
            record_event(EventTag.REGISTRY_VERIFY_UNAVAILABLE, actor=actor, person_id=person_id, registry=adapter.name,
                         reason=exc.reason, retry_after=exc.retry_after)
            db.session.commit()
        except SQLAlchemyError:  # the database may be what is down: the outage still wins
            db.session.rollback()
            log.warning('{"event": "registry.audit_failed"}')
        raise
    tag = EventTag.REGISTRY_VERIFY_MATCH if result.matched else EventTag.REGISTRY_VERIFY_MISMATCH
    record_event(tag, actor=actor, person_id=person_id, registry=result.registry, found=result.found,
                 fields=result.summary(), source_id=result.source_id)
    db.session.commit()
    return result
