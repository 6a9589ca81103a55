"""Public pages that are not part of a protocol flow: home, language switch."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    return render_template("web/home.html")


@bp.get("/lang/<code>")
def set_language(code: str):
    target = request.args.get("next", "/")
    # Only local paths: never an open redirect.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    resp = redirect(target)
    if code in ("id", "en"):
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", httponly=True, path="/")
    return resp
