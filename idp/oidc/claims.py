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
            if name == "verified_claims":
                out[member][name] = _parse_verified_claims(spec, member)
                continue
            if spec is not None and not isinstance(spec, dict):
                raise InvalidClaimsParameterError(f"claims.{member}.{name} must be null or an object")
            if spec and "values" in spec and not isinstance(spec["values"], list):
                raise InvalidClaimsParameterError(f"claims.{member}.{name}.values must be an array")
            if spec and "essential" in spec and not isinstance(spec["essential"], bool):
                raise InvalidClaimsParameterError(f"claims.{member}.{name}.essential must be a boolean")
            out[member][name] = spec or {}
    return out


def _parse_verified_claims(spec: Any, member: str) -> list[dict]:
    """OIDC4IDA §6.5: an object, or an array of objects, each with a `verification`
    object (at least `trust_framework`) and a non-empty `claims` object."""
    items = spec if isinstance(spec, list) else [spec]
    if not items or len(items) > 8:
        raise InvalidClaimsParameterError(f"claims.{member}.verified_claims must be an object or a short array")
    for item in items:
        if not isinstance(item, dict):
            raise InvalidClaimsParameterError(f"claims.{member}.verified_claims entries must be objects")
        verification, wanted = item.get("verification"), item.get("claims")
        if not isinstance(verification, dict) or "trust_framework" not in verification:
            raise InvalidClaimsParameterError(f"claims.{member}.verified_claims.verification.trust_framework is required")
        if not isinstance(wanted, dict) or not wanted:
            raise InvalidClaimsParameterError(f"claims.{member}.verified_claims.claims must be a non-empty object")
        for name, sub in wanted.items():
            if sub is not None and not isinstance(sub, dict):
                raise InvalidClaimsParameterError(f"claims.{member}.verified_claims.claims.{name} must be null or an object")
    return items


def requested_claim_names(claims_param: dict[str, dict]) -> set[str]:
    names = set(claims_param.get("userinfo", {})) | set(claims_param.get("id_token", {}))
    for member in ("userinfo", "id_token"):
        for item in claims_param.get(member, {}).get("verified_claims", []):
            names |= set(item["claims"])
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


def release(person: Person, client, scopes: set[str], requested: dict[str, Any], *, include_scope_claims: bool,
            document_evidence: bool = False) -> dict:
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
    if requested.get("verified_claims") and getattr(client, "identity_assurance", False):
        verified = [v for item in requested["verified_claims"]
                    if (v := verified_claims(person, item, allowed=allowed, scopes=scopes,
                                             client=client if document_evidence else None)) is not None]
        if verified:
            out["verified_claims"] = verified[0] if len(verified) == 1 else verified
    return out


# -- OpenID Connect for Identity Assurance 1.0 ----------------------------------------------
# Our trust framework: accounts matched against Dukcapil's population register online
# (identity level 1) or verified in person by an MPP officer (level 3). Documented in
# README "Identity assurance"; the name is ours because no registered framework fits.
TRUST_FRAMEWORK = "id_satuakun"
ASSURANCE_LEVELS = {1: "registry_matched", 3: "in_person_verified"}
EVIDENCE_TYPES = ("electronic_record", "document")
CHECK_METHODS = ("data", "vpip")
VERIFIED_CLAIMS = ("name", "birthdate", "gender", "place_of_birth", "nik")
DUKCAPIL = {"name": "Direktorat Jenderal Kependudukan dan Pencatatan Sipil", "country_code": "IDN"}


def _iso(ts: int | None) -> str | None:
    import datetime

    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _evidence(entry: dict) -> dict | None:
    """Our stored evidence entry (identity services, counter) in OIDC4IDA form."""
    if entry.get("type") == "electronic_record":
        return {
            "type": "electronic_record",
            "check_details": [{"check_method": "data", "organization": "Dukcapil" if entry.get("registry") == "http"
                               else "SatuAkun", "time": _iso(entry.get("time"))}],
            "record": {"type": "population_register", "source": DUKCAPIL},
        }
    if entry.get("type") == "document":
        check = {"check_method": "vpip", "organization": entry.get("location_name") or "Mal Pelayanan Publik",
                 "time": _iso(entry.get("time"))}
        if entry.get("txn"):
            check["txn"] = str(entry["txn"])
        return {"type": "document", "check_details": [check],
                "document_details": {"type": entry.get("document_type", "idcard"), "issuer": DUKCAPIL}}
    return None


def _document_evidence(person: Person) -> list[dict]:
    """The person's KTP in the vault as OIDC4IDA evidence (issue #6): checked by an MPP
    officer (`document`, vpip, the MPP as organization; never the officer) or issued by
    the population registry (`electronic_record`, population_register). Expired or
    deleted documents are not evidence."""
    person_id = getattr(person, "id", None)
    if person_id is None:
        return []
    from idp.documents import services as vault

    out: list[dict] = []
    for doc in vault.evidence_documents(person_id):
        if vault.is_expired(doc):
            continue
        if doc.provenance == "verified":
            out.append({"type": "document",
                        "check_details": [{"check_method": "vpip", "organization": doc.verified_location or "Mal Pelayanan Publik",
                                           "time": _iso(doc.verified_at)}],
                        "document_details": {"type": "idcard", "issuer": DUKCAPIL}})
        else:
            out.append({"type": "electronic_record",
                        "check_details": [{"check_method": "data", "organization": "Dukcapil", "time": _iso(doc.verified_at)}],
                        "record": {"type": "population_register", "source": DUKCAPIL}})
    return out


# OIDC4IDA document types (IDA predefined values where one fits; other types keep their
# code from the types registry, as IDA allows).
IDA_DOCUMENT_TYPES = {"ktp": "idcard", "sim": "driving_permit"}


def documents_supported() -> list[str]:
    """IDA document types this provider can give evidence of: the ID card always (counter
    checks), and every type in the document types registry."""
    from idp.documents import types

    return sorted({"idcard"} | {IDA_DOCUMENT_TYPES.get(code, code) for code in types.current()})


def _granted_document_evidence(person: Person, client, scopes: set[str]) -> list[dict]:
    """Documents of the vault the citizen shares with this client (a `doc:<code>` scope of
    the token and a live grant for the stated purpose) that an officer verified or the
    issuing authority issued, as OIDC4IDA `document` evidence with their number, dates
    and issuer (issue #6). Citizen-uploaded or expired documents are no evidence. The read
    is recorded in the citizen's access history like any other (kind "verified_claims")."""
    from idp.documents import grants, types

    codes = types.codes_in_scopes(scopes) & set(client.document_types or [])
    if not codes or getattr(person, "id", None) is None:
        return []
    released = grants.release(person.id, client.client_id, codes, kind="verified_claims", client=client, files=False)
    out: list[dict] = []
    for doc in released or []:
        if doc["provenance"] not in ("verified", "issued") or doc["expired"]:
            continue
        doc_type = types.get(doc["type"])
        attrs = doc["attributes"]
        details: dict[str, Any] = {"type": IDA_DOCUMENT_TYPES.get(doc["type"], doc["type"])}
        if attrs.get("number"):
            details["document_number"] = attrs["number"]
        if attrs.get("issued_on"):
            details["date_of_issuance"] = attrs["issued_on"]
        if doc["expires_on"]:
            details["date_of_expiry"] = doc["expires_on"]
        details["issuer"] = {"name": doc_type.issuer if doc_type else "", "country_code": "IDN"}
        verified = doc["verified"] or {}
        if doc["provenance"] == "verified":
            check = {"check_method": "vpip", "organization": verified.get("location") or "Mal Pelayanan Publik",
                     "time": verified.get("time")}
        else:
            check = {"check_method": "data", "organization": verified.get("issuer") or details["issuer"]["name"],
                     "time": verified.get("time")}
        out.append({"type": "document", "check_details": [check], "document_details": details})
    return out


def _value_ok(spec: Any, actual: Any) -> bool:
    """IDA §6.3/§5.5.1: `value`/`values` constrain what may be returned."""
    if not isinstance(spec, dict):
        return True
    if "value" in spec and spec["value"] != actual:
        return False
    return not ("values" in spec and isinstance(spec["values"], list) and actual not in spec["values"])


def verified_claims(person: Person, request: dict, *, allowed: set[str], scopes: set[str], client=None) -> dict | None:
    """One `verified_claims` element for one request entry, or None when the person's
    verification cannot meet the request (IDA: omit rather than return something else).
    Only claims the client is registered for (and consented to) are returned."""
    level = getattr(person, "identity_level", None)
    if level not in ASSURANCE_LEVELS:
        return None
    documents = _document_evidence(person)
    if not getattr(person, "evidence", None) and not documents:
        return None
    wanted = request["verification"]
    verification: dict[str, Any] = {"trust_framework": TRUST_FRAMEWORK}
    if not _value_ok(wanted.get("trust_framework"), TRUST_FRAMEWORK):
        return None
    if "assurance_level" in wanted:
        if not _value_ok(wanted["assurance_level"], ASSURANCE_LEVELS[level]):
            return None
        verification["assurance_level"] = ASSURANCE_LEVELS[level]
    if "time" in wanted:
        verification["time"] = _iso(person.identity_verified_at)
    if "evidence" in wanted:
        verification["evidence"] = [e for e in map(_evidence, person.evidence or []) if e is not None] + documents
        if client is not None:
            verification["evidence"] += _granted_document_evidence(person, client, scopes)
    out_claims: dict[str, Any] = {}
    for name in request["claims"]:
        if name not in VERIFIED_CLAIMS:
            continue
        if name == "place_of_birth":
            if "profile" in scopes and getattr(person, "birthplace", None):
                out_claims[name] = {"locality": person.birthplace, "country": "IDN"}
            continue
        if name not in allowed or (name == "nik" and "nik" not in scopes):
            continue
        value = person_claim(person, name)
        if value:
            out_claims[name] = value
    if not out_claims:
        return None
    return {"verification": verification, "claims": out_claims}
