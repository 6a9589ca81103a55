"""Cross-cutting web concerns: security headers, locale, error pages, client address."""

from __future__ import annotations

import json
import logging
import secrets

from flask import Flask, Response, g, render_template, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from idp.web.messages import MESSAGES

API_PREFIXES = ("/token", "/userinfo", "/revoke", "/introspect", "/jwks", "/.well-known", "/healthz",
                "/claims/documents", "/documents/files/")

CORS_PATHS = {"/token", "/userinfo", "/revoke", "/introspect", "/jwks", "/.well-known/openid-configuration",
              "/claims/documents"}

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def select_locale() -> str:
    lang = getattr(g, "ui_locale", None) or request.cookies.get("lang")
    if lang in ("id", "en"):
        return lang
    from flask import current_app

    return current_app.config["IDP"]["default_locale"]


def format_epoch(ts: int) -> str:
    """Epoch seconds as a date and time in the citizen's language and Asia/Jakarta time."""
    import datetime

    from flask_babel import format_datetime

    return format_datetime(datetime.datetime.fromtimestamp(ts, datetime.UTC), "medium")


def browser_id() -> str:
    """A random per-browser value in the signed Flask session: binds interactions to it."""
    if "bid" not in session:
        session["bid"] = secrets.token_urlsafe(16)
    return session["bid"]


def current_language() -> str:
    """The language of the current page ("id" or "en"): the one messages to the citizen
    (codes, notices) are written in."""
    from flask_babel import get_locale

    loc = get_locale()
    return loc.language if loc else "id"


def client_address() -> str:
    # ProxyFix (configured by trusted_proxies) has already rewritten remote_addr.
    return request.remote_addr or "-"


def error_page(message_key: str, status: int = 400, **extra) -> Response:
    resp = Response(
        render_template("errors/error.html", message=MESSAGES.get(message_key, MESSAGES["error.generic"]), status=status),
        status=status,
    )
    for k, v in extra.items():
        resp.headers[k] = v
    return resp


DOWNLOAD_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def document_download(doc, data: bytes) -> Response:
    """A document's file as a download only, never rendered on our origin (SECURITY.md
    T70): attachment, nosniff, a sandboxing CSP, no caching; named `<type>.<ext>`. Every
    file route (services' links, the owner's page and link, the counter) answers with it."""
    ext = DOWNLOAD_EXTENSIONS.get(doc.content_type, "bin")
    return Response(data, mimetype=doc.content_type or "application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{doc.type_code}.{ext}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    })


def security_header_list(https: bool) -> list[tuple[str, str]]:
    headers = [
        ("Content-Security-Policy", CSP),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if https:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def init_app(app: Flask) -> None:
    https = app.config["IDP"]["issuer"].startswith("https://")
    security = security_header_list(https)

    @app.after_request
    def security_headers(resp: Response) -> Response:
        h = resp.headers
        for name, value in security:
            h.setdefault(name, value)
        if request.path in CORS_PATHS:
            # Bearer/credential endpoints carry no cookies: any origin may call them
            # (browser-based public clients), and no ambient authority is exposed.
            h["Access-Control-Allow-Origin"] = "*"
            # RFC 9449 §7.1: a browser client must be able to read the DPoP challenge.
            h["Access-Control-Expose-Headers"] = "WWW-Authenticate, DPoP-Nonce"
            if request.method == "OPTIONS":
                h["Access-Control-Allow-Methods"] = "GET, POST"
                h["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
                h["Access-Control-Max-Age"] = "600"
        if resp.mimetype == "text/html":
            h["Cache-Control"] = "no-store"
            h.add("Vary", "Cookie")
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        logging.getLogger("idp.web").info(json.dumps({"event": "csrf_rejected", "reason": exc.description, "path": request.path}))
        return error_page("error.csrf", 403)

    @app.errorhandler(DBAPIError)
    def database_unavailable(exc):
        # T99: the database is down or failing over: answer 503 with Retry-After, never a
        # stack trace; the transaction is rolled back so nothing half-written remains.
        from idp.extensions import db

        db.session.rollback()
        logging.getLogger("idp.web").error(json.dumps({"event": "database_error", "error": exc.__class__.__name__}))
        if request.path.startswith(API_PREFIXES):
            body = {"error": "temporarily_unavailable", "error_description": "Service temporarily unavailable"}
            return body, 503, {"Retry-After": "5", "Cache-Control": "no-store"}
        return error_page("error.busy", 503, **{"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(API_PREFIXES):
            body = {"error": "invalid_request", "error_description": exc.name}
            return body, exc.code, {"Cache-Control": "no-store"}
        key = {404: "error.not_found", 405: "error.method", 413: "error.too_large"}.get(exc.code, "error.generic")
        return error_page(key, exc.code or 400)
