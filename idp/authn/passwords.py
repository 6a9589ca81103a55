"""Password hashing with argon2id (RFC 9106), OWASP parameters, bounded concurrency.

Each verify holds `argon2_memory_cost` KiB; a per-process semaphore caps concurrent
hashes so a login flood gets 503 + Retry-After instead of exhausting memory
(SECURITY.md T89). Rehash on login when parameters change.
"""

from __future__ import annotations

import threading
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

MAX_PASSWORD_LENGTH = 128


class HashingBusyError(Exception):
    """All hashing slots are taken; the caller answers 503 with Retry-After."""

    retry_after = 1


_state = threading.local()
_semaphores: dict[int, threading.BoundedSemaphore] = {}
_lock = threading.Lock()


def _hasher() -> PasswordHasher:
    cfg = current_app.config["IDP"]
    return PasswordHasher(
        time_cost=cfg["argon2_time_cost"],
        memory_cost=cfg["argon2_memory_cost"],
        parallelism=cfg["argon2_parallelism"],
        hash_len=32,
        salt_len=16,
    )


def _slot() -> threading.BoundedSemaphore:
    size = current_app.config["IDP"]["max_concurrent_hashes"]
    with _lock:
        if size not in _semaphores:
            _semaphores[size] = threading.BoundedSemaphore(size)
        return _semaphores[size]


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher().hash(normalize(password))


# A real hash of a random value: unknown accounts are verified against it so that an
# unknown NIK costs the same time as a wrong password (SECURITY.md T36).
_DUMMY = {}


def _dummy_hash() -> str:
    hasher = _hasher()
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY:
        _DUMMY[key] = hasher.hash("dummy-password-for-timing-equalisation")
    return _DUMMY[key]


def verify_password(stored_hash: str | None, password: str, *, wait: float = 2.0) -> tuple[bool, str | None]:
    """Verify ``password``; returns (ok, new_hash_if_parameters_changed).

    Raises HashingBusyError when no hashing slot frees up within ``wait`` seconds.
    """
    if len(password) > MAX_PASSWORD_LENGTH * 4:
        return False, None
    slot = _slot()
    if not slot.acquire(timeout=wait):
        raise HashingBusyError()
    try:
        hasher = _hasher()
        candidate = normalize(password)
        if not stored_hash:
            try:
                hasher.verify(_dummy_hash(), candidate)
            except VerificationError:
                pass
            return False, None
        try:
            hasher.verify(stored_hash, candidate)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, None
        if hasher.check_needs_rehash(stored_hash):
            return True, hasher.hash(candidate)
        return True, None
    finally:
        slot.release()
