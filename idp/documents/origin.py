"""Document files from an origin of their own (SECURITY.md T70; config `document_files_origin`).

A stored file is served only as an attachment (nosniff, CSP sandbox); should a browser
still render one, it must not run with the provider's authority. With
`document_files_origin` set (e.g. "https://berkas.satuakun.go.id"):

- every file URL (a service's link in a claims answer, the citizen's own download) uses
  that origin (idp/documents/links.py);
- on that host only the two file routes answer; every other path (pages, static scripts,
  discovery, JWKS, sign-in) answers 404 JSON, so no page, cookie or script of the provider
  ever comes from it. The file routes answer only there (404 JSON on any other host). The
  check is a before_request hook that runs first (before CSRF and sessions are used), and
  idp/web/fastpath.py lets requests to the files host through to it;
- the provider's cookies are host-only (`__Host-` names, no Domain attribute), so the
  browser never sends them to the files origin. The citizen's own download therefore goes
  through a single-use link too: the account page (signed in, on the issuer's host) issues
  it and redirects there (`/documents/files/<link_id>`, `document_link_ttl` seconds).

Empty (the default): the issuer's origin serves the files, as before.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, request

from idp.documents.links import OWNER_FILE_PATH
from idp.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("document_files", __name__)
FILE_ENDPOINTS = frozenset({"oidc.claims_document_file", "document_files.owner_file"})


def base_url() -> str:
    """Scheme and host of file URLs: the files origin, else the issuer."""
    cfg = current_app.config["IDP"]
    return cfg["document_files_origin"] or cfg["issuer"]


def files_host(cfg: dict) -> tuple[str, int, int] | None:
    """(host name, port, default port) of the files origin, or None when unset."""
    origin = cfg["document_files_origin"]
    if not origin:
        return None
    url = urlsplit(origin)
    default = 443 if url.scheme == "https" else 80
    return (url.hostname or "").lower(), url.port or default, default


def is_files_host(host: str, target: tuple[str, int, int]) -> bool:
    """Whether a Host header names the files origin's host (and port)."""
    try:
        url = urlsplit("//" + host)
        return ((url.hostname or "").lower(), url.port or target[2]) == target[:2]
    except ValueError:
        return False


def not_found() -> Response:
    return Response(b'{"error":"not_found"}', status=404, mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    target = files_host(app.config["IDP"])
    if target is None:
        return

    def files_origin_only():
        on_files_host = is_files_host(request.host, target)
        file_route = request.url_rule is not None and request.url_rule.endpoint in FILE_ENDPOINTS
        if on_files_host != file_route or (on_files_host and request.method not in ("GET", "HEAD")):
            return not_found()
        return None

    # First of all hooks: nothing else (CSRF check, error pages) runs for the files host.
    app.before_request_funcs.setdefault(None, []).insert(0, files_origin_only)


@bp.get(OWNER_FILE_PATH + "<link_id>")
def owner_file(link_id: str):
    """The citizen's own file, once, through the link the account page redirected to."""
    from idp.documents import links, services, storage
    from idp.web import document_download

    try:
        doc = links.consume_owner(link_id)
    except links.LinkRefusedError:
        return not_found()
    try:
        data = services.read_file(doc)
        db.session.refresh(doc)  # a quarantine committed meanwhile still wins
        if services.quarantined(doc):
            raise services.DocumentError("quarantined since the link was checked")
    except (services.DocumentError, storage.BlobStoreError) as exc:
        log.error(json.dumps({"event": "document_read_failed", "error": str(exc)}))
        return not_found()
    return document_download(doc, data)
