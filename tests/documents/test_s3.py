"""The vault on an S3-compatible object store (`document_store = "s3"`), against a real
local S3 server (moto's, over HTTP on 127.0.0.1): the same flows as test_views.py with
LocalStore, the same guarantees when the store fails (issue #6: no orphan, nothing
half-visible, 503 to the citizen)."""

from __future__ import annotations

import socket
import time
import types
import uuid

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from idp import clock, config
from idp.documents import services, storage
from idp.documents.models import Document
from idp.extensions import db
from tests.conftest import _make_app, csrf_token
from tests.documents import files
from tests.documents.conftest import KK, upload

ACCESS, SECRET = "AKIATESTSATUAKUN", "test-secret-not-real"
PREFIX = "documents/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """A moto S3 server on a fixed port, so it can be stopped and started again."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def s3_server():
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server):
    # moto keeps its state per process, across servers: a fresh bucket per test.
    name = f"satuakun-{uuid.uuid4().hex[:12]}"
    _raw(s3_server).create_bucket(Bucket=name)
    return name


def _raw(s3_server):
    """A plain boto3 client: what an operator (or an attacker with the bucket) sees."""
    return boto3.session.Session().client(
        "s3", endpoint_url=s3_server.url, region_name="us-east-1", aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def _objects(s3_server, bucket) -> list[str]:
    resp = _raw(s3_server).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in resp.get("Contents", ()))


def _s3_settings(s3_server, bucket) -> dict:
    return {"document_store": "s3", "document_s3_endpoint_url": s3_server.url, "document_s3_bucket": bucket,
            "document_s3_region": "us-east-1", "document_s3_prefix": PREFIX}


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory, tmp_path, s3_server, bucket, monkeypatch):
    monkeypatch.setenv("IDP_DOCUMENT_S3_ACCESS_KEY", ACCESS)
    monkeypatch.setenv("IDP_DOCUMENT_S3_SECRET_KEY", SECRET)
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory, document_store_dir=str(tmp_path / "blobs"),
                    **_s3_settings(s3_server, bucket))
    # Fail fast when the server is down (production: storage.S3Store.MAX_ATTEMPTS).
    app.extensions["idp_blob_store"].client.meta.config.retries = {"mode": "standard", "max_attempts": 1}
    yield app
    clock.reset()


def _docs(app, person_id):
    with app.app_context():
        return list(db.session.execute(select(Document).where(Document.person_id == person_id)).scalars())


def _store(s3_server, bucket, **kw) -> storage.S3Store:
    return storage.S3Store(bucket, prefix=PREFIX, endpoint_url=s3_server.url, region="us-east-1",
                           access_key=ACCESS, secret_key=SECRET, **kw)


# -- the store on its own ------------------------------------------------------------------------
def test_s3_store_contract(s3_server, bucket, monkeypatch):
    bs = _store(s3_server, bucket)
    name = storage.new_name()
    bs.put(name, b"ciphertext")
    assert bs.get(name) == b"ciphertext"
    assert _objects(s3_server, bucket) == [PREFIX + name]
    with pytest.raises(storage.BlobStoreError, match="PreconditionFailed"):
        bs.put(name, b"other")  # If-None-Match: * never overwrites a blob
    assert bs.get(name) == b"ciphertext"
    bs.delete(name)
    bs.delete(name)  # idempotent
    with pytest.raises(storage.BlobStoreError, match="NoSuchKey"):
        bs.get(name)
    for bad in ("../etc/passwd", "A" * 32, "", "0" * 31):
        with pytest.raises(storage.BlobStoreError):
            bs.put(bad, b"x")
    assert _objects(s3_server, bucket) == []


def test_s3_listing_by_age(s3_server, bucket, monkeypatch):
    bs = _store(s3_server, bucket)
    names = sorted(storage.new_name() for _ in range(3))
    for name in names:
        bs.put(name, b"x")
    raw = _raw(s3_server)
    raw.put_object(Bucket=bucket, Key="elsewhere/" + "f" * 32, Body=b"not ours")  # outside the prefix
    raw.put_object(Bucket=bucket, Key=PREFIX + "README", Body=b"not a blob name")
    assert list(bs.names_older_than(3600)) == []
    later = time.time() + 7200
    monkeypatch.setattr(storage, "time", types.SimpleNamespace(time=lambda: later))
    assert sorted(bs.names_older_than(3600)) == names


def test_s3_server_down_is_a_store_error(s3_server, bucket):
    bs = _store(s3_server, bucket, max_attempts=2)
    s3_server.stop()
    name = storage.new_name()
    for call in (lambda: bs.put(name, b"x"), lambda: bs.get(name), lambda: bs.delete(name),
                 lambda: list(bs.names_older_than(0))):
        with pytest.raises(storage.BlobStoreError, match="EndpointConnectionError"):
            call()


# -- configuration --------------------------------------------------------------------------------
S3 = {"issuer": "https://idp.example", "document_store": "s3", "document_s3_bucket": "satuakun-docs"}


@pytest.mark.parametrize("overrides,key", [
    ({"document_store": "gcs"}, "document_store"),
    ({"document_s3_bucket": ""}, "document_s3_bucket"),
    ({"document_s3_bucket": "Bad_Bucket"}, "document_s3_bucket"),
    ({"document_s3_region": ""}, "document_s3_region"),
    ({"document_s3_endpoint_url": "http://minio.dc.example:9000"}, "document_s3_endpoint_url"),
    ({"document_s3_endpoint_url": "https://user:pw@minio.dc.example"}, "document_s3_endpoint_url"),
    ({"document_s3_endpoint_url": "https://minio.dc.example:99999"}, "document_s3_endpoint_url"),
    ({"document_s3_access_key_env": "NOT A NAME"}, "document_s3_access_key_env"),
    ({"document_s3_secret_key_env": ""}, "document_s3_secret_key_env"),
    ({"document_s3_prefix": "/docs"}, "document_s3_prefix"),
    ({"document_s3_prefix": "docs"}, "document_s3_prefix"),
])
def test_bad_s3_setting_names_the_key(overrides, key):
    with pytest.raises(config.ConfigError, match=key):
        config.build({**S3, **overrides})


def test_good_s3_settings():
    assert config.build({**S3, "document_s3_endpoint_url": "https://minio.dc.example:9000"})["document_store"] == "s3"
    assert config.build({**S3, "document_s3_endpoint_url": "http://127.0.0.1:9000"})
    assert config.build({**S3, "document_s3_access_key_env": "", "document_s3_secret_key_env": "", "document_s3_prefix": ""})
    assert config.build({**S3, "document_s3_endpoint_url": "http://minio:9000", "debug": True,
                         "issuer": "http://127.0.0.1:5000"})


def test_unset_credentials_variable_stops_start_up(monkeypatch):
    monkeypatch.delenv("IDP_DOCUMENT_S3_ACCESS_KEY", raising=False)
    monkeypatch.setenv("IDP_DOCUMENT_S3_SECRET_KEY", SECRET)
    with pytest.raises(config.ConfigError, match="document_s3_access_key_env"):
        storage.from_config(config.build(S3))
    monkeypatch.setenv("IDP_DOCUMENT_S3_ACCESS_KEY", ACCESS)
    assert isinstance(storage.from_config(config.build(S3)), storage.S3Store)


# -- the vault over HTTP, as test_views.py with LocalStore ----------------------------------------
def test_upload_download_delete(app, client, citizen, s3_server, bucket):
    original = files.pdf(2)
    assert upload(client, "kk.pdf", original, content_type="application/pdf").status_code == 303
    [doc] = _docs(app, citizen.id)
    assert _objects(s3_server, bucket) == [PREFIX + doc.blob_name]
    # Encrypted at rest: the object is ciphertext, not the PDF, not the attributes.
    stored = _raw(s3_server).get_object(Bucket=bucket, Key=PREFIX + doc.blob_name)["Body"].read()
    assert b"%PDF" not in stored and b"Budi" not in stored and original not in stored
    got = client.get(f"/account/documents/{doc.public_id}/file")
    assert got.status_code == 200 and got.data == original
    assert got.headers["Content-Type"] == "application/pdf"
    # Delete (needs a recent sign-in, as in test_views.py) removes the object.
    page = client.get("/account/documents").get_data(as_text=True)
    resp = client.post(f"/account/documents/{doc.public_id}/delete", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 303
    assert _objects(s3_server, bucket) == []
    [doc] = _docs(app, citizen.id)
    assert doc.deleted_at is not None and doc.blob_name is None


def test_hostile_file_and_quota_leave_nothing(app, client, citizen, s3_server, bucket):
    assert upload(client, "x.html", b"<html><script>alert(1)</script>", content_type="text/html").status_code == 415
    assert _objects(s3_server, bucket) == []
    app.config["IDP"]["document_max_files"] = 1
    assert upload(client).status_code == 303
    assert upload(client).status_code == 413
    assert len(_objects(s3_server, bucket)) == 1 and len(_docs(app, citizen.id)) == 1


def test_database_failure_leaves_no_orphan(app, citizen, s3_server, bucket, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def boom(*a, **k):
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    with app.app_context():
        monkeypatch.setattr(type(db.session()), "commit", boom)
        with pytest.raises(OperationalError):
            services.upload(citizen.id, "kk", KK, "kk.png", files.png())
    monkeypatch.undo()
    assert _docs(app, citizen.id) == [] and _objects(s3_server, bucket) == []


def test_store_down_is_503_and_leaves_nothing(app, client, citizen, s3_server, bucket):
    page = client.get("/account/documents?type=kk")  # signed in, form loaded: then the store goes away
    assert page.status_code == 200
    s3_server.stop()
    resp = upload(client)
    assert resp.status_code == 503 and _docs(app, citizen.id) == []
    s3_server.start()  # moto keeps the bucket: nothing half-written arrived in it
    assert _objects(s3_server, bucket) == []
    assert upload(client).status_code == 303


def test_orphans_are_purged_after_an_hour(app, citizen, s3_server, bucket, monkeypatch):
    from idp.ops import purge

    with app.app_context():
        kept = services.upload(citizen.id, "kk", KK, "kk.png", files.png())
        bs = services.blob_store()
        bs.put("0" * 32, b"left by a process killed before its commit")
        assert purge.purge()["orphan document files"] == 0  # young: its row may still be on its way
        later = time.time() + 7200
        monkeypatch.setattr(storage, "time", types.SimpleNamespace(time=lambda: later))
        assert purge.purge()["orphan document files"] == 1
    assert _objects(s3_server, bucket) == [PREFIX + kept.blob_name]
