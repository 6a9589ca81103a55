"""Faults and privacy: database down (T99), bounded hashing (T89), nothing secret in logs (T92)."""

import logging

import pytest

from tests.conftest import PASSWORD


@pytest.mark.parametrize("url", ["sqlite:////nonexistent/dir/idp.sqlite3", "postgresql+psycopg://postgres@127.0.0.1:1/idp"])
def test_T99_database_down_gives_503(keys_dir, url):
    from idp import create_app
    from tests.conftest import base_config

    app = create_app(base_config(keys_dir, url))
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    page = http.get("/authorize?client_id=rp-test&response_type=code")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Traceback" not in page.get_data(as_text=True) and 'role="alert"' in page.get_data(as_text=True)
    api = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "rp-test"})
    assert api.status_code == 503 and api.get_json()["error"] == "temporarily_unavailable"
    assert http.get("/healthz").status_code == 503


def test_T89_hashing_is_bounded(app):
    from idp.authn import passwords

    with app.app_context():
        slot = passwords._slot()
        size = app.config["IDP"]["max_concurrent_hashes"]
        for _ in range(size):
            slot.acquire()
        try:
            with pytest.raises(passwords.HashingBusyError):
                passwords.verify_password(None, "x", wait=0)
        finally:
            for _ in range(size):
                slot.release()


def test_T92_no_secrets_in_logs(caplog, flow, person):
    caplog.set_level(logging.DEBUG)
    tok = flow.token(flow.run(person.nik)["code"]).get_json()
    flow.login(flow.authorize(prompt="login"), person.nik, password="Wrong-" + PASSWORD)
    flow.http.get("/userinfo", headers={"Authorization": "Bearer " + tok["access_token"]})
    text = caplog.text
    for secret in (person.nik, PASSWORD, tok["access_token"], tok["refresh_token"], tok["id_token"], flow.secret):
        assert secret not in text


def test_T42_oversized_login_body_is_413_page(flow, person):
    resp = flow.authorize()
    big = flow.http.post(resp.headers["Location"], data={"nik": person.nik, "password": "x" * (1024 * 1024)})
    assert big.status_code == 413 and "text/html" in big.headers["Content-Type"]
    assert 'lang="id"' in big.get_data(as_text=True)
