"""MPP Kabupaten Contoh: a tiny relying party that signs citizens in with SatuAkun.

It is what a regional MPP app does with a stock OIDC library (Authlib's client here):
discovery, authorization code + PKCE, ID token validation, UserInfo, RP-initiated logout.
Run by `./dev` (see README); configuration from environment variables:
SATUAKUN_ISSUER (default http://127.0.0.1:5000), DEMO_RP_PORT (default 5001).
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, session, url_for

ISSUER = os.environ.get("SATUAKUN_ISSUER", "http://127.0.0.1:5000")
PORT = int(os.environ.get("DEMO_RP_PORT", "5001"))
CLIENT_ID = "mpp-kabupaten-contoh"

app = Flask(__name__)
app.secret_key = secrets.token_bytes(32)
app.config["SESSION_COOKIE_NAME"] = "demo_rp"
oauth = OAuth(app)
oauth.register(
    "satuakun",
    client_id=CLIENT_ID,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email phone address", "code_challenge_method": "S256",
                   "token_endpoint_auth_method": "none"},
)


@app.get("/")
def home():
    return render_template("home.html", user=session.get("user"), claims=session.get("claims"),
                           documents=session.get("documents"))


@app.get("/login")
def login():
    return oauth.satuakun.authorize_redirect(url_for("callback", _external=True))


@app.get("/syarat-kk")
def requirement_kk():
    """A requirement-document check: the application form needs the family card (KK), so
    ask SatuAkun for the `doc:kk` scope; the citizen sees which attributes we get."""
    return oauth.satuakun.authorize_redirect(url_for("callback", _external=True), scope="openid profile doc:kk")


@app.route("/callback", methods=["GET", "POST"])
def callback():
    token = oauth.satuakun.authorize_access_token()
    session["user"] = dict(token["userinfo"])
    session["claims"] = dict(oauth.satuakun.userinfo(token=token))
    session["id_token"] = token["id_token"]
    session.pop("documents", None)
    if "doc:kk" in (token.get("scope") or "").split():
        # The distributed claim in UserInfo names the endpoint (OIDC Core 5.6.2).
        source = session["claims"].get("_claim_sources", {}).get("satuakun_documents", {})
        resp = oauth.satuakun.get(source.get("endpoint", f"{ISSUER}/claims/documents"), token=token)
        session["documents"] = resp.json().get("documents", []) if resp.status_code == 200 else []
    return redirect(url_for("home"))


@app.get("/logout")
def logout():
    id_token = session.pop("id_token", None)
    session.clear()
    meta = oauth.satuakun.load_server_metadata()
    params = {"post_logout_redirect_uri": url_for("home", _external=True), "client_id": CLIENT_ID}
    if id_token:
        params["id_token_hint"] = id_token
    return redirect(meta["end_session_endpoint"] + "?" + urlencode(params))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT)
