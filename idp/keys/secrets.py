"""Named server secrets, one per purpose (STYLE.md "one secret per purpose").

Each secret is 32 random bytes, read from the environment variable
``IDP_SECRET_<NAME>`` (base64url) or from ``<keys_dir>/<name>.key``. Files are created
by ``idp init`` with mode 0600 when missing. Secrets are never logged.

- ``kek``: key-encryption key; wraps signing keys and encrypts NIKs (AES-256-GCM).
- ``nik_index``: HMAC-SHA-256 key of the NIK blind index.
- ``pairwise``: salt of pairwise subject identifiers (OIDC Core §8.1).
- ``session``: Flask secret (CSRF tokens).
- ``kek_previous`` (optional): the old KEK while `idp keys rewrap` moves data to a new one.
"""

from __future__ import annotations

import base64
import os
import secrets as _secrets
from pathlib import Path

NAMES = ("kek", "nik_index", "pairwise", "session")


class MissingSecretError(RuntimeError):
    pass


def _decode(raw: str) -> bytes:
    raw = raw.strip()
    value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    if len(value) < 32:
        raise MissingSecretError("secret shorter than 32 bytes")
    return value


def load(keys_dir: Path, name: str) -> bytes:
    env = os.environ.get(f"IDP_SECRET_{name.upper()}")
    if env:
        return _decode(env)
    path = keys_dir / f"{name}.key"
    try:
        return _decode(path.read_text())
    except FileNotFoundError:
        raise MissingSecretError(
            f"secret {name!r} not found: set IDP_SECRET_{name.upper()} or run 'idp init' "
            f"to create {path}"
        ) from None


def ensure(keys_dir: Path) -> list[str]:
    """Create missing secret files (0600). Returns the names created."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for name in NAMES:
        if os.environ.get(f"IDP_SECRET_{name.upper()}"):
            continue
        path = keys_dir / f"{name}.key"
        if path.exists():
            continue
        value = base64.urlsafe_b64encode(_secrets.token_bytes(32)).decode().rstrip("=")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        created.append(name)
    return created


OPTIONAL = ("kek_previous",)


def load_all(keys_dir: Path) -> dict[str, bytes]:
    """Every required secret, plus ``kek_previous`` when a KEK rotation is in progress."""
    out = {name: load(keys_dir, name) for name in NAMES}
    for name in OPTIONAL:
        try:
            out[name] = load(keys_dir, name)
        except MissingSecretError:
            pass
    return out
