"""Passkeys: WebAuthn registration and authentication ceremonies (W3C Web Authentication
Level 2, https://www.w3.org/TR/webauthn-2/, and Level 3 for backup flags and
credential records), verified by the `webauthn` package; method names from RFC 8176.

Decisions (reviewed here, in one place):

- Relying party id = the issuer's host, origin = the issuer's origin (L2 §7.1 steps 9
  and 13). A passkey made for SatuAkun never works on a look-alike site: phishing-resistant.
- User handle = 32 random bytes per person, the same for all their passkeys, never the NIK
  or anything derived from `sub` (L2 §14.6.1). The name shown by the authenticator is the
  person's name; the NIK is never put on an authenticator (it may sync to a cloud keychain).
- Registration asks `residentKey: preferred` and `userVerification: preferred`, attestation
  `none`, algorithms EdDSA, ES256, RS256. A security key without a PIN (not discoverable, no
  user verification) is still a good second factor, so it may be registered; whether a
  credential can sign in without a password is decided at each sign-in, below.
- Second factor (after the password): `allowCredentials` = the person's passkeys,
  `userVerification: preferred`. The password is the knowledge factor, the key the
  possession factor.
- Passwordless: empty `allowCredentials` (discoverable credentials, L2 §5.1.4.1) and
  `userVerification: required`, enforced on the response: possession of the key plus the
  PIN or biometric that unlocked it are two factors (L2 §6.2.3, NIST SP 800-63B
  multi-factor cryptographic authenticator), so the session is level 2 (see acr.py).
  The `userHandle` must name the credential's owner (L2 §7.2 step 6).
- Challenges: 32 random bytes, stored (hashed) in the database with their purpose, person
  and the interaction or session they belong to, so any node can finish a ceremony
  another began; deleted by the first response that presents them (single use), refused
  after CHALLENGE_TTL.
- Signature counter (L2 §7.2 step 21): if either the stored or the received counter is
  non-zero and the received one is not greater, the assertion is refused and audited as a
  possible cloned authenticator. The counter is only compared after the signature is
  verified, so a forged response cannot raise the alarm. Synced passkeys report 0 forever.
- Backup eligibility (L3 §6.1.3) is fixed when a credential is made; a response whose BE
  flag differs from the stored one is refused.
- `amr` (RFC 8176 §2): `swk` (software-secured key) for a backup-eligible, synced passkey,
  `hwk` (hardware-secured key) for a device-bound one (a claim of the authenticator: with
  attestation `none` it is not proven), plus `user` because every assertion carries the
  user-presence test (the UP flag, required). RFC 8176 has no value for "user
  verification of unknown kind" (PIN or biometric), so UV shows as `mfa` on a
  passwordless sign-in and as level 2 `acr`; after a password, `pwd` + key + `mfa`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.authn.models import WebAuthnChallenge, WebAuthnCredential, WebAuthnUser
from idp.extensions import db

log = logging.getLogger(__name__)

RP_NAME = "SatuAkun"
# A ceremony must finish within this many seconds of the page that started it.
CHALLENGE_TTL = 300
TIMEOUT_MS = 120_000  # the browser's hint for how long to wait for the person
CHALLENGE_BYTES = 32
USER_HANDLE_BYTES = 32
MAX_CREDENTIAL_ID = 1023  # L3 §5.1 credential ID: at most 1023 bytes
MAX_NAME = 64
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]

REGISTER, SECOND_FACTOR, LOGIN = "register", "2fa", "login"


class PasskeyError(Exception):
    """A response was refused. The reason is for the log only; people see one message.
    ``person_id`` is set when the credential was recognised."""

    def __init__(self, reason: str, person_id: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.person_id = person_id


@dataclass(frozen=True)
class Assertion:
    """A verified authentication: whose passkey, which one, and the `amr` values it earns."""

    person_id: int
    credential_pk: int
    user_verified: bool
    amr: list[str]


# -- relying party -----------------------------------------------------------------------------
def rp_id() -> str:
    return urlsplit(current_app.config["IDP"]["issuer"]).hostname or ""


def origin() -> str:
    parts = urlsplit(current_app.config["IDP"]["issuer"])
    return f"{parts.scheme}://{parts.netloc}"


def key_method(credential: WebAuthnCredential) -> str:
    """RFC 8176 §2: `swk` for a synced (backup-eligible) passkey, `hwk` for a device-bound one."""
    return "swk" if credential.backup_eligible else "hwk"


# -- people and their credentials ----------------------------------------------------------------
def get_user_handle(person_id: int) -> bytes | None:
    row = db.session.get(WebAuthnUser, person_id)
    return row.user_handle if row is not None else None


def ensure_user_handle(person_id: int) -> bytes:
    """The person's user handle, made (random) on first use. Commits when it creates one."""
    handle = get_user_handle(person_id)
    if handle is not None:
        return handle
    db.session.add(WebAuthnUser(person_id=person_id, user_handle=secrets.token_bytes(USER_HANDLE_BYTES), created_at=clock.now()))
    try:
        db.session.commit()
    except IntegrityError:  # another node made it first
        db.session.rollback()
    return get_user_handle(person_id)


def list_credentials(person_id: int) -> list[WebAuthnCredential]:
    """The person's passkeys, oldest first."""
    return list(db.session.execute(
        select(WebAuthnCredential).where(WebAuthnCredential.person_id == person_id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
        .execution_options(populate_existing=True)
    ).scalars())


def has_credentials(person_id: int) -> bool:
    return bool(db.session.execute(select(exists().where(WebAuthnCredential.person_id == person_id))).scalar())


def normalize_name(raw: str | None) -> str | None:
    """A passkey's display name: NFC, control characters dropped, spaces collapsed, 1 to 64
    characters. None when nothing usable remains. (Templates escape it on output.)"""
    text = unicodedata.normalize("NFC", raw or "")
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    return text if 0 < len(text) <= MAX_NAME else None


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    transports = [AuthenticatorTransport(t) for t in credential.transports or [] if t in known]
    return PublicKeyCredentialDescriptor(id=credential.credential_id, transports=transports or None)


# -- challenges ------------------------------------------------------------------------------------
def _digest(value: bytes | str) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def _new_challenge(purpose: str, person_id: int | None, binding: str) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    db.session.add(WebAuthnChallenge(
        challenge_hash=_digest(challenge), purpose=purpose, person_id=person_id,
        binding=_digest(binding), expires_at=clock.now() + CHALLENGE_TTL,
    ))
    db.session.commit()
    return challenge


def _consume_challenge(challenge: bytes, purpose: str, person_id: int | None, binding: str) -> None:
    """Delete the stored challenge (the DELETE is the single-use compare-and-set: two nodes
    given the same response race in the database and one wins), then check it was issued
    for this purpose, person and interaction/session and is still fresh. Commits."""
    key = _digest(challenge)
    row = db.session.execute(
        select(WebAuthnChallenge).where(WebAuthnChallenge.challenge_hash == key).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise PasskeyError("unknown or already used challenge")
    issued = (row.purpose, row.person_id, row.binding, row.expires_at)
    won = db.session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.challenge_hash == key)).rowcount
    db.session.commit()
    if won != 1:
        raise PasskeyError("challenge already used")
    if issued[:3] != (purpose, person_id, _digest(binding)):
        raise PasskeyError("challenge issued for another ceremony")
    if issued[3] <= clock.now():
        raise PasskeyError("challenge expired")


def _client_challenge(client_data_json: bytes) -> bytes:
    try:
        return parse_client_data_json(client_data_json).challenge
    except Exception as exc:  # any malformed input is a refusal
        raise PasskeyError("malformed clientDataJSON") from exc


def _parse(parser, response: str):
    if not isinstance(response, str) or not response:
        raise PasskeyError("no response")
    try:
        return parser(response)
    except Exception as exc:  # any malformed input is a refusal
        raise PasskeyError("malformed response") from exc


# -- registration (L2 §7.1) ---------------------------------------------------------------------------
def registration_options(person_id: int, display_name: str, *, binding: str) -> str:
    """Options for navigator.credentials.create(), as JSON. ``binding`` is the SSO session
    the ceremony belongs to. Stores the challenge. Commits."""
    handle = ensure_user_handle(person_id)
    challenge = _new_challenge(REGISTER, person_id, binding)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=RP_NAME,
        user_id=handle,
        user_name=display_name or RP_NAME,
        user_display_name=display_name or RP_NAME,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # L2 §5.4 excludeCredentials: the same authenticator is not registered twice.
        exclude_credentials=[_descriptor(c) for c in list_credentials(person_id)],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json(options)


def register(person_id: int, response: str, name: str, *, binding: str, remote_addr: str) -> WebAuthnCredential:
    """Verify a navigator.credentials.create() response and store the new passkey under
    ``name``. Returns it. Raises PasskeyError. Writes the audit event. Commits."""
    clean = normalize_name(name)
    if clean is None:
        raise PasskeyError("invalid name", person_id)
    credential = _parse(parse_registration_credential_json, response)
    challenge = _client_challenge(credential.response.client_data_json)
    _consume_challenge(challenge, REGISTER, person_id, binding)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origin(),
            require_user_verification=False,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as exc:  # InvalidRegistrationResponse and malformed CBOR alike
        raise PasskeyError(f"registration not verified: {exc}", person_id) from exc
    if len(verified.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyError("credential id too long", person_id)
    taken = db.session.execute(
        select(exists().where(WebAuthnCredential.credential_id == verified.credential_id))
    ).scalar()
    if taken:
        raise PasskeyError("credential already registered", person_id)
    now = clock.now()
    row = WebAuthnCredential(
        person_id=person_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t.value for t in credential.response.transports or []],
        aaguid=verified.aaguid,
        name=clean,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified_at_registration=verified.user_verified,
        created_at=now,
        last_used_at=None,
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same credential registered concurrently
        db.session.rollback()
        raise PasskeyError("credential already registered", person_id) from exc
    record_event(
        EventTag.PASSKEY_ADDED, actor="citizen", person_id=person_id, remote_addr=remote_addr,
        passkey=row.id, aaguid=row.aaguid, synced=row.backup_eligible,
    )
    db.session.commit()
    return row


# -- authentication (L2 §7.2) --------------------------------------------------------------------------
def authentication_options(*, person_id: int | None, binding: str) -> str:
    """Options for navigator.credentials.get(), as JSON. With ``person_id``: the second
    factor for that person (their passkeys, UV preferred); without: passwordless sign-in
    (discoverable credentials, UV required). ``binding`` is the interaction. Commits."""
    if person_id is not None:
        purpose, allow, uv = SECOND_FACTOR, [_descriptor(c) for c in list_credentials(person_id)], UserVerificationRequirement.PREFERRED
    else:
        purpose, allow, uv = LOGIN, [], UserVerificationRequirement.REQUIRED
    challenge = _new_challenge(purpose, person_id, binding)
    return options_to_json(generate_authentication_options(
        rp_id=rp_id(), challenge=challenge, timeout=TIMEOUT_MS, allow_credentials=allow, user_verification=uv,
    ))


def authenticate(response: str, *, person_id: int | None, binding: str, remote_addr: str) -> Assertion:
    """Verify a navigator.credentials.get() response. With ``person_id`` it must be one of
    that person's passkeys (second factor); without, any person's, with user verification
    (passwordless). Returns the Assertion. Raises PasskeyError. Commits."""
    credential = _parse(parse_authentication_credential_json, response)
    challenge = _client_challenge(credential.response.client_data_json)
    passwordless = person_id is None
    _consume_challenge(challenge, LOGIN if passwordless else SECOND_FACTOR, person_id, binding)
    row = db.session.execute(
        select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential.raw_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise PasskeyError("unknown credential", person_id)
    if not passwordless and row.person_id != person_id:
        raise PasskeyError("credential of another person", person_id)
    # L2 §7.2 step 6: a discoverable credential names its user; it must be the owner.
    handle = credential.response.user_handle
    if passwordless and not handle:
        raise PasskeyError("no user handle", row.person_id)
    if handle is not None:
        owner = get_user_handle(row.person_id)
        if owner is None or not hmac.compare_digest(handle, owner):
            raise PasskeyError("user handle does not match the credential's owner", row.person_id)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origin(),
            credential_public_key=row.public_key,
            # The counter is compared below, after the signature is known to be good.
            credential_current_sign_count=0,
            require_user_verification=passwordless,
        )
    except Exception as exc:  # InvalidAuthenticationResponse and malformed data alike
        raise PasskeyError(f"assertion not verified: {exc}", row.person_id) from exc
    if (verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE) != row.backup_eligible:
        raise PasskeyError("backup eligibility changed", row.person_id)
    received, stored = verified.new_sign_count, row.sign_count
    if (received or stored) and received <= stored:
        record_event(
            EventTag.PASSKEY_SIGN_COUNT_REGRESSED, actor="citizen", person_id=row.person_id,
            remote_addr=remote_addr, passkey=row.id, stored=stored, received=received,
        )
        db.session.commit()
        raise PasskeyError("signature counter did not increase", row.person_id)
    now = clock.now()
    won = db.session.execute(
        update(WebAuthnCredential)
        .where(WebAuthnCredential.id == row.id, WebAuthnCredential.sign_count == stored)
        .values(sign_count=received, last_used_at=now, backed_up=verified.credential_backed_up)
    ).rowcount
    if won != 1:
        db.session.rollback()
        raise PasskeyError("credential used concurrently", row.person_id)
    record_event(
        EventTag.PASSKEY_USED, actor="citizen", person_id=row.person_id, remote_addr=remote_addr,
        passkey=row.id, user_verified=verified.user_verified, second_factor=not passwordless,
    )
    db.session.commit()
    return Assertion(row.person_id, row.id, verified.user_verified, [key_method(row), "user"])


# -- self-service ----------------------------------------------------------------------------------------
def _own(person_id: int, pk: int) -> WebAuthnCredential | None:
    row = db.session.get(WebAuthnCredential, pk)
    return row if row is not None and row.person_id == person_id else None


def rename(person_id: int, pk: int, name: str) -> bool:
    """Rename one of the person's passkeys. False if not theirs or the name is unusable. Commits."""
    row, clean = _own(person_id, pk), normalize_name(name)
    if row is None or clean is None:
        return False
    row.name = clean
    record_event(EventTag.PASSKEY_RENAMED, actor="citizen", person_id=person_id, passkey=pk)
    db.session.commit()
    return True


def remove(person_id: int, pk: int) -> bool:
    """Delete one of the person's passkeys: it stops working at once, on every node.
    False if not theirs. Commits."""
    row = _own(person_id, pk)
    if row is None:
        return False
    db.session.delete(row)
    record_event(EventTag.PASSKEY_REMOVED, actor="citizen", person_id=person_id, passkey=pk)
    db.session.commit()
    return True
