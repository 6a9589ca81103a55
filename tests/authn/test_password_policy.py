"""Choosing a password (SECURITY.md T42, NIST 800-63B-4): table-driven."""

import pytest

from idp.authn.password_policy import WeakPasswordError, check_new_password

NIK = "3174014101900001"


@pytest.mark.parametrize(
    ("password", "kw", "code"),
    [
        ("pendek7", {}, "password.too_short"),
        ("tujuhkarakter", {"has_second_factor": False}, "password.too_short"),  # 13 < 15 without a second factor
        ("a" * 129, {}, "password.too_long"),
        ("é" * 129, {}, "password.too_long"),
        ("x" * 1024 * 1024, {}, "password.too_long"),  # 1 MiB: refused before any work
        ("Indonesia2024", {"has_second_factor": True}, "password.common"),
        ("Indonesia2024!!!!", {}, "password.common"),
        ("P@ssw0rd12345678", {}, "password.common"),
        ("iloveyou", {"has_second_factor": True}, "password.common"),
        ("SatuAkun-2026-!!!", {}, "password.common"),
        ("aaaaaaaaaaaaaaaa", {}, "password.repetitive"),
        ("abcabcabcabcabcabc", {}, "password.repetitive"),
        ("1234567890123456", {}, "password.repetitive"),
        ("kopi pagi " + NIK, {"nik": NIK}, "password.context"),
        ("ulang tahun 01-01-1990", {"birthdate": "1990-01-01"}, "password.context"),
        ("rumah 19900101 kita", {"birthdate": "1990-01-01"}, "password.context"),
        ("Rahayu sayang keluarga", {"name": "Siti Rahayu"}, "password.context"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, kw, code):
    with pytest.raises(WeakPasswordError) as exc:
        check_new_password(password, **kw)
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("password", "kw"),
    [
        ("kopi pagi di teras rumah", {}),
        ("Kata-Sandi-Uji-2026", {}),
        ("delapan8", {"has_second_factor": True}),  # 8 is enough once a second factor exists
        ("Sêmangat-pagi-Bàndung", {}),
        ("🌾🌾 sawah hijau subur 🌾🌾", {}),
        ("".join(f"kata{i:03d}" for i in range(18)) + "ok", {}),  # exactly 128 characters: accepted, never truncated
    ],
)
def test_good_passwords_are_accepted_unchanged(password, kw):
    assert check_new_password(password, nik=NIK, birthdate="1990-01-01", name="Siti Rahayu", **kw) == password


def test_length_counts_characters_after_nfkc():
    # Full-width letters fold to ASCII under NFKC: the normalised form is what is hashed.
    assert check_new_password("ｋｏｐｉ pagi di teras") == "kopi pagi di teras"


def test_the_minimum_is_reported_for_the_message():
    with pytest.raises(WeakPasswordError) as exc:
        check_new_password("short but ok")
    assert exc.value.minimum == 15
