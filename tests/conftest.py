"""Fixtures: an app on each database backend, a client, people, clients and a code flow.

Every test that takes `app` runs on SQLite and on PostgreSQL. PostgreSQL tests use a
fresh database created for this run (dropped at the end) and skip, saying why, when no
server answers at IDP_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, text

from idp import clock, create_app
from idp.db import upgrade
from idp.extensions import db
from idp.keys import secrets as secrets_mod

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("IDP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ISSUER = "https://idp.test"
PASSWORD = "Kata-Sandi-Uji-2026"


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    secrets_mod.ensure(d)
    return d


@pytest.fixture(scope="session")
def pg_url():
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    name = f"satuakun_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def base_config(keys_dir, database_url, **extra):
    cfg = {
        "issuer": ISSUER,
        "database_url": database_url,
        "keys_dir": str(keys_dir),
        "clients_dir": str(ROOT / "clients"),
        # OWASP floor; keeps tests honest about the real hashing cost.
        "argon2_time_cost": 2,
        "argon2_memory_cost": 19456,
    }
    cfg.update(extra)
    return cfg


_migrated: dict[str, bool] = {}


def _make_app(request, keys_dir, tmp_path_factory, **extra):
    backend = request.param if hasattr(request, "param") else "sqlite"
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path_factory.getbasetemp() / 'idp-test.sqlite3'}"
    app = create_app(base_config(keys_dir, url, **extra))
    app.config["TESTING"] = True
    with app.app_context():
        if not _migrated.get(url):
            upgrade(app)
            _migrated[url] = True
        _truncate()
        _signing_keys(url)
    app.config["IDP_BACKEND"] = backend
    return app


# Generating RSA-3072 keys costs about a second per test; every test starts from the same
# freshly ensured set of signing keys instead (one per database), re-inserted as rows.
_key_rows: dict[str, list[dict]] = {}


def _signing_keys(url: str) -> None:
    from idp.keys import lifecycle, store
    from idp.keys.models import SigningKey

    table = SigningKey.__table__
    rows = _key_rows.get(url)
    if rows is None:
        lifecycle.ensure(actor="test")
        _key_rows[url] = [dict(r._mapping) for r in db.session.execute(table.select())]
    else:
        db.session.execute(table.insert(), rows)
        db.session.commit()
        store.invalidate_cache()


def _truncate():
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory):
    """The app, with no context pushed: each test-client request gets its own, as in
    production. Service-level tests use the `ctx` fixture."""
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory)
    yield app
    clock.reset()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    http = app.test_client()
    # Requests arrive as https://idp.test, so Secure cookies behave as in production.
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    return http


@pytest.fixture
def runner(app, tmp_path):
    """Click runner whose IDP_CONFIG names a file equivalent to the app's configuration."""
    return make_runner(app, tmp_path)


def make_runner(app, tmp_path):
    from click.testing import CliRunner

    (tmp_path / "cfg").mkdir(exist_ok=True)
    path = tmp_path / "cfg" / "idp.toml"
    lines = []
    for key, value in app.config["IDP"].items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:  # strings and lists of strings: JSON syntax is valid TOML here
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return CliRunner(env={"IDP_CONFIG": str(path)})


# -- T92: nothing secret in any log line of the whole run --------------------------------------
_SECRETS: set[str] = {PASSWORD}


def never_logged(*values: str | None) -> None:
    """Register values (NIKs, passwords, codes, tokens) no log line may ever contain."""
    _SECRETS.update(v for v in values if v and len(v) >= 6)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        from idp.logging import JsonFormatter

        self.lines.append(JsonFormatter().format(record))


@pytest.fixture(autouse=True)
def _no_secret_in_logs():
    """Every log record of every test (the provider's JSON lines, Authlib, SQLAlchemy) is
    scanned for every secret registered so far (SECURITY.md T92)."""
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("idp")]
    for lg in loggers:
        lg.addHandler(handler)
    yield
    for lg in loggers:
        lg.removeHandler(handler)
    text = "\n".join(handler.lines)
    leaked = sorted(s for s in _SECRETS if s in text)
    assert not leaked, f"secret values in log lines: {[v[:4] + '…' for v in leaked]}"


# -- factories ---------------------------------------------------------------------------------
_nik_counter = iter(range(1, 10**6))


def new_nik() -> str:
    return f"317401010190{next(_nik_counter):04d}"


@pytest.fixture
def create_person(app):
    from idp.identity import services as identity

    def make(nik=None, password=PASSWORD, name="Budi Santoso", **kw):
        nik = nik or new_nik()
        never_logged(nik, password)
        with app.app_context():
            person = identity.create_person(
                nik=nik, name=name, birthdate=kw.pop("birthdate", "1990-01-01"), password=password,
                email=kw.pop("email", "budi@contoh.go.id"), phone_number=kw.pop("phone_number", "+6281200000001"),
                actor="test", **kw,
            )
            return SimpleNamespace(id=person.id, public_id=person.public_id, nik=nik, test_nik=nik, name=person.name)

    return make


@pytest.fixture
def person(create_person):
    return create_person()


@pytest.fixture
def register_client(app):
    """Register a client from a dict (as a clients/*.toml would hold); returns (client, secret)."""
    from idp.oidc import clients

    def make(client_id="rp-test", **fields):
        secret = None
        data = {
            "client_id": client_id,
            "name": f"Layanan {client_id}",
            "region_code": "31.74",
            "purpose": "Uji layanan",
            "redirect_uris": [f"https://{client_id}.example.go.id/cb"],
            "post_logout_redirect_uris": [f"https://{client_id}.example.go.id/bye"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "email", "phone", "address", "offline_access"],
        }
        data.update(fields)
        method = data.setdefault("token_endpoint_auth_method", "client_secret_basic")
        if method in ("client_secret_basic", "client_secret_post") and "client_secret_hash" not in data:
            secret, data["client_secret_hash"] = clients.new_secret()
        with app.app_context():
            reg = clients.validate_registration(data, f"{client_id}.toml")
            clients.sync([clients.Registration(f"{client_id}.toml", reg)], actor="test")
        return SimpleNamespace(**reg), secret

    return make


# -- protocol helpers ------------------------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert m, "no csrf token in page"
    return m.group(1)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Flow:
    """Drives /authorize -> login -> consent -> code like a browser would."""

    def __init__(self, http, rp, secret=None):
        self.http, self.rp, self.secret = http, rp, secret
        self.verifier, self.challenge = pkce_pair()

    def params(self, **kw):
        p = {
            "response_type": "code",
            "client_id": self.rp.client_id,
            "redirect_uri": self.rp.redirect_uris[0],
            "scope": "openid profile",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        p.update(kw)
        return {k: v for k, v in p.items() if v is not None}

    def authorize(self, **kw):
        return self.http.get("/authorize", query_string=self.params(**kw))

    def login(self, resp, nik, password=PASSWORD):
        assert resp.status_code == 302, resp.status_code
        page = self.http.get(resp.headers["Location"])
        assert page.status_code == 200
        return self.http.post(
            resp.headers["Location"],
            data={"nik": nik, "password": password, "csrf_token": csrf_token(page.get_data(as_text=True))},
        )

    def follow(self, resp):
        while (
            resp.status_code in (302, 303)
            and urlsplit(resp.headers["Location"]).netloc in ("", "idp.test")
            and "/interaction/" not in resp.headers["Location"]
        ):
            resp = self.http.get(resp.headers["Location"])
        return resp

    def consent(self, resp, decision="approve"):
        assert "/consent" in resp.headers["Location"], resp.headers["Location"]
        page = self.http.get(resp.headers["Location"])
        return self.http.post(
            resp.headers["Location"],
            data={"decision": decision, "csrf_token": csrf_token(page.get_data(as_text=True))},
        )

    def run(self, nik, **kw) -> dict[str, str]:
        """Full sign-in with consent; returns the redirect query (code, state, iss)."""
        resp = self.authorize(**kw)
        if "/login" in resp.headers.get("Location", ""):
            resp = self.follow(self.login(resp, nik))
        if "/consent" in resp.headers.get("Location", ""):
            resp = self.follow(self.consent(resp))
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return query(resp.headers["Location"])

    def token(self, code, **kw):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.rp.redirect_uris[0],
            "code_verifier": self.verifier,
        }
        data.update(kw)
        return self.token_request(data)

    def token_request(self, data, auth=True):
        headers = {}
        if auth and self.secret:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{self.rp.client_id}:{self.secret}".encode()).decode()
        elif self.rp.token_endpoint_auth_method == "none":
            data.setdefault("client_id", self.rp.client_id)
        return self.http.post("/token", data=data, headers=headers)


@pytest.fixture
def rp(register_client):
    return register_client()


@pytest.fixture
def flow(client, rp):
    c, secret = rp
    return Flow(client, c, secret)
