"""Relying-party registrations: clients/<client_id>.toml, validated strictly, synced to the DB.

A bad file fails with the file, the field and the reason, and nothing is loaded
(node-oidc-provider `client_schema.js`). Syncing into the database means every node
serves the same registry without a restart. Files never hold a plaintext secret: only
``client_secret_hash = "sha256:<hex>"`` of a generated high-entropy secret.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.oidc.models import Client, hash_secret

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
OIDC_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access", "nik")
ID_TOKEN_ALGS = ("ES256", "RS256", "PS256", "EdDSA")
CLIENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,127}")
SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749 §3.3 scope-token

FIELDS = {
    "client_id", "name", "region_code", "purpose", "purpose_en", "logo", "redirect_uris",
    "post_logout_redirect_uris", "token_endpoint_auth_method", "client_secret_hash", "jwks",
    "grant_types", "scopes", "claims", "subject_type", "sector_identifier",
    "id_token_signed_response_alg", "disabled", "identity_assurance", "document_types", "document_file",
    "backchannel_logout_uri", "backchannel_logout_session_required", "dpop_bound_access_tokens",
    "document_purposes",
}


class RegistrationError(ValueError):
    """A registration file is invalid. ``str()`` names the file, field and reason."""

    def __init__(self, source: str, field: str, reason: str):
        super().__init__(f"{source}: {field}: {reason}")
        self.source, self.field, self.reason = source, field, reason


@dataclass
class Registration:
    source: str
    data: dict[str, Any]


def _is_loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


def _check_uri(source: str, field: str, uri: Any) -> str:
    if not isinstance(uri, str) or len(uri) > 2000:
        raise RegistrationError(source, field, "must be a string of at most 2000 characters")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise RegistrationError(source, field, f"{uri!r} must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return uri  # RFC 8252 §7.3 loopback redirects (native apps, local development)
    raise RegistrationError(source, field, f"{uri!r} must be https (http only on loopback)")


def _str_list(source: str, field: str, value: Any, allowed: tuple[str, ...] | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistrationError(source, field, "must be a list of strings")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise RegistrationError(source, field, f"{v!r} is not one of {', '.join(allowed)}")
    return list(dict.fromkeys(value))


def _policy() -> tuple[str, tuple[str, ...]]:
    """(default subject type, signing algorithms) from the running configuration."""
    from flask import current_app, has_app_context

    if has_app_context():
        cfg = current_app.config["IDP"]
        return cfg["default_subject_type"], tuple(cfg["signing_algs"])
    return "pairwise", ("ES256", "RS256")


def validate_registration(raw: dict[str, Any], source: str) -> dict:
    """Check one registration; returns normalised data for the Client row."""
    from idp.oidc.claims import claims_for_scopes  # the claim vocabulary lives with claims

    unknown = set(raw) - FIELDS
    if unknown:
        raise RegistrationError(source, min(unknown), "unknown field")
    cid = raw.get("client_id")
    if not isinstance(cid, str) or not CLIENT_ID_RE.fullmatch(cid):
        raise RegistrationError(source, "client_id", "3-128 characters of a-z 0-9 . _ -, starting with a letter or digit")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise RegistrationError(source, "name", "required, at most 200 characters")
    for field in ("region_code", "purpose", "purpose_en", "logo", "sector_identifier"):
        if field in raw and not isinstance(raw[field], str):
            raise RegistrationError(source, field, "must be a string")
    logo_png = _read_logo(source, raw.get("logo"))

    grant_types = _str_list(source, "grant_types", raw.get("grant_types", ["authorization_code"]), GRANT_TYPES)
    if not grant_types:
        raise RegistrationError(source, "grant_types", "must not be empty")
    redirect_uris = [_check_uri(source, "redirect_uris", u) for u in _str_list(source, "redirect_uris", raw.get("redirect_uris", []))]
    if "authorization_code" in grant_types and not redirect_uris:
        raise RegistrationError(source, "redirect_uris", "required for the authorization_code grant")
    post_logout = [
        _check_uri(source, "post_logout_redirect_uris", u)
        for u in _str_list(source, "post_logout_redirect_uris", raw.get("post_logout_redirect_uris", []))
    ]

    method = raw.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise RegistrationError(source, "token_endpoint_auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
    secret_hash = raw.get("client_secret_hash")
    jwks = raw.get("jwks")
    if method in ("client_secret_basic", "client_secret_post"):
        if not isinstance(secret_hash, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", secret_hash):
            raise RegistrationError(source, "client_secret_hash", "required as 'sha256:<64 hex>' (use 'idp clients rotate-secret')")
    elif secret_hash is not None:
        raise RegistrationError(source, "client_secret_hash", f"not used with {method}")
    if method == "private_key_jwt":
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not all(
            isinstance(k, dict) and k.get("kty") in ("EC", "RSA", "OKP") for k in jwks["keys"]
        ):
            raise RegistrationError(source, "jwks", "required: a JWK Set of EC, RSA or OKP public keys")
        try:
            keyset = KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError):
            raise RegistrationError(source, "jwks", "required: a JWK Set of public keys") from None
        if any(k.is_private for k in keyset.keys):
            raise RegistrationError(source, "jwks", "must hold public keys only")
    elif jwks is not None:
        raise RegistrationError(source, "jwks", f"not used with {method}")
    if method == "none" and "client_credentials" in grant_types:
        raise RegistrationError(source, "grant_types", "client_credentials needs client authentication")

    scopes = _str_list(source, "scopes", raw.get("scopes", ["openid"]))
    document_types, document_file = _document_fields(source, raw, scopes)
    document_purposes = _document_purposes(source, raw, document_types)
    scopes += [f"doc:{t}" for t in document_types if f"doc:{t}" not in scopes]
    for s in scopes:
        if not SCOPE_TOKEN_RE.fullmatch(s):
            raise RegistrationError(source, "scopes", f"{s!r} is not a valid scope token")
    if "authorization_code" in grant_types and "openid" not in scopes:
        raise RegistrationError(source, "scopes", "must include 'openid'")
    allowed_claims = claims_for_scopes(set(scopes))
    claims = _str_list(source, "claims", raw.get("claims", sorted(allowed_claims)))
    for c in claims:
        if c not in allowed_claims:
            raise RegistrationError(source, "claims", f"{c!r} is not released by the registered scopes")

    default_subject_type, signing_algs = _policy()
    subject_type = raw.get("subject_type", default_subject_type)
    if subject_type not in ("pairwise", "public"):
        raise RegistrationError(source, "subject_type", "must be 'pairwise' or 'public'")
    sector = raw.get("sector_identifier")
    if not sector:
        hosts = {urlsplit(u).hostname for u in redirect_uris}
        if subject_type == "pairwise" and len(hosts) > 1:
            raise RegistrationError(source, "sector_identifier", "required when redirect_uris span several hosts")
        sector = hosts.pop() if hosts else cid
    alg = raw.get("id_token_signed_response_alg", "ES256")
    if alg not in ID_TOKEN_ALGS or alg not in signing_algs:
        raise RegistrationError(
            source, "id_token_signed_response_alg", f"must be one of the provider's signing_algs: {', '.join(signing_algs)}"
        )
    disabled = raw.get("disabled", False)
    if not isinstance(disabled, bool):
        raise RegistrationError(source, "disabled", "must be true or false")
    # OpenID Connect for Identity Assurance: may request `verified_claims` (evidence of
    # how the person was verified). Granted per registration, never by the request.
    identity_assurance = raw.get("identity_assurance", False)
    if not isinstance(identity_assurance, bool):
        raise RegistrationError(source, "identity_assurance", "must be true or false")
    backchannel_uri, backchannel_sid = _backchannel_fields(source, raw)
    # RFC 9449 §5.2: tokens only with a DPoP proof (high-assurance services; SECURITY.md T69).
    dpop_bound = raw.get("dpop_bound_access_tokens", False)
    if not isinstance(dpop_bound, bool):
        raise RegistrationError(source, "dpop_bound_access_tokens", "must be true or false")

    return {
        "client_id": cid,
        "name": name.strip(),
        "region_code": raw.get("region_code") or None,
        "purpose": raw.get("purpose", ""),
        "purpose_en": raw.get("purpose_en", "") or raw.get("purpose", ""),
        "logo_png": logo_png,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
        "token_endpoint_auth_method": method,
        "client_secret_hash": secret_hash,
        "jwks": jwks,
        "grant_types": grant_types,
        "scopes": scopes,
        "claims": claims,
        "subject_type": subject_type,
        "sector_identifier": sector,
        "id_token_signed_response_alg": alg,
        "disabled": disabled,
        "identity_assurance": identity_assurance,
        "document_types": document_types,
        "document_file": document_file,
        "document_purposes": document_purposes,
        "backchannel_logout_uri": backchannel_uri,
        "backchannel_logout_session_required": backchannel_sid,
        "dpop_bound_access_tokens": dpop_bound,
    }


def _backchannel_fields(source: str, raw: dict[str, Any]) -> tuple[str | None, bool]:
    """Back-Channel Logout 1.0 §2.2: an absolute URI without fragment (same rules as
    redirect_uris: https, http only on loopback; delivery refuses non-public addresses
    unless backchannel_allow_private), and whether the RP requires `sid` (we always send it)."""
    uri = raw.get("backchannel_logout_uri")
    if uri is not None:
        uri = _check_uri(source, "backchannel_logout_uri", uri)
        parts = urlsplit(uri)
        try:
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError:
            raise RegistrationError(source, "backchannel_logout_uri", f"{uri!r} has an invalid port") from None
        if parts.username or parts.password:
            raise RegistrationError(source, "backchannel_logout_uri", "must not contain credentials")
    required = raw.get("backchannel_logout_session_required", False)
    if not isinstance(required, bool):
        raise RegistrationError(source, "backchannel_logout_session_required", "must be true or false")
    return uri or None, required


def _document_fields(source: str, raw: dict[str, Any], scopes: list[str]) -> tuple[list[str], bool]:
    """`document_types`: the document types (idp/documents/types.toml codes) the client may
    request, each as scope `doc:<code>`; a `doc:` scope in `scopes` must be listed here.
    `document_file`: whether it may also ask for the files, not only the attributes."""
    from idp.documents import types as doc_types

    known = tuple(doc_types.current())
    document_types = _str_list(source, "document_types", raw.get("document_types", []), known)
    for s in scopes:
        if s.startswith(doc_types.SCOPE_PREFIX) and s[len(doc_types.SCOPE_PREFIX):] not in document_types:
            raise RegistrationError(source, "scopes", f"{s!r} needs its type in document_types")
    document_file = raw.get("document_file", False)
    if not isinstance(document_file, bool):
        raise RegistrationError(source, "document_file", "must be true or false")
    if document_file and not document_types:
        raise RegistrationError(source, "document_file", "needs document_types")
    return document_types, document_file


def _document_purposes(source: str, raw: dict[str, Any], document_types: list[str]) -> dict[str, str]:
    """`document_purposes = { kk = "…" }`: why the service needs each type (UU PDP Art. 22),
    shown on the consent page; a type left out uses `purpose`."""
    purposes = raw.get("document_purposes", {})
    if not isinstance(purposes, dict):
        raise RegistrationError(source, "document_purposes", "must be a table of document type = purpose")
    for code, text in purposes.items():
        if code not in document_types:
            raise RegistrationError(source, "document_purposes", f"{code!r} is not in document_types")
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            raise RegistrationError(source, "document_purposes", f"{code!r}: a purpose of 1-500 characters")
    return {code: text.strip() for code, text in purposes.items()}


MAX_LOGO_BYTES = 65536
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_logo(source: str, logo: str | None) -> bytes | None:
    """The logo shown on the consent page: a PNG file next to the registration, stored in
    the database so every node serves it from our own origin (no third-party request)."""
    if not logo:
        return None
    base = Path(source).resolve().parent
    path = (base / logo).resolve()
    if base not in path.parents:
        raise RegistrationError(source, "logo", "must be a path inside the clients directory")
    try:
        data = path.read_bytes()
    except OSError:
        raise RegistrationError(source, "logo", f"cannot read {logo}") from None
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_LOGO_BYTES:
        raise RegistrationError(source, "logo", f"must be a PNG of at most {MAX_LOGO_BYTES} bytes")
    return data


def read_directory(directory: Path) -> list[Registration]:
    """Read and validate every ``*.toml`` in ``directory``; raises on the first bad one."""
    regs: list[Registration] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        source = str(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RegistrationError(source, "(file)", f"not valid TOML: {exc}") from None
        data = validate_registration(raw, source)
        if path.stem != data["client_id"]:
            raise RegistrationError(source, "client_id", f"must match the file name ({path.stem!r})")
        if data["client_id"] in seen:
            raise RegistrationError(source, "client_id", f"duplicate of {seen[data['client_id']]}")
        seen[data["client_id"]] = source
        regs.append(Registration(source, data))
    return regs


def sync(regs: list[Registration], *, actor: str) -> list[str]:
    """Upsert registrations in one transaction. Returns the client_ids written. Commits."""
    now = clock.now()
    written = []
    for reg in regs:
        client = db.session.get(Client, reg.data["client_id"])
        if client is None:
            client = Client(client_id=reg.data["client_id"])
            db.session.add(client)
        for key, value in reg.data.items():
            setattr(client, key, value)
        client.source = reg.source
        client.updated_at = now
        record_event(EventTag.CLIENT_SYNCED, actor=actor, client_id=client.client_id)
        written.append(client.client_id)
    db.session.commit()
    invalidate_client_cache()
    return written


def get_client(client_id: Any) -> Client | None:
    """An enabled client, or None."""
    if not isinstance(client_id, str) or len(client_id) > 128:
        return None
    client = db.session.get(Client, client_id)
    if client is None or client.disabled:
        return None
    return client


_SNAPSHOT_COLUMNS = [c.key for c in Client.__table__.columns if c.key != "logo_png"]


def get_client_cached(client_id: Any) -> Client | None:
    """An enabled client for the token, revocation and introspection endpoints, from a
    per-process snapshot at most `key_cache_seconds` old (saves a query per request).

    The snapshot is a transient Client (never attached to a session), read-only. A change
    made on another node (disable, new secret) reaches this node within that time; on
    the node where `idp clients` runs it applies at once."""
    from flask import current_app

    if not isinstance(client_id, str) or len(client_id) > 128:
        return None
    cache = current_app.extensions.setdefault("idp_client_cache", {})
    ttl = current_app.config["IDP"]["key_cache_seconds"]
    now = clock.now()
    hit = cache.get(client_id)
    if hit is not None and now - hit[1] < ttl:
        return hit[0]
    row = db.session.get(Client, client_id)
    snapshot = None
    if row is not None and not row.disabled:
        snapshot = Client(**{key: getattr(row, key) for key in _SNAPSHOT_COLUMNS})
    if len(cache) > 10000:
        cache.clear()
    cache[client_id] = (snapshot, now)
    return snapshot


def invalidate_client_cache() -> None:
    from flask import current_app

    current_app.extensions.get("idp_client_cache", {}).clear()


def list_clients() -> list[Client]:
    return list(db.session.execute(select(Client).order_by(Client.client_id)).scalars())


def new_secret() -> tuple[str, str]:
    """(plaintext shown once, stored hash)."""
    secret = secrets.token_urlsafe(32)
    return secret, "sha256:" + hash_secret(secret)
