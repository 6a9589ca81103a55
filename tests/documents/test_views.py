"""The vault's account pages over HTTP: upload, list, download, delete, limits and
failures (SECURITY.md T70-T72, "Uploads", "Request limits")."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from idp import clock
from idp.documents import services
from idp.documents.models import Document
from idp.extensions import db
from tests.conftest import csrf_token
from tests.documents import files
from tests.documents.conftest import KK, sign_in, upload


def _docs(app, person_id):
    with app.app_context():
        return list(db.session.execute(select(Document).where(Document.person_id == person_id)).scalars())


def _blobs(blob_dir):
    return sorted(p.name for p in blob_dir.iterdir()) if blob_dir.exists() else []


def test_pages_need_sign_in(client):
    for path in ("/account/documents", "/account/data-access"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]


def test_upload_list_download(app, client, citizen, blob_dir):
    page = client.get("/account/documents?type=kk").get_data(as_text=True)
    assert 'accept="application/pdf,image/jpeg,image/png"' in page and "capture" in page
    assert 'enctype="multipart/form-data"' in page and 'name="attr_members"' in page
    resp = upload(client, "kk.jpg", files.jpeg(), content_type="image/jpeg")
    assert resp.status_code == 303
    [doc] = _docs(app, citizen.id)
    assert doc.provenance == "uploaded" and doc.content_type == "image/jpeg" and doc.pixels == 64 * 48
    # Encrypted at rest: neither the attributes nor the image are readable in the row or file.
    [blob] = _blobs(blob_dir)
    stored = (blob_dir / blob).read_bytes()
    assert b"\xff\xd8\xff" not in stored[:16] and b"Budi" not in stored
    assert b"Budi" not in doc.attributes_encrypted and b"3174010101900001" not in doc.attributes_encrypted
    with app.app_context():
        assert services.attributes(doc)["members"] == ["Budi Santoso, kepala keluarga", "Siti Aminah, istri"]
    listing = client.get("/account/documents").get_data(as_text=True)
    assert "Kartu Keluarga (KK)" in listing and "Diunggah oleh Anda" in listing or "Uploaded by you" in listing
    got = client.get(f"/account/documents/{doc.public_id}/file")
    assert got.status_code == 200 and got.data.startswith(b"\xff\xd8\xff") and b"KameraMerek" not in got.data
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"] and got.headers["Content-Type"] == "image/jpeg"


def test_other_citizens_document_is_404(app, client, create_person, citizen):
    assert upload(client).status_code == 303
    [doc] = _docs(app, citizen.id)
    other = create_person()
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    sign_in(http, other.nik)
    assert http.get(f"/account/documents/{doc.public_id}/file").status_code == 404
    page = http.get("/account/documents?type=kk").get_data(as_text=True)
    assert http.post(f"/account/documents/{doc.public_id}/delete", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert _docs(app, citizen.id)[0].deleted_at is None


@pytest.mark.parametrize(
    "filename,data,content_type",
    [
        ("ktp.pdf", files.HTML, "application/pdf"),
        ("ktp.pdf", files.pdf(js=True), "application/pdf"),
        ("ktp.pdf", files.pdf(open_action=True), "application/pdf"),
        ("ktp.pdf", files.pdf(encrypted=True), "application/pdf"),
        ("ktp.pdf", files.pdf(embedded=True), "application/pdf"),
        ("ktp.pdf", files.pdf(51), "application/pdf"),
        ("ktp.pdf.html", files.pdf(), "application/pdf"),
        ("ktp.svg", files.SVG, "image/svg+xml"),
        ("ktp.zip", files.zip_file(), "application/zip"),
        ("ktp.png", files.png() + files.HTML, "image/png"),
        ("ktp.png", files.png_header_only(50_000, 50_000), "image/png"),
    ],
)
def test_hostile_files_are_415_and_leave_nothing(app, client, citizen, blob_dir, filename, data, content_type):
    resp = upload(client, filename, data, content_type=content_type)
    assert resp.status_code == 415
    assert "PDF, JPEG" in resp.get_data(as_text=True)
    assert _docs(app, citizen.id) == [] and _blobs(blob_dir) == []


def test_file_over_10_mib_is_413(app, client, citizen, blob_dir):
    resp = upload(client, "ktp.pdf", b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024), content_type="application/pdf")
    assert resp.status_code == 413
    assert _docs(app, citizen.id) == [] and _blobs(blob_dir) == []


def test_body_over_11_mib_is_413_before_reading(client, citizen):
    page = client.get("/account/documents?type=kk").get_data(as_text=True)
    body = io.BytesIO(b"%PDF-" + b"0" * (11 * 1024 * 1024 + 1))
    resp = client.post("/account/documents", data={"csrf_token": csrf_token(page), "type": "kk", "file": (body, "k.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413


def test_other_routes_keep_the_64_kib_limit(client, citizen):
    page = client.get("/account").get_data(as_text=True)
    resp = client.post("/account/sessions/end", data={"csrf_token": csrf_token(page), "sid": "x" * (70 * 1024)})
    assert resp.status_code == 413


def test_too_many_parts_is_refused(client, citizen):
    page = client.get("/account/documents?type=kk").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "type": "kk", **{f"x{i}": "1" for i in range(30)}}
    resp = client.post("/account/documents", data=data, content_type="multipart/form-data")
    assert resp.status_code in (400, 413)


def test_csrf_is_checked_on_upload(client, citizen):
    resp = client.post("/account/documents", data={"type": "kk", "file": (io.BytesIO(files.png()), "k.png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 403


def test_missing_attribute_is_400(app, client, citizen):
    resp = upload(client, attributes={**KK, "holder_name": ""})
    assert resp.status_code == 400 and _docs(app, citizen.id) == []


def test_quota_files(app, client, citizen, blob_dir):
    with app.app_context():
        for _ in range(app.config["IDP"]["document_max_files"]):
            services.upload(citizen.id, "kk", KK, "kk.png", files.png())
    resp = upload(client)
    assert resp.status_code == 413
    assert len(_docs(app, citizen.id)) == 20 and len(_blobs(blob_dir)) == 20


def test_quota_bytes(app, client, citizen, blob_dir):
    app.config["IDP"]["document_quota_bytes"] = len(files.pdf(2)) + 10
    assert upload(client, "a.pdf", files.pdf(2), content_type="application/pdf").status_code == 303
    resp = upload(client, "b.pdf", files.pdf(2), content_type="application/pdf")
    assert resp.status_code == 413 and len(_blobs(blob_dir)) == 1


def test_database_failure_leaves_no_orphan(app, client, citizen, blob_dir, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def boom(*a, **k):
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    monkeypatch.setattr(db.session, "commit", boom, raising=False)
    with app.app_context():
        monkeypatch.setattr(type(db.session()), "commit", boom)
        with pytest.raises(OperationalError):
            services.upload(citizen.id, "kk", KK, "kk.png", files.png())
    monkeypatch.undo()
    assert _docs(app, citizen.id) == [] and _blobs(blob_dir) == []


def test_store_failure_is_503_and_leaves_nothing(app, client, citizen, blob_dir, monkeypatch):
    from idp.documents import storage

    def full(self, name, data):
        raise storage.BlobStoreError("cannot write blob: No space left on device")

    monkeypatch.setattr(storage.LocalStore, "put", full)
    resp = upload(client)
    assert resp.status_code == 503 and _docs(app, citizen.id) == [] and _blobs(blob_dir) == []


def test_orphans_are_purged_after_an_hour(app, blob_dir, citizen):
    import os
    import time

    from idp.ops import purge

    with app.app_context():
        kept = services.upload(citizen.id, "kk", KK, "kk.png", files.png())
        bs = services.blob_store()
        bs.put("0" * 32, b"left by a killed process")
        bs.put("1" * 32, b"fresh: its row may still be on its way")
        old = time.time() - 7200
        os.utime(blob_dir / ("0" * 32), (old, old))
        os.utime(blob_dir / kept.blob_name, (old, old))
        (blob_dir / ".tmp-abc").write_bytes(b"half")
        os.utime(blob_dir / ".tmp-abc", (old, old))
        counts = purge.purge()
        assert counts["orphan document files"] == 1
    assert _blobs(blob_dir) == sorted(["1" * 32, kept.blob_name])


def test_delete_needs_recent_auth_and_erases(app, client, citizen, blob_dir):
    assert upload(client).status_code == 303
    [doc] = _docs(app, citizen.id)
    page = client.get("/account/documents").get_data(as_text=True)
    clock.advance(901)
    try:
        resp = client.post(f"/account/documents/{doc.public_id}/delete", data={"csrf_token": csrf_token(page)})
        assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
        assert _docs(app, citizen.id)[0].deleted_at is None
    finally:
        clock.reset()
    resp = client.post(f"/account/documents/{doc.public_id}/delete", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    [gone] = _docs(app, citizen.id)
    assert gone.deleted_at and gone.data_key_wrapped is None and gone.attributes_encrypted is None
    assert _blobs(blob_dir) == []
    assert client.get(f"/account/documents/{doc.public_id}/file").status_code == 404


def test_expired_document_says_so(app, client, citizen):
    attrs = {"number": "SIM-1", "holder_name": "Budi", "class": "C", "expires_on": "2020-01-31"}
    assert upload(client, type_code="sim", attributes=attrs).status_code == 303
    page = client.get("/account/documents").get_data(as_text=True)
    assert "Kedaluwarsa" in page or "Expired" in page


def test_kek_rewrap_covers_document_keys(app, citizen):
    import os

    from idp.keys import lifecycle

    with app.app_context():
        doc = services.upload(citizen.id, "kk", KK, "kk.png", files.png())
        secrets_ = app.extensions["idp_secrets"]
        old = secrets_["kek"]
        secrets_["kek"], secrets_["kek_previous"] = os.urandom(32), old
        try:
            assert lifecycle.rewrap(actor="test") >= 1
            secrets_.pop("kek_previous")
            db.session.expire_all()
            assert services.attributes(db.session.get(Document, doc.id))["number"] == KK["number"]
        finally:
            secrets_["kek"] = old
            secrets_.pop("kek_previous", None)
