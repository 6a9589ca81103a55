"""Access-token checks shared by the protected resources (UserInfo, document claims, files).

- `Authorization: Bearer <token>` (RFC 6750 §2.1; UserInfo also takes the §2.2 form body),
  for tokens that are not DPoP-bound.
- `Authorization: DPoP <token>` with a `DPoP` proof carrying `ath` (RFC 9449 §7), for
  tokens bound to a key; a bound token presented as Bearer is refused with a DPoP
  challenge (§7.2), so a stolen token alone is useless.
- Errors as RFC 6750 §3.1 / RFC 9449 §7.1: 401 and `WWW-Authenticate` naming the scheme,
  no body for a request without credentials.
"""

from __future__ import annotations

from flask import Response, current_app, g, request

from idp.oidc import dpop, tokens

JSON_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def error(status: int, error: str | None, description: str | None = None, *, scheme: str | None = None) -> Response:
    """A resource error with its challenge: Bearer (RFC 6750 §3) or DPoP (RFC 9449 §7.1);
    by default the scheme of the token `authenticate` accepted (§7.2: the error goes in
    the challenge of the scheme the request used). A request without credentials gets
    both challenges, so the client learns DPoP works."""
    scheme = scheme or g.get("resource_scheme", "Bearer")
    if scheme == "DPoP":
        challenge = dpop.challenge(error, description and _escape(description))
    else:
        challenge = 'Bearer realm="satuakun"'
        if error:
            challenge += f', error="{error}"'
            if description:
                challenge += f', error_description="{_escape(description)}"'
        if error is None:
            challenge += ", " + dpop.challenge()
    body = {}
    if error:
        body = {"error": error}
        if description:
            body["error_description"] = description
    return Response(
        current_app.json.dumps(body) if body else "",
        status=status,
        mimetype="application/json",
        headers={"WWW-Authenticate": challenge, **JSON_NO_STORE},
    )


def authenticate(public_url: str, *, allow_form: bool = False):
    """(access token, person, client) for the request, or the error Response to return.

    `public_url` is this resource's URL as clients call it (the `htu` of DPoP proofs)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme not in ("bearer", "dpop") or not value:
        value = None
        scheme = "bearer"
        if allow_form and request.method == "POST" and "access_token" in request.form:
            value = request.form["access_token"]
    if not value:
        return error(401, None)
    challenge_scheme = "DPoP" if scheme == "dpop" else "Bearer"
    found = tokens.resource_context(value)
    if found is None:
        return error(401, "invalid_token", "The access token is invalid or expired", scheme=challenge_scheme)
    at = found[0]
    if at.dpop_jkt is None:
        if scheme == "dpop":
            # RFC 9449 §7.1: only a DPoP-bound token may use the DPoP scheme.
            return error(401, "invalid_token", "The access token is not DPoP-bound", scheme="DPoP")
        g.resource_scheme = "Bearer"
        return found
    if scheme != "dpop":
        # §7.2: a bound token presented as a bearer token is refused, with a DPoP challenge.
        return error(401, "invalid_token", "The access token is DPoP-bound: use the DPoP scheme", scheme="DPoP")
    try:
        proof = dpop.header_value(request.headers)
        if proof is None:
            raise dpop.DPoPError("A DPoP proof is required")
        jkt = dpop.check_proof(proof, method=request.method, uri=public_url, access_token=value)
    except dpop.DPoPError as exc:
        return error(401, exc.error, str(exc), scheme="DPoP")
    if jkt != at.dpop_jkt:
        return error(401, "invalid_token", "The DPoP proof key does not match the access token", scheme="DPoP")
    g.resource_scheme = "DPoP"
    return found
