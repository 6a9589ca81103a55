"""WCAG 2.1 AA structure of every citizen-facing page, in both languages: what a screen
reader or keyboard user depends on and a template change can silently break.

Checked on the rendered HTML (stdlib parser, no browser): the page language (3.1.1), a
title (2.4.2), one h1 and no skipped heading level (1.3.1), a label for every form control
(1.3.1, 3.3.2, 4.1.2), a name for every button and link (2.4.4, 4.1.2), alt text on images
(1.1.1), unique ids (4.1.1), references (`for`, `aria-describedby`) that resolve, no
positive tabindex (2.4.3), and a skip link to the main content (2.4.1). Colour contrast
and focus visibility are checked by the browser tests' screenshots and style.css review.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.authn.test_mfa import _account_login
from tests.conftest import Flow

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.labels_for: set[str] = set()
        self.controls: list[tuple[dict, bool]] = []  # (attrs, inside a <label>)
        self.headings: list[int] = []
        self.named: list[tuple[str, dict, list[str]]] = []  # buttons and links with their text
        self.images: list[dict] = []
        self.refs: list[str] = []
        self.html_lang = None
        self.title = ""
        self.skip_target = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.html_lang = a.get("lang")
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label" and a.get("for"):
            self.labels_for.add(a["for"])
        for key in ("for", "aria-describedby", "aria-labelledby"):
            if a.get(key) and not (tag == "label" and key == "for"):
                self.refs.extend(a[key].split())
        if tag == "label" and a.get("for"):
            self.refs.append(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append((a, any(t == "label" for t, _ in self.stack)))
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        if tag == "img":
            self.images.append(a)
        if tag == "a" and "skip" in a.get("class", "").split():
            self.skip_target = a.get("href", "")
        if tag in ("button", "a"):
            self.named.append((tag, a, []))
        if "tabindex" in a:
            assert int(a["tabindex"]) <= 0, f"positive tabindex on <{tag}>"
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if any(t == "title" for t, _ in self.stack):
            self.title += data
        if data.strip():
            for entry in self.named:
                if entry[0] in [t for t, _ in self.stack]:
                    entry[2].append(data.strip())


def check(html: str, where: str) -> None:
    p = Page()
    p.feed(html)
    assert p.html_lang in ("id", "en"), f"{where}: <html lang> missing"
    assert p.title.strip(), f"{where}: empty <title>"
    assert p.headings.count(1) == 1, f"{where}: {p.headings.count(1)} h1"
    for before, after in zip(p.headings, p.headings[1:], strict=False):
        assert after <= before + 1, f"{where}: heading level jumps from h{before} to h{after}"
    dupes = {i for i in p.ids if p.ids.count(i) > 1}
    assert not dupes, f"{where}: duplicate ids {dupes}"
    for ref in p.refs:
        assert ref in p.ids, f"{where}: reference to missing id {ref!r}"
    for attrs, wrapped in p.controls:
        named = wrapped or attrs.get("id") in p.labels_for or attrs.get("aria-label") or attrs.get("aria-labelledby")
        assert named, f"{where}: form control without a label: {attrs}"
    for img in p.images:
        assert "alt" in img, f"{where}: <img> without alt: {img}"
    for tag, attrs, text in p.named:
        assert text or attrs.get("aria-label"), f"{where}: <{tag}> without an accessible name: {attrs}"
    assert p.skip_target == "#main" and "main" in p.ids, f"{where}: no skip link to #main"


@pytest.fixture(params=["id", "en"])
def lang(request, client):
    if request.param == "en":
        client.get("/lang/en")
    return request.param


def test_sign_in_consent_and_public_pages(client, lang, person, register_client):
    rp, secret = register_client(document_types=["kk"], document_file=True)
    flow = Flow(client, rp, secret)
    resp = flow.authorize(scope="openid profile doc:kk")
    login = client.get(resp.headers["Location"])
    check(login.get_data(as_text=True), "login")
    wrong = flow.login(resp, person.nik, password="salah-sekali-ini")
    check(wrong.get_data(as_text=True), "login with an error")
    resp = flow.follow(flow.login(flow.authorize(scope="openid profile doc:kk"), person.nik))
    check(client.get(resp.headers["Location"]).get_data(as_text=True), "consent")
    for path in ("/register", "/recover", "/activate"):
        page = client.get(path)
        assert page.status_code == 200, path
        check(page.get_data(as_text=True), path)
    check(client.get("/interaction/nonexistent/login").get_data(as_text=True), "error page")


ACCOUNT_PAGES = ["/account", "/account/totp", "/account/passkeys", "/account/contact", "/account/profile",
                 "/account/documents", "/account/data-access", "/account/export", "/account/delete"]


def test_account_pages(app, client, lang, person, register_client):
    """With something on every list: two sessions, a document shared with a service that
    read it (grants and history), so repeated per-item forms are checked too."""
    from tests.documents.conftest import upload

    other = app.test_client()
    assert _account_login(other, person.nik).status_code == 303
    assert _account_login(client, person.nik).status_code == 303
    assert upload(client).status_code == 303
    rp, secret = register_client("layanan-kk", document_types=["kk"], document_file=True)
    flow = Flow(client, rp, secret)
    resp = flow.authorize(scope="openid profile doc:kk")
    if "/consent" in resp.headers.get("Location", ""):
        resp = flow.follow(flow.consent(resp))
    from tests.conftest import query

    token = flow.token(query(resp.headers["Location"])["code"]).get_json()["access_token"]
    assert client.get("/claims/documents", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for path in ACCOUNT_PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        check(page.get_data(as_text=True), path)
