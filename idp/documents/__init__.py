"""The document vault: citizens' documents encrypted at rest, shared with services by
per-type grants through `GET /claims/documents` (issue #6)."""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)


def setup(app, cfg: dict) -> None:
    """At start-up: load the document types registry (a bad file stops start-up, naming
    the file, field and reason), build the blob store (an unset credentials variable stops
    start-up, naming the key) and the virus scanner (a warning outside debug mode when
    scanning is off), and publish the `doc:<code>` scopes in discovery."""
    from idp.config import resolve_path
    from idp.documents import models as _models  # noqa: F401  (tables in the metadata)
    from idp.documents import scan, storage, types

    app.extensions["idp_blob_store"] = storage.from_config(cfg)
    app.extensions["idp_scanner"] = scan.from_config(cfg)
    if cfg["document_scanner"] == "none" and not cfg["debug"]:
        log.warning("DOCUMENT FILES ARE NOT VIRUS-SCANNED: document_scanner = 'none' releases uploaded files to "
                    "services unchecked. Set document_scanner = 'clamd' in production (SECURITY.md T70).")
    from idp.documents import origin

    origin.init_app(app)  # document_files_origin: files from their own host only (T70)

    path = resolve_path(cfg["document_types_file"]) if cfg["document_types_file"] else None
    registry = types.load(path)
    app.extensions["idp_document_types"] = registry
    meta = json.loads(app.config["IDP_DISCOVERY_BYTES"])
    meta["scopes_supported"] = list(dict.fromkeys([*meta["scopes_supported"], *(t.scope for t in registry.values())]))
    app.config["IDP_DISCOVERY_BYTES"] = json.dumps(meta, separators=(",", ":")).encode()
