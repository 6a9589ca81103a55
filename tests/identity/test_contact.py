import pytest

from idp.identity.contact import InvalidContactError, mask_email, mask_phone, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812 3456 7890", "+6281234567890"),
        ("0812-3456-789", "+628123456789"),
        ("62 812 3456 7890", "+6281234567890"),
        ("+62 (812) 3456.7890", "+6281234567890"),
        ("０８１２３４５６７８９０", "+6281234567890"),
    ],
)
def test_indonesian_mobile_numbers_are_normalised(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "021 555 1234", "+1 415 555 0100", "0812", "08123456789012345", "0812abc34567", "' OR 1=1--", "+62 812\r\n3456"],
)
def test_other_numbers_are_refused(raw):
    with pytest.raises(InvalidContactError):
        normalize_phone(raw)


@pytest.mark.parametrize("raw", ["budi@", "@contoh.id", "budi contoh@contoh.id", "a@b", "x@y.id\r\nBcc: z@w.id", "a" * 300 + "@x.id"])
def test_bad_email_addresses_are_refused(raw):
    with pytest.raises(InvalidContactError):
        normalize_email(raw)


def test_email_is_normalised_and_masks_hide_most_of_the_contact():
    assert normalize_email(" Budi@Contoh.GO.ID ") == "Budi@contoh.go.id"
    assert mask_email("budi@contoh.go.id") == "b***@contoh.go.id"
    assert mask_phone("+6281234567890") == "+6281******890"
