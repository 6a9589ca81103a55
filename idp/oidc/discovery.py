"""OpenID Provider Metadata (OIDC Discovery 1.0 §3), built from the constants the
grants and checks use, so the document cannot drift from behaviour."""

from __future__ import annotations

import json

from idp.authn import acr
from idp.oidc import authorize, claims, clients, dpop, server


def metadata(issuer: str, signing_algs: list[str]) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": list(clients.OIDC_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": sorted(authorize.RESPONSE_MODES),
        "grant_types_supported": list(clients.GRANT_TYPES),
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(signing_algs),
        "token_endpoint_auth_methods_supported": list(server.AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": list(server.AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(server.AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        # RFC 9449 §5.1: sender-constrained tokens for clients that send DPoP proofs.
        "dpop_signing_alg_values_supported": list(dpop.ALGS),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "sid", "nonce", "azp", "at_hash", *claims.ALL_CLAIMS],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(acr.SUPPORTED),
        "prompt_values_supported": sorted(authorize.SUPPORTED_PROMPTS),
        "ui_locales_supported": ["id", "en"],
        "claims_locales_supported": ["id"],
        "authorization_response_iss_parameter_supported": True,
        # OpenID Connect for Identity Assurance 1.0 §7 (for clients registered for it).
        "verified_claims_supported": True,
        "trust_frameworks_supported": [claims.TRUST_FRAMEWORK],
        "evidence_supported": list(claims.EVIDENCE_TYPES),
        "documents_supported": claims.documents_supported(),
        "documents_check_methods_supported": list(claims.CHECK_METHODS),
        "electronic_records_supported": ["population_register"],
        "claims_in_verified_claims_supported": list(claims.VERIFIED_CLAIMS),
        "frontchannel_logout_supported": False,
        # Back-Channel Logout 1.0 §2.1: logout tokens always carry `sid` (idp/oidc/backchannel.py).
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


def metadata_bytes(issuer: str, signing_algs: list[str]) -> bytes:
    return json.dumps(metadata(issuer, signing_algs), separators=(",", ":")).encode()
