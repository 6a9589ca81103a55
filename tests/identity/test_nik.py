"""NIK parsing and validation (idp/identity/nik.py): pure functions, real Kemendagri codes."""

import dataclasses
import datetime
import traceback
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from idp.identity.nik import ERROR_CODES, InvalidNIKError, ParsedNIK, check_nik_birthdate, normalize_nik, parse_nik
from idp.web.messages import MESSAGES

PO = Path(__file__).resolve().parents[2] / "idp" / "translations" / "id" / "LC_MESSAGES" / "messages.po"


@pytest.mark.parametrize(
    ("raw", "value", "province", "regency", "district", "day", "month", "yy", "female", "serial"),
    [
        # Kota Jakarta Selatan, Tebet: the tests' default citizen, a man born 1 January 1990
        ("3174010101900001", "3174010101900001", "31", "31.74", "31.74.01", 1, 1, 90, False, "0001"),
        # Kota Semarang, Semarang Tengah: the demo citizen, a woman (day 41 = 1 + 40)
        ("3374014101900001", "3374014101900001", "33", "33.74", "33.74.01", 1, 1, 90, True, "0001"),
        # Aceh Barat, Arongan Lambalek: a woman born 5 December 1985
        ("1105074512850123", "1105074512850123", "11", "11.05", "11.05.07", 5, 12, 85, True, "0123"),
        # Papua Selatan (93, created 2022), Merauke: 29 February 2000 (2000 is a leap year)
        ("9301012902000007", "9301012902000007", "93", "93.01", "93.01.01", 29, 2, 0, False, "0007"),
        # Papua, Kab. Jayapura, Sentani: a woman born 29 February 1996
        ("9103016902960001", "9103016902960001", "91", "91.03", "91.03.01", 29, 2, 96, True, "0001"),
        # Papua Tengah (94), Mimika; highest day and month, serial 9999
        ("9404013112999999", "9404013112999999", "94", "94.04", "94.04.01", 31, 12, 99, False, "9999"),
        # Kalimantan Utara (65), Bulungan; born in 2007
        ("6501017107070003", "6501017107070003", "65", "65.01", "65.01.01", 31, 7, 7, True, "0003"),
    ],
)
def test_parse_valid(raw, value, province, regency, district, day, month, yy, female, serial):
    parsed = parse_nik(raw)
    assert parsed == ParsedNIK(value, province, regency, district, day, month, yy, female, serial)


@pytest.mark.parametrize(
    "raw",
    [
        "3174 0101 0190 0001",
        " 3174010101900001 ",
        "3174.0101.0190.0001",
        "3174-0101-0190-0001",
        "31.74.01-010190-0001",
        "3174\u00a00101\u00a00190\u00a00001",  # NBSP, as pasted from a web page
        "3174\u202f0101\u30000190 0001",  # narrow NBSP, ideographic space
        "3174\u200b0101\u200c0190\u200d0001\ufeff",  # zero-width characters
        "3174\u20130101\u20140190\u22120001",  # en dash, em dash, minus sign
        "３１７４０１０１０１９００００１",  # full-width
        "３１７４．０１０１－０１９０　０００１",  # full-width dot, hyphen, space
        "٣١٧٤٠١٠١٠١٩٠٠٠٠١",  # Arabic-Indic
        "۳۱۷۴۰۱۰۱۰۱۹۰۰۰۰۱",  # Extended Arabic-Indic (Persian keyboards)
        "३१७४०१०१०१९००००१",  # Devanagari
        "𝟑𝟏𝟕𝟒𝟎𝟏𝟎𝟏𝟎𝟏𝟗𝟎𝟎𝟎𝟎𝟏",  # mathematical bold
    ],
)
def test_normalize_folds_digits_and_separators(raw):
    assert normalize_nik(raw) == "3174010101900001"
    assert parse_nik(raw).value == "3174010101900001"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # form: 16 digits, nothing else
        ("", "nik.format"),
        ("317401010190001", "nik.format"),  # 15 digits
        ("31740101019000011", "nik.format"),  # 17 digits
        ("317401010190000A", "nik.format"),
        ("3174O10101900001", "nik.format"),  # letter O for zero
        ("3174010101900001😀", "nik.format"),
        ("' OR 1=1--", "nik.format"),
        ("3174010101900001' OR 1=1--", "nik.format"),
        ("{{7*7}}", "nik.format"),
        ("3174010101900001\n[INFO] login ok", "nik.format"),
        ("3174010101900001\n", "nik.format"),  # control characters are refused, not stripped
        ("3174\t0101\t0190\t0001", "nik.format"),
        ("3174010101900001\x00", "nik.format"),
        ("3174/0101/0190/0001", "nik.format"),
        ("+3174010101900001", "nik.format"),
        ("3174010101900001" + "\u0301", "nik.format"),  # combining accent
        ("1" * 65, "nik.format"),  # over the input cap, refused unread
        (" " * 49 + "3174010101900001", "nik.format"),  # 65 characters; 64 would pass
        (None, "nik.format"),
        (3174010101900001, "nik.format"),
        # region: province, kabupaten/kota and kecamatan must all exist
        ("0074010101900001", "nik.region"),  # province 00
        ("9974010101900001", "nik.region"),  # province 99
        ("3199010101900001", "nik.region"),  # no kabupaten/kota 99 in DKI Jakarta
        ("3174990101900001", "nik.region"),  # no kecamatan 99 in Jakarta Selatan
        ("3174110101900001", "nik.region"),  # Jakarta Selatan has kecamatan 01-10
        ("0000000000000000", "nik.region"),  # region is checked before date and serial
        # date of birth in digits 7-12
        ("3174010001900001", "nik.birthdate"),  # day 00
        ("3174013201900001", "nik.birthdate"),  # day 32
        ("3174014001900001", "nik.birthdate"),  # day 40 (= woman, day 0)
        ("3174017201900001", "nik.birthdate"),  # day 72 (= woman, day 32)
        ("3174010100900001", "nik.birthdate"),  # month 00
        ("3174010113900001", "nik.birthdate"),  # month 13
        ("3174013104900001", "nik.birthdate"),  # 31 April
        ("3174013002000001", "nik.birthdate"),  # 30 February
        ("3174012902010001", "nik.birthdate"),  # 29 February in neither 1901 nor 2001
        ("3174016902900001", "nik.birthdate"),  # a woman, 29 February 1990 / 2090
        ("3174010000900000", "nik.birthdate"),  # date is checked before serial
        # serial
        ("3174010101900000", "nik.serial"),
        ("3374014101900000", "nik.serial"),
    ],
)
def test_parse_invalid(raw, code):
    with pytest.raises(InvalidNIKError) as exc_info:
        parse_nik(raw)
    assert exc_info.value.code == code
    assert exc_info.value.args == (code,)


def test_input_cap_is_64_characters():
    assert normalize_nik(" " * 48 + "3174010101900001") == "3174010101900001"


@pytest.mark.parametrize(
    ("raw", "birthdate"),
    [
        ("3174010101900001", "1990-01-01"),
        ("3174010101900001", datetime.date(1990, 1, 1)),
        ("3374014101900001", "1990-01-01"),  # woman: day 41 is the 1st
        ("9301012902000007", "2000-02-29"),
        ("9103016902960001", datetime.date(1996, 2, 29)),
        ("6501017107070003", "2007-07-31"),
        ("3174 0101 0190 0001", "1990-01-01"),
    ],
)
def test_birthdate_matches(raw, birthdate):
    check_nik_birthdate(raw, birthdate)
    check_nik_birthdate(parse_nik(raw), birthdate)


@pytest.mark.parametrize(
    ("raw", "birthdate"),
    [
        ("3174010101900001", "1990-01-02"),  # day
        ("3174010101900001", "1990-02-01"),  # month
        ("3174010101900001", "1991-01-01"),  # year
        ("3174010101900001", "1901-01-01"),  # month and day swapped in the year's place
        ("3374014101900001", "1990-01-11"),  # woman's day read without the -40
        ("3174010101900001", datetime.date(2000, 1, 1)),
    ],
)
def test_birthdate_mismatch(raw, birthdate):
    with pytest.raises(InvalidNIKError) as exc_info:
        check_nik_birthdate(raw, birthdate)
    assert exc_info.value.code == "nik.birthdate_mismatch"


def test_birthdate_check_parses_raw_input_first():
    with pytest.raises(InvalidNIKError) as exc_info:
        check_nik_birthdate("3174010101900000", "1990-01-01")
    assert exc_info.value.code == "nik.serial"


@pytest.mark.parametrize("birthdate", ["1990-13-01", "01-01-1990", ""])
def test_birthdate_check_rejects_a_non_date(birthdate):
    with pytest.raises(ValueError) as exc_info:
        check_nik_birthdate("3174010101900001", birthdate)
    assert not isinstance(exc_info.value, InvalidNIKError)


@pytest.mark.parametrize(
    ("raw", "birthdate"),
    [
        ("317401010190001", None),
        ("3174010101900001😀", None),
        ("3174990101900001", None),
        ("3174013201900001", None),
        ("3174012902010001", None),
        ("3174010101900000", None),
        ("3174 0101 0190 0000", None),
        ("3174010101900001", "1991-01-01"),
    ],
)
def test_errors_never_carry_the_nik(raw, birthdate):
    # SECURITY.md T92: the exception text, args and traceback are safe to log.
    digits = "".join(ch for ch in raw if ch.isdigit())
    with pytest.raises(InvalidNIKError) as exc_info:
        if birthdate is None:
            parse_nik(raw)
        else:
            check_nik_birthdate(raw, birthdate)
    exc = exc_info.value
    assert exc.__cause__ is None and exc.__context__ is None
    text = " ".join([str(exc), repr(exc), *map(str, exc.args), *traceback.format_exception_only(exc)])
    assert exc.code in ERROR_CODES
    for secret in {raw, digits, digits[:6], digits[6:12], digits[-4:]} - {""}:
        assert secret not in text


def test_parsed_nik_repr_is_masked_and_frozen():
    parsed = parse_nik("3374014101900001")
    assert "3374014101900001" not in repr(parsed) and "410190" not in repr(parsed)
    assert repr(parsed) == "ParsedNIK(337401******0001)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.value = "3174010101900001"


def test_every_error_code_has_a_message_and_an_indonesian_translation():
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    for code in ERROR_CODES:
        msgid = str(MESSAGES[code])  # outside an app context: the English source
        entry = catalog.get(msgid)
        assert entry is not None and entry.string, code
        assert "fuzzy" not in entry.flags, code
        assert "NIK" in entry.string or "NIK" in msgid


@pytest.mark.parametrize(
    ("nik", "birthdate", "code"),
    [
        ("317401010190", "1990-01-01", "nik.format"),
        ("3174990101909001", "1990-01-01", "nik.region"),
        ("3174013201909002", "1990-01-01", "nik.birthdate"),
        ("3174010101900000", "1990-01-01", "nik.serial"),
        ("3174010101909003", "1991-02-03", "nik.birthdate_mismatch"),
    ],
)
def test_create_person_refuses_an_invalid_nik(ctx, nik, birthdate, code):
    from sqlalchemy import func, select

    from idp.audit.models import AuditEvent
    from idp.extensions import db
    from idp.identity import services as identity
    from idp.identity.models import Person

    def count(model):
        return db.session.scalar(select(func.count()).select_from(model))

    people, events = count(Person), count(AuditEvent)
    with pytest.raises(InvalidNIKError) as exc_info:
        identity.create_person(nik=nik, name="Ani", birthdate=birthdate, password=None, actor="test")
    assert exc_info.value.code == code
    db.session.rollback()
    assert (count(Person), count(AuditEvent)) == (people, events)


def test_create_person_stores_the_canonical_nik(ctx):
    from idp.identity import services as identity

    person = identity.create_person(
        nik="٣٣٧٤ ٠١٤١ ٠١٩٠ ٩٠٠٤", name="Siti", birthdate="1990-01-01", password=None, actor="test",
    )
    assert identity.decrypt_nik(person) == "3374014101909004"
    assert identity.get_person_by_nik("3374-0141-0190-9004").id == person.id


@pytest.mark.parametrize("nik", ["9101014101900001", "6473010101900001", "9205010101900001"])
def test_nik_issued_before_a_province_split_is_accepted(nik):
    # Merauke (91.01, now 93.01), Tarakan (64.73, now 65.71), a Papua Barat Daya regency
    # under its old 92.xx code: real NIKs that keep their retired codes.
    assert parse_nik(nik).value == nik


def test_split_provinces_still_refuse_zero_codes():
    with pytest.raises(InvalidNIKError) as exc:
        parse_nik("9100010101900001")
    assert exc.value.code == "nik.region"
