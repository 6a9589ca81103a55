"""Matching a name typed by a citizen against the name in the population registry.

Pure functions, no I/O. Both names go through the same ``normalize_name`` and the
results must be equal, character for character. The rules, in the order applied:

1. Unicode NFKC (full-width letters, ligatures and compatibility spaces become plain
   characters), then accents are removed (``José`` = ``JOSE``: registry records are
   upper-case ASCII) and the text is case-folded (``SITI`` = ``Siti`` = ``siti``).
2. Apostrophes and backticks (``'`` ``’`` ``‘`` ````` ``ʼ``) are deleted, joining the
   word: ``Ma'ruf`` = ``MARUF``.
3. The name is split into words at white space and commas. Everything after the first
   comma is "after a comma".
4. Titles written before the name are removed from the front, as many as there are:
   ``H.``/``Haji``, ``Hj.``/``Hajah``/``Hajjah``, ``KH.``/``K.H.`` (Kyai Haji),
   ``Dr.``/``dr.`` (doctorate and physician alike, once case-folded), ``drg.``,
   ``Drs.``, ``Dra.``, ``Ir.``, ``Prof.``, ``Ns.``, ``apt.``, and the forms of address
   ``Tn.``, ``Ny.``, ``Nn.``. A title glued to the name (``H.Ahmad``, ``Dr.H.Ahmad``)
   is split off at its dot. Periods are optional (``Hj Siti`` = ``Hj. Siti``).
5. Academic and professional degrees are removed from the end, as many as there are,
   but only when the word is written with a period (``S.Kom.``, ``M.M``, ``Ph.D.``,
   ``Sp.A``) or comes after a comma (``Budi, SH, MH``): ``_DEGREES`` lists them
   without periods. An undotted word before any comma is a name (``Budi Santoso ST``
   keeps ``st``), so a real surname that spells like a degree is never lost.
6. Titles and degrees are never removed when nothing else would be left: a citizen
   whose whole registered name is ``Haji`` is matched on ``haji``.
7. In the remaining words, dots, hyphens and any other punctuation separate words
   (``Moh.Ali`` = ``Moh Ali``; ``Nur-Hayati`` = ``Nur Hayati``); white space is
   collapsed to one space.

What is deliberately *not* done:

- No noble, ethnic or religious-lineage titles are removed: ``Raden``/``R.``, ``R.A.``,
  ``Andi``, ``Teuku``, ``Cut``, ``Tengku``, ``I Gusti``, ``Anak Agung``, ``Ida Bagus``,
  ``Habib``, ``Sayyid``. Dukcapil records them as part of the legal name, several are
  also ordinary given names (``Andi Rahman`` and ``Rahman`` are different people), and
  ``R.`` may be an initial.
- No spelling reform (``Soekarno`` is not ``Sukarno``, ``Djoko`` is not ``Joko``), no
  expansion of abbreviations (``M.``/``Moh.``/``Muh.`` are not ``Muhammad``), no
  reordering (``Aminah Siti`` is not ``Siti Aminah``), no dropping of a middle name.
  A citizen with a single registered name (``Sukarno``) matches only ``Sukarno``.
- No fuzzy or similarity matching. The last four digits of a NIK are a serial number
  among people born on the same day in the same kecamatan: one mistyped digit can name
  a real neighbour with the same birth date, and then the name is the only thing telling
  the two apart. Accepting "close enough" (``Siti Aminah`` for ``Siti Amanah``) would
  bind a NIK to the wrong person, which is far worse than asking the citizen to type the
  name as printed on the KTP-el. Every rule above only removes decoration that does not
  distinguish people.

``normalize_place`` applies rules 1, 2 and 7 to a place of birth and drops a leading
``Kota``/``Kab.``/``Kabupaten`` (``Kota Semarang`` = ``SEMARANG``).
"""

from __future__ import annotations

import hmac
import re
import unicodedata

MAX_NAME_LENGTH = 200

_APOSTROPHES = dict.fromkeys(map(ord, "'`\u2018\u2019\u02bc\u02bb\u00b4"))

# Compact forms: case-folded, letters only ("S.Kom." -> "skom", "Sp.A(K)" -> "spak").
_PREFIX_TITLES = frozenset({
    "h", "hj", "haji", "hajah", "hajjah", "kh",
    "dr", "drg", "drs", "dra", "ir", "prof", "ns", "apt",
    "tn", "ny", "nn",
})

_DEGREES = frozenset({
    # Diploma (Ahli Madya) and first degrees (Sarjana)
    "amd", "amdak", "amdfarm", "amdgz", "amdkeb", "amdkep", "amdkes", "amdkom", "amdpar", "amdrad", "amdt", "amdtek",
    "sag", "sak", "sars", "sds", "se", "sei", "sfarm", "sfil", "sgz", "sh", "shi", "shum", "sikom", "sip", "sked",
    "skeb", "skep", "skg", "skh", "skm", "skom", "sn", "sp", "spd", "spdi", "spdsd", "spsi", "spt", "ssi", "ssn",
    "ssos", "sst", "sstp", "st", "sth", "sthi", "stp", "str", "strkeb", "strkep", "strkes", "strpar",
    # Master's and doctoral degrees
    "llm", "ma", "mag", "mars", "mba", "mds", "me", "mfarm", "mh", "mhum", "mik", "mikom", "mkeb", "mked", "mkep",
    "mkes", "mkm", "mkn", "mkom", "mm", "mp", "mpd", "mph", "mpsi", "msc", "msi", "msn", "mt", "mtp", "mtr",
    "dphil", "edd", "phd",
    # Foreign first degrees
    "ba", "bba", "beng", "bsc", "llb", "md",
    # Medical specialists, professions
    "spa", "spak", "span", "spb", "spbm", "spbp", "spbs", "spf", "spgk", "spjp", "spjpk", "spkfr", "spkg", "spkga",
    "spkj", "spkk", "spm", "spmk", "spn", "spog", "spogk", "spok", "spot", "spp", "sppa", "sppd", "sppdkgeh",
    "sppk", "spperio", "spprost", "sprad", "sptht", "spthtkl", "spu",
    "ak", "apt", "cpa", "ners", "ns",
})

_NON_LETTERS = re.compile(r"[^\w]|[\d_]")
_SEPARATOR = re.compile(r"[\W_]+")
_PLACE_PREFIXES = ("kota", "kab", "kabupaten")


def _fold(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", value).casefold().translate(_APOSTROPHES)


def _compact(word: str) -> str:
    return _NON_LETTERS.sub("", word)


def _split_glued_title(word: str) -> list[str]:
    """``h.ahmad`` -> [``h.``, ``ahmad``]; ``dr.h.ahmad`` -> [``dr.``, ``h.ahmad``]."""
    pieces = word.split(".")
    for i in range(len(pieces) - 1, 0, -1):
        head = "".join(pieces[:i])
        rest = ".".join(pieces[i:])
        if head and rest and _compact(head) in _PREFIX_TITLES:
            return [".".join(pieces[:i]) + ".", rest]
    return [word]


def _words(value: str) -> list[str]:
    """Rules 1-7; returns the remaining words."""
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        return []
    head, _, tail = _fold(value).partition(",")
    # (word, after_comma)
    words = [(w, False) for w in head.split()] + [(w, True) for w in tail.replace(",", " ").split()]
    # Rule 4: titles in front, splitting one glued to the name at its dot (rule 6: keep
    # the last word whatever it is).
    front = 0
    while front < len(words):
        word, after = words[front]
        parts = _split_glued_title(word)
        if len(parts) == 2:
            words[front:front + 1] = [(parts[0], after), (parts[1], after)]
            continue
        if _compact(word) in _PREFIX_TITLES and front < len(words) - 1:
            front += 1
            continue
        break
    # Rule 5: degrees at the end, dotted or after a comma.
    end = len(words)
    while end - 1 > front:
        word, after = words[end - 1]
        if _compact(word) in _DEGREES and ("." in word or after):
            end -= 1
            continue
        break
    out: list[str] = []
    for word, _after in words[front:end]:
        out.extend(w for w in _SEPARATOR.split(word) if w)
    return out


def normalize_name(value: str) -> str:
    """The comparable form of a person's name (module docstring). Returns "" for input
    that is not a string, longer than MAX_NAME_LENGTH, or holds no letters."""
    return " ".join(_words(value))


def names_match(given: str, registry: str) -> bool:
    """True if both names normalise to the same non-empty string."""
    a, b = normalize_name(given), normalize_name(registry)
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


def normalize_place(value: str) -> str:
    """The comparable form of a place of birth: rules 1, 2 and 7, without a leading
    Kota/Kab./Kabupaten."""
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        return ""
    words = [w for w in _SEPARATOR.split(_fold(value)) if w]
    if len(words) > 1 and words[0] in _PLACE_PREFIXES:
        words = words[1:]
    return " ".join(words)


def places_match(given: str, registry: str) -> bool:
    a, b = normalize_place(given), normalize_place(registry)
    return bool(a) and a == b
