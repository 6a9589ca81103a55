"""Passkeys (W3C WebAuthn L2/L3): registration, second factor, passwordless sign-in, the
account pages, and what the relying party sees in `amr`/`acr` (RFC 8176).

The authenticator is software, written here with `cryptography` and `cbor2`: an EC P-256
key, authenticatorData, clientDataJSON and a "none" attestation, byte for byte as the
specification lays them out, so every check of the server runs on real signatures."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import secrets

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from idp import clock
from idp.authn import webauthn
from tests.authn.test_mfa import _account_login, _idt, enrol_totp, sign_out_locally
from tests.conftest import ISSUER, csrf_token, query

RP_ID = "idp.test"
LOA1, LOA2 = "urn:id:satuakun:loa:1", "urn:id:satuakun:loa:2"
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One credential on a software authenticator (L2 §6.1 authenticator data, §6.5.4
    attestation object, §8.7 "none" attestation). ``synced`` sets BE/BS and, as the
    platform passkey providers do, keeps the signature counter at 0."""

    def __init__(self, *, synced: bool = False, uv: bool = True):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.synced, self.uv = synced, uv
        self.counter = 0
        self.user_handle: bytes | None = None

    def _flags(self, uv: bool, attested: bool = False) -> bytes:
        return bytes([UP | (UV if uv else 0) | ((BE | BS) if self.synced else 0) | (AT if attested else 0)])

    def cose_key(self) -> bytes:
        n = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")})

    def create(self, options: dict, *, origin: str = ISSUER, rp_id: str = RP_ID) -> str:
        self.user_handle = unb64u(options["user"]["id"])
        client_data = json.dumps(
            {"type": "webauthn.create", "challenge": options["challenge"], "origin": origin, "crossOrigin": False}
        ).encode()
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest() + self._flags(self.uv, attested=True) + (0).to_bytes(4, "big")
            + AAGUID + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data), "attestationObject": b64u(attestation), "transports": ["internal"]},
            "clientExtensionResults": {},
        })

    def get(self, options: dict, *, origin: str = ISSUER, rp_id: str = RP_ID, counter: int | None = None,
            uv: bool | None = None, user_handle: bytes | None | bool = True, key=None) -> str:
        if counter is None:
            counter = 0 if self.synced else self.counter + 1
        self.counter = max(self.counter, counter)
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": options["challenge"], "origin": origin, "crossOrigin": False}
        ).encode()
        auth_data = hashlib.sha256(rp_id.encode()).digest() + self._flags(self.uv if uv is None else uv) + counter.to_bytes(4, "big")
        signature = (key or self.key).sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        handle = self.user_handle if user_handle is True else user_handle
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id), "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data), "authenticatorData": b64u(auth_data),
                "signature": b64u(signature), "userHandle": b64u(handle) if handle else None,
            },
            "clientExtensionResults": {},
        })


# -- helpers ----------------------------------------------------------------------------------------
def page_options(page: str) -> dict:
    m = re.search(r'data-options="([^"]*)"', page)
    assert m, "no WebAuthn options on the page"
    return json.loads(html.unescape(m.group(1)))


def signed_in_to_account(http, nik):
    if http.get("/account").status_code != 200:
        assert _account_login(http, nik).status_code == 303


def new_passkey_page(http) -> str:
    page = http.get("/account/passkeys/new")
    assert page.status_code == 200, page.status_code
    return page.get_data(as_text=True)


def add_passkey(http, nik, auth: SoftAuthenticator, name="Ponsel saya", **kw):
    signed_in_to_account(http, nik)
    page = new_passkey_page(http)
    return http.post("/account/passkeys/new", data={
        "csrf_token": csrf_token(page), "name": name, "credential": auth.create(page_options(page), **kw),
    })


def use_passkey_for_mfa(flow, mfa_resp, auth: SoftAuthenticator, **kw):
    url = mfa_resp.headers["Location"]
    assert "/mfa" in url, url
    page = flow.http.get(url).get_data(as_text=True)
    return flow.http.post(url, data={"csrf_token": csrf_token(page), "credential": auth.get(page_options(page), **kw)})


def passwordless(flow, login_resp, auth: SoftAuthenticator, **kw):
    url = login_resp.headers["Location"]
    assert url.endswith("/login"), url
    page = flow.http.get(url).get_data(as_text=True)
    # Hidden until the script (a file: CSP script-src 'self') finds WebAuthn in the browser.
    assert re.search(r'<div id="passkey-signin" class="passkey" hidden data-webauthn-box>', page)
    assert '<script src="/static/js/webauthn.js" defer></script>' in page
    options = page_options(page)
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    return flow.http.post(url[: -len("/login")] + "/passkey", data={
        "csrf_token": csrf_token(page), "credential": auth.get(options, **kw),
    })


def finish(flow, resp) -> dict:
    """Consent if asked, then the ID token's claims."""
    resp = flow.follow(resp)
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    assert resp.status_code == 302, resp.status_code
    return _idt(flow, query(resp.headers["Location"])["code"])


def audit_tags(app, person_id) -> list[str]:
    from idp.audit.models import AuditEvent
    from idp.extensions import db

    with app.app_context():
        return list(db.session.execute(
            select(AuditEvent.tag).where(AuditEvent.person_id == person_id).order_by(AuditEvent.id)
        ).scalars())


def stored_credentials(app, person_id):
    with app.app_context():
        return webauthn.list_credentials(person_id)


def set_sign_count(app, value: int) -> None:
    from idp.authn.models import WebAuthnCredential
    from idp.extensions import db

    with app.app_context():
        db.session.execute(update(WebAuthnCredential).values(sign_count=value))
        db.session.commit()


def login_failures(app) -> list[dict]:
    from idp.audit.models import AuditEvent
    from idp.extensions import db

    with app.app_context():
        return [e.data for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.tag == "account:login:failure")).scalars()]


def has_session_cookie(resp) -> bool:
    return any(c.startswith("__Host-satuakun=") for c in resp.headers.getlist("Set-Cookie"))


@pytest.fixture
def refusals(caplog):
    """The logged reasons of refused passkey responses (the `idp` logger does not propagate)."""
    logger = logging.getLogger("idp")
    logger.addHandler(caplog.handler)
    yield lambda: [r.getMessage() for r in caplog.records if " refused: " in r.getMessage()]
    logger.removeHandler(caplog.handler)


REASON = {
    "wrong origin": "Unexpected client data origin",
    "wrong rp id": "Unexpected RP ID hash",
    "expired challenge": "challenge expired",
    "replayed challenge": "unknown or already used challenge",
    "forged challenge": "unknown or already used challenge",
    "challenge of another person": "challenge issued for another ceremony",
    "malformed": "malformed response",
    "sign count regression": "signature counter did not increase",
    "unknown credential": "unknown credential",
    "credential of another person": "credential of another person",
    "bad signature": "Could not verify authentication signature",
    "user handle of another person": "user handle does not match the credential's owner",
    "no user verification": "User verification is required",
    "no user handle": "no user handle",
}


@pytest.fixture
def passkey_person(client, person):
    """A person with one device-bound passkey (and no other second factor), signed out."""
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    sign_out_locally(client)
    return person, auth


# -- registration --------------------------------------------------------------------------------------
def test_register_list_and_audit(app, client, person):
    auth = SoftAuthenticator()
    signed_in_to_account(client, person.nik)
    page = new_passkey_page(client)
    options = page_options(page)
    assert options["rp"] == {"name": "SatuAkun", "id": RP_ID}
    assert options["attestation"] == "none" and options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    handle = unb64u(options["user"]["id"])
    assert len(handle) == 32 and person.nik.encode() not in handle and person.public_id.encode() not in handle
    assert person.nik not in json.dumps(options)

    done = client.post("/account/passkeys/new", data={
        "csrf_token": csrf_token(page), "name": "  <b>Kunci\tbiru</b>  ", "credential": auth.create(options),
    })
    assert done.status_code == 303 and done.headers["Location"].endswith("/account/passkeys")
    listing = client.get("/account/passkeys").get_data(as_text=True)
    assert "&lt;b&gt;Kunci biru&lt;/b&gt;" in listing and "<b>Kunci" not in listing  # escaped, normalised
    [stored] = stored_credentials(app, person.id)
    assert stored.credential_id == auth.credential_id and not stored.backup_eligible and stored.user_verified_at_registration
    assert stored.transports == ["internal"] and stored.sign_count == 0
    assert "account:passkey:added" in audit_tags(app, person.id)
    # The next registration excludes it (L2 §5.4), with the same user handle.
    again = page_options(new_passkey_page(client))
    assert again["excludeCredentials"] == [{"id": b64u(auth.credential_id), "type": "public-key", "transports": ["internal"]}]
    assert unb64u(again["user"]["id"]) == handle
    assert 'href="/account/passkeys"' in client.get("/account").get_data(as_text=True)


def _other_persons_options(app, create_person):
    other = create_person()
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    signed_in_to_account(http, other.nik)
    return page_options(new_passkey_page(http))


@pytest.mark.parametrize("case", ["wrong origin", "wrong rp id", "expired challenge", "challenge of another person",
                                  "forged challenge", "malformed"])
def test_registration_refused(app, client, person, create_person, refusals, case):
    auth = SoftAuthenticator()
    signed_in_to_account(client, person.nik)
    page = new_passkey_page(client)
    options = page_options(page)
    if case == "wrong origin":
        credential = auth.create(options, origin="https://idp.test.evil.example")
    elif case == "wrong rp id":
        credential = auth.create(options, rp_id="evil.example")
    elif case == "expired challenge":
        credential = auth.create(options)
        clock.advance(webauthn.CHALLENGE_TTL + 1)
    elif case == "challenge of another person":
        credential = auth.create(_other_persons_options(app, create_person))
    elif case == "forged challenge":
        credential = auth.create({**options, "challenge": b64u(secrets.token_bytes(32))})
    else:
        credential = '{"id": "x"'
    resp = client.post("/account/passkeys/new", data={"csrf_token": csrf_token(page), "name": "Kunci", "credential": credential})
    assert resp.status_code == 400 and 'role="alert"' in resp.get_data(as_text=True)
    assert stored_credentials(app, person.id) == []
    assert REASON[case] in refusals()[-1]


def test_registration_challenge_is_single_use(app, client, person):
    signed_in_to_account(client, person.nik)
    page = new_passkey_page(client)
    options = page_options(page)
    first = client.post("/account/passkeys/new", data={
        "csrf_token": csrf_token(page), "name": "Satu", "credential": SoftAuthenticator().create(options)})
    assert first.status_code == 303
    replay = client.post("/account/passkeys/new", data={
        "csrf_token": csrf_token(page), "name": "Dua", "credential": SoftAuthenticator().create(options)})
    assert replay.status_code == 400
    assert [c.name for c in stored_credentials(app, person.id)] == ["Satu"]


def test_registration_needs_a_name(app, client, person):
    signed_in_to_account(client, person.nik)
    page = new_passkey_page(client)
    resp = client.post("/account/passkeys/new", data={
        "csrf_token": csrf_token(page), "name": " \u200b\t ", "credential": SoftAuthenticator().create(page_options(page))})
    assert resp.status_code == 400 and stored_credentials(app, person.id) == []


def test_same_credential_cannot_be_registered_twice(app, client, person, create_person):
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    assert add_passkey(client, person.nik, auth).status_code == 400
    other = app.test_client()
    other.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    assert add_passkey(other, create_person().nik, auth).status_code == 400  # credential ids are unique
    assert len(stored_credentials(app, person.id)) == 1


def test_T54_add_and_remove_need_recent_authentication(app, client, person):
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    clock.advance(16 * 60)
    listing = client.get("/account/passkeys")
    assert listing.status_code == 200  # a session is enough to look
    page = listing.get_data(as_text=True)
    resp = client.get("/account/passkeys/new")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    [stored] = stored_credentials(app, person.id)
    resp = client.post(f"/account/passkeys/{stored.id}/remove", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]
    assert len(stored_credentials(app, person.id)) == 1


# -- second factor -------------------------------------------------------------------------------------
def test_passkey_as_second_factor(app, flow, passkey_person):
    person, auth = passkey_person
    resp = flow.login(flow.authorize(), person.nik)  # has_second_factor counts passkeys
    assert resp.status_code == 303 and "/mfa" in resp.headers["Location"] and not has_session_cookie(resp)
    page = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    options = page_options(page)
    assert options["allowCredentials"] == [{"id": b64u(auth.credential_id), "type": "public-key", "transports": ["internal"]}]
    assert options["userVerification"] == "preferred" and options["rpId"] == RP_ID
    assert 'name="code"' not in page  # no TOTP, no recovery codes: nothing to type
    ok = use_passkey_for_mfa(flow, resp, auth, uv=False)  # UV not needed after the password
    assert ok.status_code == 303 and has_session_cookie(ok)
    claims = finish(flow, ok)
    assert claims["acr"] == LOA2 and claims["amr"] == ["pwd", "hwk", "user", "mfa"]
    assert "authn:passkey:used" in audit_tags(app, person.id)
    [stored] = stored_credentials(app, person.id)
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_codes_remain_available_next_to_the_passkey(client, flow, person):
    totp = enrol_totp(client, person.nik)
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    clock.advance(90)
    sign_out_locally(client)
    resp = flow.login(flow.authorize(), person.nik)
    page = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'name="code"' in page and "data-options=" in page
    ok = flow.http.post(resp.headers["Location"], data={"code": totp.at(clock.now()), "csrf_token": csrf_token(page)})
    assert finish(flow, ok)["amr"] == ["pwd", "otp", "mfa"]


def test_step_up_with_a_passkey(client, flow, person):
    first = flow.run(person.nik)  # password only: level 1
    assert _idt(flow, first["code"])["acr"] == LOA1
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}})
    resp = flow.authorize(claims=claims)
    assert "/mfa" in resp.headers["Location"]  # second factor in the same flow
    out = finish(flow, use_passkey_for_mfa(flow, resp, auth))
    assert out["acr"] == LOA2 and out["amr"] == ["pwd", "hwk", "user", "mfa"]


def _second_person_with_passkey(app, create_person):
    other = create_person()
    http = app.test_client()
    http.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    auth = SoftAuthenticator()
    assert add_passkey(http, other.nik, auth).status_code == 303
    return other, auth


REFUSALS = ["wrong origin", "wrong rp id", "expired challenge", "replayed challenge", "sign count regression",
            "unknown credential", "credential of another person", "bad signature", "user handle of another person"]


@pytest.mark.parametrize("case", REFUSALS)
def test_second_factor_refused(app, flow, passkey_person, create_person, refusals, case):
    person, auth = passkey_person
    resp = flow.login(flow.authorize(), person.nik)
    url = resp.headers["Location"]
    page = flow.http.get(url).get_data(as_text=True)
    options = page_options(page)
    kw: dict = {}
    responder = auth
    if case == "wrong origin":
        kw["origin"] = "https://idp.test.evil.example"
    elif case == "wrong rp id":
        kw["rp_id"] = "evil.example"
    elif case == "expired challenge":
        clock.advance(webauthn.CHALLENGE_TTL + 1)
    elif case == "replayed challenge":
        assert flow.http.post(url, data={"csrf_token": csrf_token(page), "credential": auth.get(options)}).status_code == 303
        resp = flow.login(flow.authorize(prompt="login"), person.nik)
        url = resp.headers["Location"]
        page = flow.http.get(url).get_data(as_text=True)  # a fresh challenge exists, but is not the one sent
    elif case == "sign count regression":
        set_sign_count(app, 5)  # the authenticator was used elsewhere; a clone answers with an older count
        kw["counter"] = 3
    elif case == "unknown credential":
        responder = SoftAuthenticator()
        responder.user_handle = auth.user_handle
    elif case == "credential of another person":
        _, responder = _second_person_with_passkey(app, create_person)
    elif case == "bad signature":
        kw["key"] = ec.generate_private_key(ec.SECP256R1())
    elif case == "user handle of another person":
        other_auth = _second_person_with_passkey(app, create_person)[1]
        kw["user_handle"] = other_auth.user_handle
    refused = flow.http.post(url, data={"csrf_token": csrf_token(page), "credential": responder.get(options, **kw)})
    assert refused.status_code == 200 and not has_session_cookie(refused)
    body = refused.get_data(as_text=True)
    assert 'id="passkey-error"' in body and 'id="passkey-error" data-webauthn-status' in body
    assert re.search(r'id="passkey-error"[^>]*>\s*\S', body)  # the message is shown
    assert REASON[case] in refusals()[-1]
    tags = audit_tags(app, person.id)
    assert "account:mfa:failure" in tags
    if case == "sign count regression":
        assert "authn:passkey:sign_count_regressed" in tags


def test_failed_assertions_void_the_transaction(flow, passkey_person):
    person, auth = passkey_person
    resp = flow.login(flow.authorize(), person.nik)
    for _ in range(4):
        assert use_passkey_for_mfa(flow, resp, auth, origin="https://evil.example").status_code == 200
    assert use_passkey_for_mfa(flow, resp, auth, origin="https://evil.example").status_code == 400  # T52
    assert flow.http.get(resp.headers["Location"]).status_code == 400


# -- passwordless --------------------------------------------------------------------------------------
@pytest.mark.parametrize("synced,method", [(False, "hwk"), (True, "swk")])
def test_passwordless_sign_in(app, client, flow, person, synced, method):
    auth = SoftAuthenticator(synced=synced)
    assert add_passkey(client, person.nik, auth).status_code == 303
    sign_out_locally(client)
    resp = passwordless(flow, flow.authorize(), auth)
    assert resp.status_code == 303 and has_session_cookie(resp)  # a fresh session (T56)
    claims = finish(flow, resp)
    assert claims["acr"] == LOA2 and claims["amr"] == [method, "user", "mfa"]
    # Again with prompt=login: a synced passkey's counter stays 0, which is fine.
    again = passwordless(flow, flow.authorize(prompt="login"), auth)
    assert finish(flow, again)["amr"] == [method, "user", "mfa"]


def _passkey_url(login_url: str) -> str:
    return login_url[: -len("/login")] + "/passkey"


@pytest.mark.parametrize("case", [*REFUSALS, "no user verification", "no user handle"])
def test_passwordless_refused(app, client, flow, person, create_person, refusals, case):
    auth = SoftAuthenticator()
    assert add_passkey(client, person.nik, auth).status_code == 303
    sign_out_locally(client)
    kw: dict = {}
    responder = auth
    replay = None
    if case == "wrong origin":
        kw["origin"] = "https://idp.test.evil.example"
    elif case == "wrong rp id":
        kw["rp_id"] = "evil.example"
    elif case == "sign count regression":
        set_sign_count(app, 7)
        kw["counter"] = 7  # not greater than the stored count
    elif case == "unknown credential":
        responder = SoftAuthenticator()
        responder.user_handle = auth.user_handle
    elif case == "credential of another person":
        responder = _second_person_with_passkey(app, create_person)[1]
        responder.user_handle = auth.user_handle  # claims to be our person
    elif case == "user handle of another person":
        kw["user_handle"] = _second_person_with_passkey(app, create_person)[1].user_handle
    elif case == "bad signature":
        kw["key"] = ec.generate_private_key(ec.SECP256R1())
    elif case == "no user verification":
        kw["uv"] = False
    elif case == "no user handle":
        kw["user_handle"] = None
    elif case == "replayed challenge":
        first = flow.authorize()
        page = flow.http.get(first.headers["Location"]).get_data(as_text=True)
        replay = auth.get(page_options(page))
        ok = flow.http.post(_passkey_url(first.headers["Location"]), data={"csrf_token": csrf_token(page), "credential": replay})
        assert ok.status_code == 303
        sign_out_locally(flow.http)
    before = len(login_failures(app))
    login_url = flow.authorize(prompt="login").headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    options = page_options(page)
    if case == "expired challenge":
        clock.advance(webauthn.CHALLENGE_TTL + 1)
    credential = replay or responder.get(options, **kw)
    refused = flow.http.post(_passkey_url(login_url), data={"csrf_token": csrf_token(page), "credential": credential})
    assert refused.status_code == 200 and not has_session_cookie(refused), case
    assert re.search(r'id="passkey-error"[^>]*>\s*\S', refused.get_data(as_text=True))
    # An impostor's credential claiming our person's user handle: refused on the handle.
    expected = REASON["user handle of another person"] if case == "credential of another person" else REASON[case]
    assert expected in refusals()[-1]
    failures = login_failures(app)[before:]
    assert len(failures) == 1 and failures[0]["method"] == "passkey"
    if case == "sign count regression":
        assert "authn:passkey:sign_count_regressed" in audit_tags(app, person.id)


def test_passwordless_failures_are_throttled_per_source(flow, passkey_person):
    _, auth = passkey_person
    statuses = []
    for _ in range(22):
        login_url = flow.authorize().headers["Location"]
        page = flow.http.get(login_url).get_data(as_text=True)
        statuses.append(flow.http.post(_passkey_url(login_url), data={
            "csrf_token": csrf_token(page), "credential": auth.get(page_options(page), uv=False)}).status_code)
    assert statuses[:20] == [200] * 20 and statuses[-1] == 429


# -- account pages -------------------------------------------------------------------------------------
def test_rename(app, client, passkey_person):
    person, auth = passkey_person
    resp = _account_login(client, person.nik)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    client.post(resp.headers["Location"], data={"csrf_token": csrf_token(page), "credential": auth.get(page_options(page))})
    [stored] = stored_credentials(app, person.id)
    page = client.get("/account/passkeys").get_data(as_text=True)
    assert client.post(f"/account/passkeys/{stored.id}/rename", data={"csrf_token": csrf_token(page), "name": "Laptop kantor"}).status_code == 303
    assert [c.name for c in stored_credentials(app, person.id)] == ["Laptop kantor"]
    assert client.post(f"/account/passkeys/{stored.id}/rename", data={"csrf_token": csrf_token(page), "name": "x" * 65}).status_code == 400
    assert client.post(f"/account/passkeys/{stored.id}/rename", data={"name": "Tanpa CSRF"}).status_code == 403
    assert client.post(f"/account/passkeys/{stored.id + 999}/rename", data={"csrf_token": csrf_token(page), "name": "X"}).status_code == 404
    assert "account:passkey:renamed" in audit_tags(app, person.id)


def test_remove_makes_it_unusable(app, client, flow, passkey_person, create_person):
    person, auth = passkey_person
    resp = _account_login(client, person.nik)  # password, then the passkey as second factor
    assert resp.status_code == 303 and "/mfa" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    done = client.post(resp.headers["Location"], data={"csrf_token": csrf_token(page), "credential": auth.get(page_options(page))})
    assert done.status_code == 303 and done.headers["Location"].endswith("/account")
    page = client.get("/account/passkeys").get_data(as_text=True)
    assert re.search(r'<p class="hint" id="last-factor-\d+">', page)  # the warning before removing the last factor
    [stored] = stored_credentials(app, person.id)
    # Someone else's passkey id: not found, nothing removed.
    other, _ = _second_person_with_passkey(app, create_person)
    [others] = stored_credentials(app, other.id)
    assert client.post(f"/account/passkeys/{others.id}/remove", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert client.post(f"/account/passkeys/{stored.id}/remove", data={}).status_code == 403
    assert client.post(f"/account/passkeys/{stored.id}/remove", data={"csrf_token": csrf_token(page)}).status_code == 303
    assert stored_credentials(app, person.id) == [] and len(stored_credentials(app, other.id)) == 1
    assert "account:passkey:removed" in audit_tags(app, person.id)
    sign_out_locally(client)
    login_url = flow.authorize().headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    refused = flow.http.post(_passkey_url(login_url), data={"csrf_token": csrf_token(page), "credential": auth.get(page_options(page))})
    assert refused.status_code == 200 and not has_session_cookie(refused)
    # No second factor left: the password alone signs in again (level 1).
    claims = finish(flow, flow.login(flow.authorize(prompt="login"), person.nik))
    assert claims["acr"] == LOA1 and claims["amr"] == ["pwd"]
