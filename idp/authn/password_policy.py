"""Rules for choosing a password (NIST SP 800-63B-4 §3.1.1.2, ASVS 6.2; SECURITY.md T42).

- Length is counted in characters after NFKC normalisation (the form we hash): at least
  15 while the account can sign in with the password alone, at least 8 once a second
  factor exists; at most 128, refused without hashing. No composition rules, no
  truncation, every Unicode character (emoji, Indonesian diacritics) allowed.
- Refused with the reason: a password from the 30,000 most common ones (zxcvbn's list),
  one made of a common word or a word of this service plus digits and symbols
  ("Indonesia2024", "P@ssw0rd!!"), one containing the citizen's NIK, date of birth or
  name, and one that is a single repeated or sequential run ("aaaaaaaaaaaaaaaa",
  "1234567890123456").
"""

from __future__ import annotations

import datetime
import functools
import itertools
import re
import unicodedata

from idp.authn.passwords import MAX_PASSWORD_LENGTH

MIN_WITHOUT_SECOND_FACTOR = 15
MIN_WITH_SECOND_FACTOR = 8

# Words that make a password guessable here, whatever the global lists say.
CONTEXT_WORDS = frozenset({
    "satuakun", "satu akun", "mpp", "malpelayananpublik", "pelayanan", "indonesia", "jakarta", "garuda",
    "pancasila", "merdeka", "bismillah", "sayang", "rahasia", "katasandi", "kata sandi", "sandi", "password",
    "dukcapil", "kependudukan", "ktp", "nik", "admin", "qwerty", "asdf", "cinta", "bangsa", "nusantara",
})
_LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


class WeakPasswordError(ValueError):
    """``code`` names the rule (a message key): password.too_short, password.too_long,
    password.common, password.context, password.repetitive."""

    def __init__(self, code: str, minimum: int | None = None):
        super().__init__(code)
        self.code = code
        self.minimum = minimum


@functools.cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _core(text: str) -> str:
    """The word inside decoration: 'P@ssw0rd!!' -> 'password', 'Indonesia2024' -> 'indonesia'."""
    return _EDGES.sub("", text.casefold()).translate(_LEET)


def _repetitive(text: str) -> bool:
    if len(set(text)) <= 2:
        return True
    # A short unit repeated: "abcabcabcabcabc", "ha-ha-ha-ha-ha".
    if any(len(text) % n == 0 and text == text[:n] * (len(text) // n) for n in range(1, 5)):
        return True
    steps = {(ord(b) - ord(a)) % (10 if text.isdigit() else 0x110000) for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and steps <= {1, 9 if text.isdigit() else 0x10FFFF}


def _context_tokens(nik: str | None, birthdate: str | None, name: str | None) -> list[str]:
    tokens: list[str] = []
    if nik:
        tokens += [nik, nik[:6], nik[6:12], nik[-6:]]
    if birthdate:
        try:
            d = datetime.date.fromisoformat(birthdate)
        except ValueError:
            d = None
        if d:
            tokens += [d.strftime(f) for f in ("%d%m%Y", "%Y%m%d", "%d%m%y", "%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y")]
    if name:
        tokens += [part for part in name.casefold().replace(".", " ").replace(",", " ").split() if len(part) >= 4]
    return tokens


def check_new_password(password: str, *, nik: str | None = None, birthdate: str | None = None,
                       name: str | None = None, has_second_factor: bool = False) -> str:
    """Return the NFKC-normalised password if acceptable, else raise WeakPasswordError."""
    if len(password) > 4 * MAX_PASSWORD_LENGTH:
        raise WeakPasswordError("password.too_long")
    value = unicodedata.normalize("NFKC", password)
    minimum = MIN_WITH_SECOND_FACTOR if has_second_factor else MIN_WITHOUT_SECOND_FACTOR
    if len(value) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError("password.too_long")
    if len(value) < minimum:
        raise WeakPasswordError("password.too_short", minimum)
    folded = value.casefold()
    compact = re.sub(r"[\s\-_.]", "", folded)
    if _repetitive(compact):
        raise WeakPasswordError("password.repetitive")
    core = _core(value)
    common = _common()
    if folded in common or compact in common or core in common or core in CONTEXT_WORDS or compact in CONTEXT_WORDS:
        raise WeakPasswordError("password.common")
    plain = re.sub(r"[\W_]", "", folded)
    for token in _context_tokens(nik, birthdate, name):
        t = re.sub(r"[\W_]", "", token.casefold())
        if t and (t in plain):
            raise WeakPasswordError("password.context")
    return value
