"""Where encrypted document files live: a small BlobStore interface.

Blobs are opaque ciphertexts (services.py encrypts before `put`), named by random names
unrelated to people or documents. `LocalStore` (the default) keeps them in a directory;
several nodes share it only through a shared file system, so a scale-out deployment uses
an S3-compatible object store instead (`S3Store`; `document_store = "s3"`).

Crash safety: `put` writes a temporary file, fsyncs it, renames it into place and fsyncs
the directory (POSIX rename is atomic), so a reader never sees half a blob. The database
row is committed after the blob; a blob whose row never arrived is an orphan that
`services.purge_orphan_blobs` removes after an hour.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

NAME_RE = re.compile(r"[0-9a-f]{32}")


class BlobStoreError(Exception):
    """The store failed (disk full, unreachable, ...)."""


class BlobStore(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` atomically. Raises BlobStoreError."""

    def get(self, name: str) -> bytes:
        """The blob. Raises BlobStoreError (also when it does not exist)."""

    def delete(self, name: str) -> None:
        """Remove the blob if it exists (idempotent)."""

    def names_older_than(self, seconds: int) -> Iterator[str]:
        """Names of blobs written more than ``seconds`` ago (for the orphan purge)."""


def new_name() -> str:
    return secrets.token_hex(16)


def _check_name(name: str) -> str:
    # Names are ours (new_name); anything else could walk out of the directory.
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BlobStoreError("invalid blob name")
    return name


class LocalStore:
    """Blobs as files in one directory (mode 0700), written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> None:
        _check_name(name)
        tmp = None
        try:
            self._ensure()
            fd, tmp = _mkstemp(self.root)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / name)
            tmp = None
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise BlobStoreError(f"cannot write blob: {exc.strerror}") from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def get(self, name: str) -> bytes:
        try:
            return (self.root / _check_name(name)).read_bytes()
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob: {exc.strerror}") from None

    def delete(self, name: str) -> None:
        try:
            (self.root / _check_name(name)).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blob: {exc.strerror}") from None

    def names_older_than(self, seconds: int) -> Iterator[str]:
        if not self.root.is_dir():
            return
        limit = time.time() - seconds
        with os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    old = entry.stat().st_mtime < limit
                except OSError:
                    continue
                if not old:
                    continue
                if NAME_RE.fullmatch(entry.name):
                    yield entry.name
                elif entry.name.startswith(".tmp-"):
                    # A temporary file of a write killed before its rename.
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass


def _mkstemp(root: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=".tmp-", dir=root)


class S3Store:
    """Blobs as objects in one bucket of an S3-compatible store (AWS S3, MinIO, ...), under
    ``prefix``. The service layer encrypts before `put`, so the store only ever holds
    ciphertext; bucket policy (private, in Indonesia per PP 71/2019, server-side encryption
    on top of ours) is the operator's.

    Crash safety: `put` is one PutObject (never multipart: files are at most a few MiB),
    and S3 makes an object visible only once the whole body arrived, so a failed or killed
    upload leaves nothing, and `If-None-Match: *` refuses to overwrite. Every call has
    connect/read timeouts and a bounded number of attempts; any failure becomes
    BlobStoreError (503 to the citizen, the row is never committed)."""

    CONNECT_TIMEOUT = 2
    READ_TIMEOUT = 5
    MAX_ATTEMPTS = 3  # in total, with botocore's "standard" backoff between them

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, max_attempts: int = MAX_ATTEMPTS):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(connect_timeout=self.CONNECT_TIMEOUT, read_timeout=self.READ_TIMEOUT,
                          retries={"mode": "standard", "max_attempts": max_attempts},
                          # Path-style works with every S3-compatible server (MinIO, Ceph).
                          s3={"addressing_style": "path"}),
        )

    def _key(self, name: str) -> str:
        return self.prefix + _check_name(name)

    def _call(self, what: str, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise BlobStoreError(f"cannot {what} blob: {code}") from None
        except BotoCoreError as exc:
            raise BlobStoreError(f"cannot {what} blob: {type(exc).__name__}") from None

    def put(self, name: str, data: bytes) -> None:
        self._call("write", self.client.put_object, Key=self._key(name), Body=data, IfNoneMatch="*",
                   ContentType="application/octet-stream")

    def get(self, name: str) -> bytes:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        resp = self._call("read", self.client.get_object, Key=self._key(name))
        try:
            return resp["Body"].read()
        except (BotoCoreError, HTTPError, OSError) as exc:  # the connection dropped while streaming the body
            raise BlobStoreError(f"cannot read blob: {type(exc).__name__}") from None
        finally:
            resp["Body"].close()

    def delete(self, name: str) -> None:
        # DeleteObject succeeds for a missing key: idempotent, as LocalStore.delete.
        self._call("delete", self.client.delete_object, Key=self._key(name))

    def names_older_than(self, seconds: int) -> Iterator[str]:
        limit = time.time() - seconds
        token = None
        while True:
            kwargs = {"Prefix": self.prefix, **({"ContinuationToken": token} if token else {})}
            page = self._call("list", self.client.list_objects_v2, **kwargs)
            for obj in page.get("Contents", ()):
                name = obj["Key"][len(self.prefix):]
                if NAME_RE.fullmatch(name) and obj["LastModified"].timestamp() < limit:
                    yield name
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]


def from_config(cfg: dict) -> BlobStore:
    """The store ``cfg`` names. Raises ConfigError (naming the key) when an environment
    variable holding the S3 credentials is not set."""
    from idp.config import ConfigError, resolve_path

    if cfg["document_store"] != "s3":
        return LocalStore(resolve_path(cfg["document_store_dir"]))
    creds = {}
    for key in ("document_s3_access_key_env", "document_s3_secret_key_env"):
        if cfg[key]:
            creds[key] = os.environ.get(cfg[key], "")
            if not creds[key]:
                raise ConfigError(f"config key {key!r}: environment variable {cfg[key]} is not set")
    return S3Store(cfg["document_s3_bucket"], prefix=cfg["document_s3_prefix"],
                   endpoint_url=cfg["document_s3_endpoint_url"], region=cfg["document_s3_region"],
                   access_key=creds.get("document_s3_access_key_env"), secret_key=creds.get("document_s3_secret_key_env"))
