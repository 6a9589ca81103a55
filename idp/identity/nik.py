"""NIK (Nomor Induk Kependudukan) normalisation: pure functions, no I/O.

Full validation against Kemendagri region codes and the encoded birth date belongs to
the identity issue; here a NIK is 16 ASCII digits after removing separators. Unicode
digits (e.g. Arabic-Indic) are folded by NFKC only when they map to ASCII digits.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s.\-]")
_NIK = re.compile(r"[0-9]{16}")


class InvalidNIKError(ValueError):
    pass


def normalize_nik(raw: str) -> str:
    """Return the canonical 16-digit NIK or raise InvalidNIKError."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidNIKError("nik.format")
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not _NIK.fullmatch(value) or value[12:] == "0000":
        raise InvalidNIKError("nik.format")
    return value


def mask_nik(nik: str) -> str:
    """For display to the owner and logs that must refer to a NIK: keep the region prefix."""
    return nik[:6] + "*" * 6 + nik[-4:] if len(nik) == 16 else "*" * len(nik)
