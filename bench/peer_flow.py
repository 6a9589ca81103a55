"""Sign in through a provider's own HTML pages and redeem the code: tokens for the benchmark.

``code_flow`` walks an authorization code + PKCE (S256) flow with ``requests`` alone: it
follows redirects itself, and whenever the provider answers with an HTML page it submits that
page's form (hidden fields kept, the text field filled with the login, the password field with
the password, the "allow/continue" button pressed) until the provider redirects to the client's
redirect_uri. The redirect_uri is never contacted. It then exchanges the code at the token
endpoint with client_secret_basic.

``peer_tokens`` drives node-oidc-provider's devInteractions pages (login: any login and
password; then consent: one "Continue" button). SatuAkun's pages go through the same walker,
called from ``run.start_ours``.

Run alone against a running peer:  python bench/peer_flow.py http://127.0.0.1:3900
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

# Submit buttons whose name or value reads like one of these are pressed; the others avoided.
_YES = ("allow", "approve", "accept", "continue", "consent", "confirm", "grant", "sign", "login",
        "log in", "masuk", "setuju", "izinkan", "lanjut", "lanjutkan", "ya", "yes", "submit", "ok")
_NO = ("deny", "cancel", "reject", "abort", "decline", "tolak", "batal", "tidak", "no")


class FlowError(RuntimeError):
    """The flow did not end with a code and tokens; the message says at which step."""


class _Forms(HTMLParser):
    """Collects every <form> with its inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._form["buttons"].append({"name": a.get("name"), "value": a.get("value", ""),
                                              "text": a.get("value", "")})
            else:
                self._form["inputs"].append({"type": kind, "name": a.get("name"),
                                             "value": a.get("value", ""),
                                             "checked": "checked" in a})
        elif tag == "button":
            if a.get("type", "submit").lower() == "submit":
                self._button = {"name": a.get("name"), "value": a.get("value", ""), "text": ""}
                self._form["buttons"].append(self._button)
        elif tag == "select" and a.get("name"):
            self._form["inputs"].append({"type": "select", "name": a["name"], "value": "",
                                         "checked": False})

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None
        elif tag == "form":
            self._form = None


def _words(button: dict) -> str:
    return " ".join(str(button.get(k) or "") for k in ("name", "value", "text")).strip().lower()


def _pick_button(buttons: list[dict]) -> dict | None:
    if not buttons:
        return None
    for b in buttons:
        w = _words(b)
        if any(y in w.split() or w.startswith(y) for y in _YES) and not any(n in w.split() for n in _NO):
            return b
    for b in buttons:
        if not any(n in _words(b).split() for n in _NO):
            return b
    return buttons[0]


def _fill(form: dict, login: str, password: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for field in form["inputs"]:
        name = field["name"]
        if not name:
            continue
        kind = field["type"]
        if kind == "password":
            data[name] = password
        elif kind in ("text", "email", "tel", "number", "search") and not field["value"]:
            data[name] = login
        elif kind in ("checkbox", "radio"):
            if field["checked"]:
                data[name] = field["value"] or "on"
        elif kind != "select":
            data[name] = field["value"]
    button = _pick_button(form["buttons"])
    if button and button.get("name"):
        data[button["name"]] = button.get("value", "")
    return data


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_flow(discovery: dict, *, client_id: str, client_secret: str, redirect_uri: str,
              scope: str, login: str, password: str, extra_params: dict | None = None,
              max_steps: int = 20, timeout: float = 15.0,
              session: requests.Session | None = None) -> dict:
    """Return the token endpoint's JSON (access_token, refresh_token, id_token, ...).

    ``session``: a requests.Session to use (bench/profile.py passes one whose transport calls
    the WSGI app in-process); default a new one.
    """
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
              "code_challenge_method": "S256", **(extra_params or {})}
    s = session if session is not None else requests.Session()
    r = s.get(discovery["authorization_endpoint"], params=params, allow_redirects=False, timeout=timeout)
    for step in range(max_steps):
        if r.is_redirect or r.status_code in (301, 302, 303, 307, 308):
            location = urljoin(r.url, r.headers["Location"])
            if location.startswith(redirect_uri):
                query = parse_qs(urlsplit(location).query)
                if "error" in query:
                    raise FlowError(f"authorization error at redirect_uri: {query}")
                if query.get("state", [""])[0] != state:
                    raise FlowError(f"state mismatch in {location}")
                if "code" not in query:
                    raise FlowError(f"no code in {location}")
                return _redeem(s, discovery, query["code"][0], verifier, client_id, client_secret,
                               redirect_uri, timeout)
            r = s.get(location, allow_redirects=False, timeout=timeout)
            continue
        if r.status_code != 200 or "html" not in r.headers.get("Content-Type", ""):
            raise FlowError(f"step {step}: {r.request.method} {r.url} -> {r.status_code}: {r.text[:300]}")
        parser = _Forms()
        parser.feed(r.text)
        forms = [f for f in parser.forms if f["method"] == "post"] or parser.forms
        if not forms:
            raise FlowError(f"step {step}: page {r.url} has no form: {r.text[:300]}")
        # The login page: the form holding the password field; otherwise the first form.
        form = next((f for f in forms if any(i["type"] == "password" for i in f["inputs"])), forms[0])
        action = urljoin(r.url, form["action"] or r.url)
        data = _fill(form, login, password)
        if form["method"] == "post":
            r = s.post(action, data=data, allow_redirects=False, timeout=timeout)
        else:
            r = s.get(action, params=data, allow_redirects=False, timeout=timeout)
    raise FlowError(f"no redirect to {redirect_uri} after {max_steps} steps (last: {r.url})")


def _redeem(s, discovery, code, verifier, client_id, client_secret, redirect_uri, timeout) -> dict:
    r = s.post(discovery["token_endpoint"], auth=(client_id, client_secret), timeout=timeout,
               data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                     "code_verifier": verifier})
    if r.status_code != 200:
        raise FlowError(f"code exchange -> {r.status_code}: {r.text[:300]}")
    tokens = r.json()
    if "access_token" not in tokens:
        raise FlowError(f"code exchange returned no access_token: {tokens}")
    return tokens


def discover(base_url: str, timeout: float = 10.0) -> dict:
    r = requests.get(base_url.rstrip("/") + "/.well-known/openid-configuration", timeout=timeout)
    r.raise_for_status()
    return r.json()


def peer_tokens(base_url: str) -> dict:
    """Tokens for bench-rp from the peer, via devInteractions (any login and password pass)."""
    disc = discover(base_url)
    tokens = code_flow(disc, client_id="bench-rp", client_secret="bench-secret",
                       redirect_uri="http://127.0.0.1:9/cb",
                       scope="openid profile email offline_access",
                       login="bench-citizen", password="any-password",
                       # prompt=consent keeps offline_access; issueRefreshToken issues an RT anyway.
                       extra_params={"prompt": "consent"})
    if "refresh_token" not in tokens:
        raise FlowError(f"peer issued no refresh_token: {sorted(tokens)}")
    return tokens


if __name__ == "__main__":
    print(json.dumps(peer_tokens(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3900"), indent=2))
