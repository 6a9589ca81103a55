"""`GET /claims/documents`: the attributes of the documents a citizen agreed to share with
the calling service, with their provenance (issue #6).

- Bearer access token in the Authorization header only (RFC 6750 §2.1), checked as for
  UserInfo; errors as RFC 6750 §3.1: no or bad token → 401 with `WWW-Authenticate`; a
  token without a `doc:<code>` scope, or whose grant expired or was withdrawn → 403
  `insufficient_scope`.
- The subject is the token's, always: query parameters (`sub`) and headers never choose
  whose documents are read (SECURITY.md T68, OWASP API1). Only types with a live grant
  of this citizen to this client are returned; grants are read on every request, with
  no cache, so a withdrawal applies at once on every node (T67).
- `Accept: application/jwt` returns the same content as a JWT signed with the provider's
  active key (iss, aud = client_id, sub as in UserInfo, iat, exp), which a service can
  keep as proof of what it received.
- `?type=<code>` narrows the answer to one type.
- Where the grant includes the file (registration `document_file = true`), each document
  carries `file`: {url, expires_in, content_type, size, sha256}. The url is a single-use
  link (`document_link_ttl` seconds) that needs the same client's access token for the
  same citizen (idp/documents/links.py); the file is served only as an attachment (T70).
- UserInfo points here as a distributed claim `documents` (OIDC Core §5.6.2); the RP
  calls it with the access token it already holds.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, request

from idp import clock
from idp.documents import grants, types
from idp.extensions import csrf, db
from idp.keys import store
from idp.oidc import claims as claims_svc
from idp.oidc import resource
from idp.oidc.views import JSON_NO_STORE, _bearer_error, bp
from idp.web import document_download

PATH = "/claims/documents"
CLAIM_NAME = "documents"
SOURCE_NAME = "satuakun_documents"


def distributed_claims(issuer: str) -> dict:
    """UserInfo members pointing to this endpoint (OIDC Core §5.6.2)."""
    return {
        "_claim_names": {CLAIM_NAME: SOURCE_NAME},
        "_claim_sources": {SOURCE_NAME: {"endpoint": issuer + PATH}},
    }


def document_scope_codes(scope: str) -> set[str]:
    return types.codes_in_scopes((scope or "").split())


@bp.get(PATH)
@csrf.exempt
def claims_documents():
    found = resource.authenticate(current_app.config["IDP"]["issuer"] + PATH)
    if isinstance(found, Response):
        return found
    at, person, client = found
    codes = document_scope_codes(at.scope) & set(client.document_types or [])
    wanted = request.args.get("type")
    if wanted is not None:
        codes &= {wanted}
    if not codes:
        return _bearer_error(403, "insufficient_scope", "The access token does not cover these documents")
    jwt_wanted = request.accept_mimetypes.best_match(["application/json", "application/jwt"]) == "application/jwt"
    documents = grants.release(person.id, client.client_id, codes, kind="claims_jwt" if jwt_wanted else "claims",
                               client=client)
    if documents is None:
        # Expired or withdrawn grant: the token alone is not enough (T67, T69).
        return _bearer_error(403, "insufficient_scope", "The end-user has not granted access to these documents")
    issuer = current_app.config["IDP"]["issuer"]
    sub = claims_svc.subject(person, client)
    if not jwt_wanted:
        return Response(current_app.json.dumps({"sub": sub, "documents": documents}), mimetype="application/json",
                        headers=JSON_NO_STORE)
    now = clock.now()
    alg = client.id_token_signed_response_alg
    kid, key = store.signing_key(alg)
    payload = {
        "iss": issuer, "aud": client.client_id, "sub": sub, "iat": now,
        "exp": now + current_app.config["IDP"]["id_token_ttl"], "jti": secrets.token_urlsafe(16), "documents": documents,
    }
    token = store.sign({"alg": alg, "kid": kid, "typ": "JWT"}, payload, key, alg)
    return Response(token, mimetype="application/jwt", headers=JSON_NO_STORE)


# -- files: single-use links (idp/documents/links.py) -----------------------------------------------
@bp.get(PATH + "/files/<link_id>")
@csrf.exempt
def claims_document_file(link_id: str):
    """The file of one document, once, through a link from a claims answer, with the same
    client's access token for the same citizen (a leaked URL alone is useless)."""
    import json
    import logging

    from idp.documents import links, origin, services, storage

    found = resource.authenticate(f"{origin.base_url()}{PATH}/files/{link_id}")
    if isinstance(found, Response):
        return found
    at, person, client = found
    codes = document_scope_codes(at.scope) & set(client.document_types or [])
    if not codes:
        return _bearer_error(403, "insufficient_scope", "The access token does not cover these documents")
    try:
        doc = links.consume(link_id, client.client_id, person.id, codes)
    except links.LinkRefusedError as exc:
        if exc.reason == "scope":
            return _bearer_error(403, "insufficient_scope", "The access token does not cover this document")
        if exc.reason == "grant":
            return _bearer_error(403, "insufficient_scope", "The end-user has not granted access to this file")
        return Response(current_app.json.dumps({"error": "not_found"}), status=404, mimetype="application/json",
                        headers=JSON_NO_STORE)
    try:
        data = services.read_file(doc)
        # A quarantine committed since the link was checked (a rescan on another node)
        # still wins: look at the row again once the file is in hand.
        db.session.refresh(doc)
        if not services.file_releasable(doc):
            raise services.DocumentError("withheld since the link was checked")
    except (services.DocumentError, storage.BlobStoreError) as exc:
        logging.getLogger(__name__).error(json.dumps({"event": "document_read_failed", "error": str(exc)}))
        return Response(current_app.json.dumps({"error": "not_found"}), status=404, mimetype="application/json",
                        headers=JSON_NO_STORE)
    return document_download(doc, data)
