"""Document files from an origin of their own (`document_files_origin`, SECURITY.md T70):
file URLs use it, only the file routes answer there and only there, the citizen's own
download goes through a single-use link; unset, nothing changes."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from idp import clock, config
from idp.documents.models import DocumentDownloadLink
from idp.extensions import db
from tests.conftest import ISSUER, _make_app
from tests.documents import files
from tests.documents.conftest import upload
from tests.documents.test_download import _auth, _claims, _token

PNG = files.png(size=(40, 30))
FILES = "https://berkas.test"
FILES_HOST = {"HTTP_HOST": "berkas.test"}


@pytest.fixture
def files_origin():
    """A test parametrizes this to "" for the default."""
    return FILES


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory, tmp_path, files_origin):
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory, document_store_dir=str(tmp_path / "blobs"),
                    document_files_origin=files_origin)
    yield app
    clock.reset()


class _OnHost:
    """A test client whose requests all go to one base URL (environ_base cannot set the Host)."""

    def __init__(self, http, base_url):
        self.http, self.base_url = http, base_url

    def get(self, *args, **kw):
        return self.http.get(*args, base_url=self.base_url, **kw)

    def post(self, *args, **kw):
        return self.http.post(*args, base_url=self.base_url, **kw)


@pytest.fixture
def browser(app):
    """A browser on the files origin: it holds none of the provider's (host-only) cookies."""
    return _OnHost(app.test_client(), FILES)


@pytest.fixture
def file_rp(register_client):
    return register_client("layanan-berkas", document_types=["kk"], document_file=True)


@pytest.fixture
def shared(client, citizen, file_rp):
    assert upload(client, data=PNG).status_code == 303
    rp, secret = file_rp
    token = _token(client, rp, secret)
    [doc] = _claims(client, token)
    return token, doc["file"]


def _owner_link(client):
    page = client.get("/account/documents").get_data(as_text=True)
    path = page.split('href="/account/documents/')[1].split('"')[0]
    return client.get(f"/account/documents/{path}")


def _no_cookie(resp):
    assert "Set-Cookie" not in resp.headers


# -- services -------------------------------------------------------------------------------------
def test_service_link_uses_the_files_origin(shared):
    _, link = shared
    assert link["url"].startswith(FILES + "/claims/documents/files/")


def test_service_download_on_the_files_host(browser, shared):
    token, link = shared
    path = link["url"][len(FILES):]
    resp = browser.get(path, headers=_auth(token))
    assert resp.status_code == 200 and resp.data == PNG
    assert resp.headers["Content-Disposition"] == 'attachment; filename="kk.png"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    _no_cookie(resp)
    assert browser.get(path, headers=_auth(token)).status_code == 404  # single use


def test_service_download_refused_on_the_main_host(app, client, shared):
    token, link = shared
    path = link["url"][len(FILES):]
    resp = client.get(path, headers=_auth(token))
    assert resp.status_code == 404 and resp.get_json() == {"error": "not_found"}
    # Refused before the link was looked at: still usable on the files host.
    with app.app_context():
        assert db.session.scalar(select(DocumentDownloadLink)).used_at is None


# -- nothing else on the files host ---------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/account", "/account/documents", "/authorize", "/static/app.css",
                                  "/.well-known/openid-configuration", "/jwks", "/healthz", "/lang/en",
                                  "/claims/documents", "/nope"])
def test_every_other_path_404_on_the_files_host(client, citizen, path):
    # Even with the provider's cookies (a browser would not send them).
    resp = client.get(path, environ_overrides=FILES_HOST)
    assert resp.status_code == 404 and resp.get_json() == {"error": "not_found"}, path
    assert "<html" not in resp.get_data(as_text=True).lower()
    _no_cookie(resp)


def test_post_404_on_the_files_host(browser, shared):
    token, link = shared
    for path in ("/token", "/account/documents", link["url"][len(FILES):]):
        resp = browser.post(path, data={"x": "1"}, headers=_auth(token))
        assert resp.status_code == 404 and resp.is_json, path
        _no_cookie(resp)


def test_files_host_port_must_match(browser, shared):
    token, link = shared
    resp = browser.get(link["url"][len(FILES):], headers=_auth(token), environ_overrides={"HTTP_HOST": "berkas.test:8443"})
    assert resp.status_code == 404
    ok = browser.get(link["url"][len(FILES):], headers=_auth(token), environ_overrides={"HTTP_HOST": "BERKAS.test:443"})
    assert ok.status_code == 200


def test_main_host_pages_still_answer(client):
    assert client.get("/").status_code == 200
    assert client.get("/.well-known/openid-configuration").status_code == 200


# -- the citizen's own download -------------------------------------------------------------------
def test_owner_download_through_a_single_use_link(app, client, browser, citizen):
    assert upload(client, data=PNG).status_code == 303
    resp = _owner_link(client)
    assert resp.status_code == 303 and resp.headers["Cache-Control"] == "no-store"
    url = resp.headers["Location"]
    assert url.startswith(FILES + "/documents/files/")
    path = url[len(FILES):]
    with app.app_context():
        row = db.session.scalar(select(DocumentDownloadLink))
        assert row.client_id == "" and row.person_id == citizen.id
        assert row.id_hash == hashlib.sha256(path.rsplit("/", 1)[1].encode()).hexdigest()
    # Refused on the main host (and not consumed there).
    main = client.get(path)
    assert main.status_code == 404 and main.get_json() == {"error": "not_found"}
    got = browser.get(path)
    assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert got.headers["Content-Disposition"] == 'attachment; filename="kk.png"'
    assert got.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in got.headers["Content-Security-Policy"]
    _no_cookie(got)
    again = browser.get(path)
    assert again.status_code == 404 and again.get_json() == {"error": "not_found"}


def test_owner_link_expires(client, browser, citizen):
    assert upload(client, data=PNG).status_code == 303
    path = _owner_link(client).headers["Location"][len(FILES):]
    clock.advance(61)
    try:
        assert browser.get(path).status_code == 404
    finally:
        clock.reset()


def test_owner_download_needs_sign_in(client, browser, citizen):
    assert upload(client, data=PNG).status_code == 303
    page = client.get("/account/documents").get_data(as_text=True)
    href = page.split('href="/account/documents/')[1].split('"')[0]
    anonymous = client.application.test_client()
    anonymous.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    resp = anonymous.get(f"/account/documents/{href}")
    assert resp.status_code in (302, 303) and "/documents/files/" not in resp.headers["Location"]


def test_links_are_not_interchangeable(client, browser, shared):
    """A service's link is not an owner link (which needs no token), and the reverse."""
    token, link = shared
    service_id = link["url"].rsplit("/", 1)[1]
    assert browser.get(f"/documents/files/{service_id}").status_code == 404
    owner_id = _owner_link(client).headers["Location"].rsplit("/", 1)[1]
    assert browser.get(f"/claims/documents/files/{owner_id}", headers=_auth(token)).status_code == 404
    # Both still work where they belong.
    assert browser.get(f"/claims/documents/files/{service_id}", headers=_auth(token)).status_code == 200
    assert browser.get(f"/documents/files/{owner_id}").status_code == 200


def test_session_cookies_are_host_only(client, citizen):
    cookies = {c.key: c for c in client._cookies.values()}
    assert cookies, "signed in"
    for name, cookie in cookies.items():
        if name == "lang":
            continue
        assert name.startswith("__Host-"), name
        assert cookie.domain in ("idp.test", "localhost") and cookie.path == "/"
    assert not any(c.domain == "berkas.test" for c in cookies.values())


# -- unset: as before -----------------------------------------------------------------------------
@pytest.mark.parametrize("files_origin", [""])
def test_default_unchanged(client, citizen, shared, files_origin):
    token, link = shared
    assert link["url"].startswith(ISSUER + "/claims/documents/files/")
    assert client.get(link["url"][len(ISSUER):], headers=_auth(token)).status_code == 200
    resp = _owner_link(client)
    assert resp.status_code == 200 and resp.data == PNG
    assert resp.headers["Content-Disposition"] == 'attachment; filename="kk.png"'
    assert client.get("/").status_code == 200
    assert client.get("/", environ_overrides=FILES_HOST).status_code == 200


# -- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["http://berkas.example", "https://berkas.example/", "https://berkas.example/f",
                                   "https://berkas.example?x", "https://u@berkas.example", "ftp://berkas.example",
                                   "berkas.example", "https://idp.example:8443", "https://berkas.example:99999"])
def test_bad_files_origin_names_the_key(value):
    with pytest.raises(config.ConfigError, match="document_files_origin"):
        config.build({"issuer": "https://idp.example", "document_files_origin": value})


def test_good_files_origin():
    assert config.build({"issuer": "https://idp.example", "document_files_origin": "https://berkas.example:8443"})
    assert config.build({"issuer": "http://127.0.0.1:5000", "debug": True,
                         "document_files_origin": "http://localhost:5000"})
