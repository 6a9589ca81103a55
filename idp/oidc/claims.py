"""Claims: which scope releases which claim, the `claims` request parameter, and `sub`.

OIDC Core §5.4 (scope claims), §5.5 (claims parameter), §8 (subject identifier types).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from flask import current_app

from idp.identity.models import Person
from idp.identity.services import decrypt_nik

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "gender", "birthdate", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    # The NIK itself: only for clients registered for the `nik` scope.
    "nik": ("nik",),
}
ALL_CLAIMS = tuple(c for claims in SCOPE_CLAIMS.values() for c in claims)
# Claims about the authentication, not the person: never need consent.
PROTOCOL_CLAIMS = ("sub", "acr", "auth_time", "amr")
MAX_CLAIMS_PARAMETER = 65536


class InvalidClaimsParameterError(ValueError):
    pass


def claims_for_scopes(scopes: set[str]) -> set[str]:
    out: set[str] = set()
    for scope in scopes:
        out.update(SCOPE_CLAIMS.get(scope, ()))
    return out


def parse_claims_parameter(raw: str | None) -> dict[str, dict[str, Any]]:
    """Parse the `claims` request parameter (§5.5). Returns {"userinfo": {...}, "id_token": {...}}.

    Raises InvalidClaimsParameterError for malformed input (the caller answers invalid_request).
    """
    out: dict[str, dict[str, Any]] = {"userinfo": {}, "id_token": {}}
    if raw is None or raw == "":
        return out
    if len(raw) > MAX_CLAIMS_PARAMETER:
        raise InvalidClaimsParameterError("claims parameter too large")
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidClaimsParameterError("claims parameter is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidClaimsParameterError("claims parameter must be a JSON object")
    for member in ("userinfo", "id_token"):
        requested = data.get(member)
        if requested is None:
            continue
        if not isinstance(requested, dict):
            raise InvalidClaimsParameterError(f"claims.{member} must be an object")
        for name, spec in requested.items():
            if spec is not None and not isinstance(spec, dict):
                raise InvalidClaimsParameterError(f"claims.{member}.{name} must be null or an object")
            if spec and "values" in spec and not isinstance(spec["values"], list):
                raise InvalidClaimsParameterError(f"claims.{member}.{name}.values must be an array")
            if spec and "essential" in spec and not isinstance(spec["essential"], bool):
                raise InvalidClaimsParameterError(f"claims.{member}.{name}.essential must be a boolean")
            out[member][name] = spec or {}
    return out


def requested_claim_names(claims_param: dict[str, dict]) -> set[str]:
    names = set(claims_param.get("userinfo", {})) | set(claims_param.get("id_token", {}))
    return {n for n in names if n in ALL_CLAIMS}


def subject(person: Person, client) -> str:
    """`sub` for this person at this client: pairwise per sector (default) or public.

    Pairwise: base64url(HMAC-SHA-256(pairwise secret, sector || public_id)), 43 chars,
    stable across logins and key rotation, not computable without the server secret (T34).
    """
    if client.subject_type == "public":
        return person.public_id
    key = current_app.extensions["idp_secrets"]["pairwise"]
    digest = hmac.new(key, f"{client.sector_identifier}\x00{person.public_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def person_claim(person: Person, name: str) -> Any:
    if name == "nik":
        return decrypt_nik(person)
    if name == "updated_at":
        return person.updated_at
    return getattr(person, name, None)


def release(person: Person, client, scopes: set[str], requested: dict[str, Any], *, include_scope_claims: bool) -> dict:
    """Claims to release: scope claims (for UserInfo) plus individually requested claims,
    limited to what the client is registered for and the person consented to.

    ``scopes`` are the granted scopes; ``requested`` is one member of the claims
    parameter. Claims whose value is unknown are left out (§5.3.2).
    """
    allowed = set(client.claims)
    names: set[str] = set()
    if include_scope_claims:
        names |= claims_for_scopes(scopes)
    # Individually requested claims are released only if granted (consent was asked for them).
    names |= {n for n in requested if n in ALL_CLAIMS}
    out: dict[str, Any] = {}
    for name in sorted(names & allowed):
        if name == "nik" and "nik" not in scopes:
            continue
        value = person_claim(person, name)
        if value is not None and value != "":
            out[name] = value
    return out
