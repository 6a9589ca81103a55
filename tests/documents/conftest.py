"""Fixtures of the document vault: the app with its blob store in a temporary directory,
a signed-in browser, uploads."""

from __future__ import annotations

import pytest

from idp import clock
from tests.conftest import _make_app, csrf_token
from tests.documents import files


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory, tmp_path):
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory, document_store_dir=str(tmp_path / "blobs"))
    yield app
    clock.reset()


@pytest.fixture
def blob_dir(app, tmp_path):
    return tmp_path / "blobs"


def sign_in(http, nik, password=None):
    from tests.conftest import PASSWORD

    resp = http.get("/account")
    assert "/interaction/" in resp.headers["Location"]
    page = http.get(resp.headers["Location"])
    resp = http.post(resp.headers["Location"], data={"nik": nik, "password": password or PASSWORD,
                                                      "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert resp.status_code == 303, resp.status_code
    return resp


KK = {"number": "3174010101900001", "holder_name": "Budi Santoso", "address": "Jl. Merdeka 1, Jakarta",
      "members": "Budi Santoso, kepala keluarga\nSiti Aminah, istri"}


def upload(http, filename="kk.png", data=None, type_code="kk", attributes=None, content_type="image/png"):
    import io

    page = http.get(f"/account/documents?type={type_code}").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "type": type_code}
    for k, v in (KK if attributes is None else attributes).items():
        form[f"attr_{k}"] = v
    form["file"] = (io.BytesIO(files.png() if data is None else data), filename, content_type)
    return http.post("/account/documents", data=form, content_type="multipart/form-data")


@pytest.fixture
def citizen(client, person):
    sign_in(client, person.nik)
    return person
