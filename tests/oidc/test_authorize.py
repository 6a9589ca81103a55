"""The authorization endpoint: what an RP (and an attacker) sees. SECURITY.md rows cited."""

from __future__ import annotations

import json
import re

import pytest

from idp import clock
from tests.conftest import ISSUER, PASSWORD, Flow, csrf_token, query

REGISTERED = "https://rp-test.example.go.id/cb"


def _no_code_minted(app):
    from idp.extensions import db
    from idp.oidc.models import AuthorizationCode

    with app.app_context():
        return db.session.query(AuthorizationCode).count() == 0


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REGISTERED + "/",
        REGISTERED + "?x=1",
        "https://RP-TEST.example.go.id/cb",
        REGISTERED + "#frag",
        "https://rp-test.example.go.id.evil.id/cb",
        "",
        None,
    ],
)
def test_T01_unregistered_redirect_uri_shows_error_page(app, flow, redirect_uri):
    resp = flow.authorize(redirect_uri=redirect_uri)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]
    # Bahasa Indonesia by default
    assert 'lang="id"' in resp.get_data(as_text=True)
    assert _no_code_minted(app)


@pytest.mark.parametrize("client_id", ["unknown-client", "", None, "<script>", "x" * 500])
def test_unknown_client_shows_error_page(flow, client_id):
    resp = flow.authorize(client_id=client_id)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "<script>" not in resp.get_data(as_text=True)


def test_error_page_in_english_with_ui_locales(flow):
    resp = flow.authorize(client_id="nope", ui_locales="en-US id")
    body = resp.get_data(as_text=True)
    assert 'lang="en"' in body and "not registered" in body


@pytest.mark.parametrize(
    "response_type,error",
    [
        ("token", "unsupported_response_type"),
        ("id_token", "unsupported_response_type"),
        ("code id_token", "unsupported_response_type"),
        ("code token", "unsupported_response_type"),
        (None, "invalid_request"),
    ],
)
def test_T04_response_types(flow, response_type, error):
    resp = flow.authorize(response_type=response_type, state="s1")
    assert resp.status_code == 302
    loc = resp.headers["Location"]
    assert loc.startswith(REGISTERED + "?") and "#" not in loc
    q = query(loc)
    assert q["error"] == error and q["state"] == "s1" and q["iss"] == ISSUER
    assert "code" not in q


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": "a" * 42},
        {"code_challenge": "a" * 44},
        {"code_challenge": "!" * 43},
    ],
)
def test_T05_pkce_required_s256(app, flow, person, params):
    resp = flow.authorize(state="s5", **params)
    q = query(resp.headers["Location"])
    assert q["error"] == "invalid_request" and q["state"] == "s5" and q["iss"] == ISSUER
    assert _no_code_minted(app)


def test_openid_scope_required(flow):
    q = query(flow.authorize(scope="profile").headers["Location"])
    assert q["error"] == "invalid_scope"


def test_repeated_parameter_rejected(flow):
    params = flow.params(state="dup")
    qs = "&".join(f"{k}={v}" for k, v in params.items()) + "&scope=openid"
    resp = flow.http.get("/authorize?" + qs)
    q = query(resp.headers["Location"])
    assert q["error"] == "invalid_request"


def test_request_object_not_supported(flow):
    q = query(flow.authorize(request="eyJhbGciOiJub25lIn0.e30.").headers["Location"])
    assert q["error"] == "request_not_supported"
    q = query(flow.authorize(request_uri="urn:x").headers["Location"])
    assert q["error"] == "request_uri_not_supported"


@pytest.mark.parametrize("bad", ["<script>alert(1)</script>", "a\r\nSet-Cookie: x=1", "\t", "x" * 8192])
def test_T84_reflected_fields_are_safe(flow, bad):
    resp = flow.authorize(client_id=bad, state=bad, login_hint=bad, ui_locales=bad)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "<script>alert" not in body
    for value in resp.headers.values():
        assert "\r" not in value and "\n" not in value


def test_T84_long_state(flow, person):
    ok = flow.authorize(state="s" * 2048)
    assert "/interaction/" in ok.headers["Location"]
    too_long = query(flow.authorize(state="s" * 2049).headers["Location"])
    assert too_long["error"] == "invalid_request" and "state" not in too_long
    long_nonce = query(flow.authorize(nonce="n" * 2049).headers["Location"])
    assert long_nonce["error"] == "invalid_request"


def test_state_echoed_byte_exact_on_success(flow, person):
    state = "ä b+c/=%20&x"
    result = flow.run(person.nik, state=state)
    assert result["state"] == state and result["iss"] == ISSUER


def test_T13_prompt_none_without_session(flow):
    q = query(flow.authorize(prompt="none", state="p").headers["Location"])
    assert q == {"error": "login_required", "error_description": q["error_description"], "state": "p", "iss": ISSUER}


def test_T13_prompt_none_without_consent(flow, person):
    flow.run(person.nik, scope="openid profile")
    q = query(flow.authorize(prompt="none", scope="openid profile email").headers["Location"])
    assert q["error"] == "consent_required"


def test_T13_prompt_none_acr_not_met(flow, person):
    flow.run(person.nik)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:id:satuakun:loa:3"]}}})
    q = query(flow.authorize(prompt="none", claims=claims).headers["Location"])
    assert q["error"] == "interaction_required"
    q = query(flow.authorize(claims=claims).headers["Location"])
    assert q["error"] == "unmet_authentication_requirements"


def test_prompt_none_with_session_and_consent_issues_code(flow, person):
    flow.run(person.nik)
    resp = flow.authorize(prompt="none", state="silent")
    q = query(resp.headers["Location"])
    assert "code" in q and q["state"] == "silent" and q["iss"] == ISSUER


def test_prompt_none_mixed_is_invalid(flow):
    q = query(flow.authorize(prompt="none login").headers["Location"])
    assert q["error"] == "invalid_request"


def _id_token_claims(flow, code):
    from joserfc import jwt

    token = flow.token(code).get_json()
    return jwt.decode(token["id_token"], _jwks(flow)).claims


def _jwks(flow):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(flow.http.get("/jwks").get_json())


def test_T14_prompt_login_forces_new_login(flow, person):
    first = _id_token_claims(flow, flow.run(person.nik)["code"])
    clock.advance(5)
    resp = flow.authorize(prompt="login")
    assert "/login" in resp.headers["Location"]
    resp = flow.follow(flow.login(resp, person.nik))
    second = query(resp.headers["Location"])
    claims = _id_token_claims(flow, second["code"])
    assert claims["auth_time"] > first["auth_time"]


def test_T14_max_age(flow, person):
    flow.run(person.nik)
    clock.advance(2)
    resp = flow.authorize(max_age="1")
    assert "/login" in resp.headers["Location"]
    resp = flow.follow(flow.login(resp, person.nik))
    claims = _id_token_claims(flow, query(resp.headers["Location"])["code"])
    assert "auth_time" in claims
    # max_age large enough: SSO, no login page
    ok = flow.authorize(max_age="3600")
    assert "code" in query(ok.headers["Location"])


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5"])
def test_max_age_must_be_integer(flow, max_age):
    assert query(flow.authorize(max_age=max_age).headers["Location"])["error"] == "invalid_request"


def test_login_hint_prefills_nik(flow):
    resp = flow.authorize(login_hint="3174010101900999")
    page = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'value="3174010101900999"' in page


def test_form_post_response_mode(flow, person):
    resp = flow.authorize(response_mode="form_post")
    resp = flow.follow(flow.login(resp, person.nik))
    page = flow.http.get(resp.headers["Location"])
    page = flow.http.post(page.request.path, data={"decision": "approve", "csrf_token": csrf_token(page.get_data(as_text=True))})
    final = flow.follow(page)
    assert final.status_code == 200
    html = final.get_data(as_text=True)
    assert f'action="{REGISTERED}"' in html
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', html))
    assert set(fields) >= {"code", "state", "iss"}
    csp = final.headers["Content-Security-Policy"]
    assert "form-action https://rp-test.example.go.id" in csp and "frame-ancestors 'none'" in csp


def test_deny_returns_access_denied(app, flow, person):
    resp = flow.follow(flow.login(flow.authorize(state="d"), person.nik))
    final = flow.consent(resp, decision="deny")
    q = query(final.headers["Location"])
    assert q["error"] == "access_denied" and q["state"] == "d" and q["iss"] == ISSUER
    assert _no_code_minted(app)


def test_consent_remembered_and_asked_again_when_request_grows(flow, person):
    flow.run(person.nik, scope="openid profile")
    again = flow.authorize(scope="openid profile")
    assert "code" in query(again.headers["Location"])
    grown = flow.authorize(scope="openid profile email")
    assert "/consent" in grown.headers["Location"]
    page = flow.http.get(grown.headers["Location"]).get_data(as_text=True)
    assert "e-mail" in page.lower()


def test_prompt_consent_shows_consent_again(flow, person):
    flow.run(person.nik)
    assert "/consent" in flow.authorize(prompt="consent").headers["Location"]


def test_consent_page_shows_registration_data(flow, person, rp):
    resp = flow.follow(flow.login(flow.authorize(scope="openid profile email"), person.nik))
    html = flow.http.get(resp.headers["Location"]).get_data(as_text=True)
    assert rp[0].name in html and "Uji layanan" in html and "31.74" in html
    assert "Setuju" in html and "Tolak" in html


def test_interaction_bound_to_browser(app, flow, person):
    resp = flow.authorize()
    other = app.test_client()
    other.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    page = other.get(resp.headers["Location"])
    assert page.status_code == 400


def test_interaction_expires(flow, person):
    resp = flow.authorize()
    clock.advance(601)
    assert flow.http.get(resp.headers["Location"]).status_code == 400


def test_T44_cannot_skip_login_to_consent(flow, person):
    resp = flow.authorize()
    consent_url = resp.headers["Location"].replace("/login", "/consent")
    jump = flow.http.get(consent_url)
    assert jump.status_code == 302 and "/login" in jump.headers["Location"]
    resume = flow.http.get(resp.headers["Location"].replace("/interaction/", "/authorize/resume/").replace("/login", ""))
    assert "/login" in resume.headers["Location"] and "code=" not in resume.headers["Location"]


def test_login_wrong_password_and_unknown_nik_identical(flow, person):
    """T36: unknown NIK and wrong password: same status, body (but CSRF token), cookies."""
    resp = flow.authorize()
    a = flow.login(resp, person.nik, password="wrong-password-123")
    b = flow.login(resp, "3174010101909999", password="wrong-password-123")
    # The CSRF token and the passkey challenge are fresh on every page.
    strip = lambda r: re.sub(r'(value|data-options)="[^"]*"', "", r.get_data(as_text=True))
    assert a.status_code == b.status_code == 200
    assert strip(a) == strip(b)
    assert sorted(c.split("=")[0] for c in a.headers.getlist("Set-Cookie")) == sorted(
        c.split("=")[0] for c in b.headers.getlist("Set-Cookie")
    )
    assert 'role="alert"' in a.get_data(as_text=True)


def test_T43_login_csrf_rejected(flow, person):
    resp = flow.authorize()
    bad = flow.http.post(resp.headers["Location"], data={"nik": person.nik, "password": PASSWORD})
    assert bad.status_code == 403
    assert not any(c.startswith("__Host-satuakun=") for c in bad.headers.getlist("Set-Cookie"))


def test_T56_session_id_changes_after_login(app, flow, person):
    """A planted pre-login cookie never becomes the authenticated session."""
    flow.http.set_cookie("__Host-satuakun", "planted-by-attacker", domain="idp.test", secure=True)
    resp = flow.login(flow.authorize(), person.nik)
    issued = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("__Host-satuakun="))
    assert "planted-by-attacker" not in issued
    attacker = app.test_client()
    attacker.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "idp.test"})
    attacker.set_cookie("__Host-satuakun", "planted-by-attacker", domain="idp.test", secure=True)
    q = query(Flow(attacker, flow.rp).authorize(prompt="none").headers["Location"])
    assert q["error"] == "login_required"


def test_T59_cookie_attributes(flow, person):
    resp = flow.authorize()
    login = flow.login(resp, person.nik)
    cookie = next(c for c in login.headers.getlist("Set-Cookie") if c.startswith("__Host-satuakun="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    assert len(cookie.split(";")[0].split("=", 1)[1]) >= 43  # 256 bits base64url


def test_T63_frame_and_security_headers(flow):
    resp = flow.http.get(flow.authorize().headers["Location"])
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_locked_account_cannot_sign_in(app, flow, person):
    from idp.identity import services as identity

    with app.app_context():
        identity.set_locked(identity.get_person_by_nik(person.nik), True, actor="test")
    resp = flow.login(flow.authorize(), person.nik)
    assert resp.status_code == 200 and 'role="alert"' in resp.get_data(as_text=True)


def test_post_authorize_is_supported(flow, person):
    resp = flow.http.post("/authorize", data=flow.params())
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]


def test_second_client_signs_in_without_password(client, register_client, person):
    a, sa = register_client("rp-a")
    b, sb = register_client("rp-b")
    Flow(client, a, sa).run(person.nik)
    resp = Flow(client, b, sb).authorize()
    assert "/consent" in resp.headers["Location"]  # no login page: SSO


def test_pages_in_bahasa_indonesia_by_default_and_english_on_request(flow, person):
    page = flow.http.get(flow.authorize().headers["Location"]).get_data(as_text=True)
    assert 'lang="id"' in page and "Masuk untuk melanjutkan" in page and "Kata sandi" in page
    page_en = flow.http.get(flow.authorize(ui_locales="en").headers["Location"]).get_data(as_text=True)
    assert 'lang="en"' in page_en and "Sign in to continue" in page_en
    consent = flow.http.get(flow.follow(flow.login(flow.authorize(), person.nik)).headers["Location"]).get_data(as_text=True)
    assert "Setuju" in consent and "Tolak" in consent and "Nama lengkap Anda" in consent


def test_claims_sub_value_must_match_session(flow, person):
    flow.run(person.nik)
    other = json.dumps({"id_token": {"sub": {"value": "someone-else"}}})
    q = query(flow.authorize(prompt="none", claims=other).headers["Location"])
    assert q["error"] == "login_required"


def test_id_token_hint_of_other_user_needs_login(client, flow, person, create_person):
    tok = flow.token(flow.run(person.nik)["code"]).get_json()
    # same person: silent
    assert "code" in query(flow.authorize(prompt="none", id_token_hint=tok["id_token"]).headers["Location"])
    other = create_person()
    flow.run(other.nik, prompt="login")
    q = query(flow.authorize(prompt="none", id_token_hint=tok["id_token"]).headers["Location"])
    assert q["error"] == "login_required"
    assert query(flow.authorize(id_token_hint="garbage").headers["Location"])["error"] == "invalid_request"
