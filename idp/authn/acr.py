"""Authentication context classes (`acr`) and methods (`amr`, RFC 8176).

Level 1: password sign-in to a registry-matched account (or a self-registered one).
Level 2: two factors (below). Level 3: two factors, for a person an MPP officer verified
in person. An RP asking for a level gets it or an error, never a silent downgrade.

Level 2 is reached by two independent factors:

- password + TOTP or recovery code (`amr` pwd, otp, mfa);
- password + passkey (`amr` pwd, hwk or swk, user, mfa), user verification or not: the
  password is the knowledge factor, the key the possession factor;
- a passkey alone, with user verification required and checked (`amr` hwk or swk, user,
  mfa): the private key is possession, the PIN or biometric that the authenticator checked
  before signing is knowledge or inherence. This is NIST SP 800-63B's multi-factor
  cryptographic authenticator, acceptable at AAL2, and unlike the password routes it is
  phishing-resistant (the signature is bound to our origin, WebAuthn L2 §13.4.1). Synced
  passkeys count too: 800-63B-4 accepts syncable authenticators at AAL2 (not AAL3).
  A passkey without user verification is never accepted without the password.
"""

LOA1 = "urn:id:satuakun:loa:1"
# Level 2: a second factor on top of the password.
LOA2 = "urn:id:satuakun:loa:2"

# Level 3: level 2, for a person whose identity an MPP officer verified in person
# (identity_level 3). Reached online only by people verified at a counter.
LOA3 = "urn:id:satuakun:loa:3"

SUPPORTED = [LOA1, LOA2, LOA3]
ORDER = {LOA1: 1, LOA2: 2, LOA3: 3}
IN_PERSON = 3


def satisfies(session_acr: str, requested: str) -> bool:
    return ORDER.get(session_acr, 0) >= ORDER.get(requested, 99)


def for_person(authentication_acr: str, identity_level: int) -> str:
    """The session's acr: the authentication's level, raised to 3 when it is multi-factor
    and the person was verified in person."""
    if ORDER.get(authentication_acr, 0) >= ORDER[LOA2] and identity_level >= IN_PERSON:
        return LOA3
    return authentication_acr


def reachable_with_second_factor(requested: str, identity_level: int) -> bool:
    """Could a second factor in this flow satisfy ``requested`` for this person?"""
    return satisfies(for_person(LOA2, identity_level), requested)
