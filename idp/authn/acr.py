"""Authentication context classes (`acr`) and methods (`amr`, RFC 8176).

Level 1: password sign-in to a registry-matched account. Later levels (second factor,
in-person verification) are added by the MFA and identity issues.
"""

LOA1 = "urn:id:satuakun:loa:1"
# Level 2: a second factor on top of the password.
LOA2 = "urn:id:satuakun:loa:2"

SUPPORTED = [LOA1, LOA2]
ORDER = {LOA1: 1, LOA2: 2}


def satisfies(session_acr: str, requested: str) -> bool:
    return ORDER.get(session_acr, 0) >= ORDER.get(requested, 99)
