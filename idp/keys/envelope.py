"""AES-256-GCM encryption at rest (NIST SP 800-38D) under the key-encryption key.

Ciphertexts are ``version(1) || nonce(12) || ciphertext+tag``. The associated data
binds a ciphertext to its purpose and row, so a value copied to another column or row
does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(key[:32]).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != _VERSION:
        raise ValueError("unknown ciphertext version")
    return AESGCM(key[:32]).decrypt(blob[1:13], blob[13:], aad)


def decrypt_any(keys: list[bytes], blob: bytes, aad: bytes) -> bytes:
    """Decrypt with the first key that authenticates (current KEK, then the previous one
    during a KEK rotation)."""
    for key in keys:
        try:
            return decrypt(key, blob, aad)
        except InvalidTag:
            continue
    raise InvalidTag()


def decrypts_with(key: bytes, blob: bytes, aad: bytes) -> bool:
    try:
        decrypt(key, blob, aad)
        return True
    except InvalidTag:
        return False


def blind_index(key: bytes, value: str) -> str:
    """Keyed HMAC-SHA-256 of a normalised value, for equality lookups on encrypted data."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
