"""RP-initiated logout 1.0 (T31)."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import csrf_token, query

BYE = "https://rp-test.example.go.id/bye"


def _signed_in(flow, person):
    return flow.token(flow.run(person.nik)["code"]).get_json()


def test_logout_with_valid_hint_redirects_with_state(flow, person):
    tok = _signed_in(flow, person)
    resp = flow.http.get("/logout", query_string={"id_token_hint": tok["id_token"], "post_logout_redirect_uri": BYE, "state": "bye-1"})
    assert resp.status_code == 302 and resp.headers["Location"] == BYE + "?state=bye-1"
    # the session is over: prompt=none now needs a login, refresh tokens are dead
    assert query(flow.authorize(prompt="none").headers["Location"])["error"] == "login_required"
    assert flow.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status_code == 400


def test_logout_unregistered_redirect_shows_page(flow, person):
    tok = _signed_in(flow, person)
    for target in (BYE + "?x=1", "https://evil.example/bye", BYE + "/"):
        resp = flow.http.get("/logout", query_string={"id_token_hint": tok["id_token"], "post_logout_redirect_uri": target})
        assert resp.status_code == 400 and "Location" not in resp.headers
    # still signed in
    assert "code" in query(flow.authorize(prompt="none").headers["Location"])


def test_logout_without_hint_asks_for_confirmation(flow, person):
    _signed_in(flow, person)
    page = flow.http.get("/logout", query_string={"client_id": "rp-test", "post_logout_redirect_uri": BYE, "state": "s"})
    assert page.status_code == 200
    assert "code" in query(flow.authorize(prompt="none").headers["Location"])  # not ended yet
    done = flow.http.post("/logout/confirm", data={"decision": "logout", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 303 and done.headers["Location"] == BYE + "?state=s"
    assert query(flow.authorize(prompt="none").headers["Location"])["error"] == "login_required"


def test_logout_forged_hint_needs_confirmation(flow, person):
    tok = _signed_in(flow, person)
    header, payload, sig = tok["id_token"].split(".")
    import base64
    import json

    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")
    forged = [f"{none_header}.{payload}.", f"{header}.{payload}.{sig[:-2]}AA"]
    other_key = ECKey.generate_key("P-256", private=True)
    forged.append(jwt.encode({"alg": "ES256", "kid": "x"}, {"iss": "https://idp.test", "sid": "s"}, other_key))
    for hint in forged:
        resp = flow.http.get("/logout", query_string={"id_token_hint": hint})
        assert resp.status_code == 200  # confirmation page, not a silent logout
        assert "code" in query(flow.authorize(prompt="none").headers["Location"])


def test_logout_confirm_requires_csrf(flow, person):
    _signed_in(flow, person)
    flow.http.get("/logout")
    assert flow.http.post("/logout/confirm", data={"decision": "logout"}).status_code == 403
    assert "code" in query(flow.authorize(prompt="none").headers["Location"])


def test_logout_stay_keeps_session(flow, person):
    _signed_in(flow, person)
    page = flow.http.get("/logout")
    resp = flow.http.post("/logout/confirm", data={"decision": "stay", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert resp.status_code == 200
    assert "code" in query(flow.authorize(prompt="none").headers["Location"])
