"""SatuAkun identity provider. create_app() does all wiring."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import config as config_mod

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` (tests) overrides the file named by IDP_CONFIG."""
    from idp.extensions import babel, csrf, db
    from idp.keys import secrets as secrets_mod
    from idp.logging import configure_logging

    if config is None:
        cfg = config_mod.from_environment()
    else:
        cfg = config_mod.build(config)
    configure_logging()
    app = Flask(
        __name__,
        template_folder=str(config_mod.PROJECT_ROOT / "templates"),
        static_folder=str(config_mod.PROJECT_ROOT / "static"),
    )
    keys_dir = config_mod.resolve_path(cfg["keys_dir"])
    app.extensions["idp_secrets"] = secrets_mod.load_all(keys_dir)
    https = cfg["issuer"].startswith("https://")
    if not https:
        log.warning("DEVELOPMENT MODE: issuer %s is not https; cookies are not Secure. Never run this in production.", cfg["issuer"])
    db_url = cfg["database_url"]
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):
        path = config_mod.resolve_path(db_url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{path}"
    app.config.update(
        IDP=cfg,
        SECRET_KEY=app.extensions["idp_secrets"]["session"],
        SQLALCHEMY_DATABASE_URI=db_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(db_url),
        SESSION_COOKIE_NAME="__Host-satuakun_csrf" if https else "satuakun_csrf",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        IDP_SESSION_COOKIE="__Host-satuakun" if https else "satuakun",
        MAX_CONTENT_LENGTH=cfg["max_form_bytes"],
        MAX_FORM_MEMORY_SIZE=cfg["max_form_bytes"],
        MAX_FORM_PARTS=20,
        WTF_CSRF_TIME_LIMIT=cfg["interaction_ttl"],
        # Referrer-Policy: no-referrer means browsers send no Referer to check; the token
        # (bound to a SameSite=Lax session cookie) is the protection.
        WTF_CSRF_SSL_STRICT=False,
        BABEL_DEFAULT_LOCALE=cfg["default_locale"],
        BABEL_DEFAULT_TIMEZONE="Asia/Jakarta",
        BABEL_TRANSLATION_DIRECTORIES=str(config_mod.PROJECT_ROOT / "idp" / "translations"),
        JSON_SORT_KEYS=False,
    )
    if cfg["trusted_proxies"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg["trusted_proxies"], x_proto=cfg["trusted_proxies"])

    from idp.web import i18n, select_locale
    from idp.web import init_app as web_init

    i18n.compile_catalogs()
    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    from idp.web import format_epoch

    app.jinja_env.filters["datetime"] = format_epoch
    web_init(app)

    from idp.account import documents as _account_documents  # noqa: F401  (vault pages on the account blueprint)
    from idp.account import profile as _account_profile  # noqa: F401  (corrections, T94)
    from idp.account.views import bp as account_bp
    from idp.counter.views import activation_bp
    from idp.counter.views import bp as counter_bp
    from idp.oidc import discovery, events
    from idp.oidc import documents_api as _documents_api  # noqa: F401  (/claims/documents on the oidc blueprint)
    from idp.oidc.server import create_server
    from idp.oidc.views import bp as oidc_bp
    from idp.ops.views import bp as ops_bp
    from idp.recovery.views import bp as recovery_bp
    from idp.registration.views import bp as registration_bp
    from idp.registry import local as _registry_models  # noqa: F401  (registry_record in the metadata)
    from idp.web.views import bp as web_bp

    app.extensions["idp_oauth_server"] = create_server(app)
    app.config["IDP_DISCOVERY_BYTES"] = discovery.metadata_bytes(cfg["issuer"], cfg["signing_algs"])
    from idp import documents

    documents.setup(app, cfg)  # document types registry (a bad file stops start-up), doc:<code> scopes
    events.connect()
    app.register_blueprint(oidc_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(counter_bp)
    app.register_blueprint(activation_bp)
    if cfg["debug"]:
        from idp.notify.views import bp as notify_bp

        app.register_blueprint(notify_bp)

    from idp.web import security_header_list
    from idp.web.fastpath import FastPath

    app.wsgi_app = FastPath(app.wsgi_app, app, security_header_list(cfg["issuer"].startswith("https://")))
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    # No pre-ping (it costs a round trip per request, ~10 % of a token request): a
    # connection dropped by a database restart fails one request with 503 + Retry-After
    # and is discarded; pool_recycle retires idle connections before proxies cut them.
    return {"pool_size": int(os.environ.get("IDP_DB_POOL", "10")), "pool_recycle": 300, "max_overflow": 5}
