"""Account pages of the document vault: /account/documents (list, upload, download,
delete) and /account/data-access ("Riwayat akses data": who read what, and the grants
the citizen can withdraw). Routes on the account blueprint; all work without JavaScript.

Uploads are the only requests allowed a large body (`document_upload_max_request`, 11 MiB);
the limit is raised for that route alone, before the body is read, so every other route
keeps `max_form_bytes` (SECURITY.md "Request limits", T72). The global CSRF check would
read the body under the small limit, so this route is exempt from it and checks the
token itself (the form's csrf_token field) once the limit is raised.
"""

from __future__ import annotations

import json
import logging

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from idp.account.views import _login, _recent, _signed_in, bp
from idp.documents import grants, services, storage, types, validate
from idp.extensions import csrf, db
from idp.oidc.models import Client
from idp.web import document_download

log = logging.getLogger(__name__)

MESSAGES = {
    "refused": _l("This file cannot be accepted. Upload a PDF, JPEG or PNG file (a PDF without forms, scripts or attachments)."),
    "too_large": _l("The file is too large: at most 10 MB per file."),
    "quota_files": _l("You already store the maximum number of documents. Delete one before adding another."),
    "quota_bytes": _l("Your documents together would take more than the space available (100 MB). Delete one before adding another."),
    "attribute": _l("Check the field “%(field)s”: it is required, or not in the right form."),
    "no_file": _l("Choose a file to upload."),
    "unknown_type": _l("Choose the kind of document."),
    "store": _l("The document could not be saved right now. Nothing was stored; please try again later."),
    "infected": _l("The virus check found harmful content in this file, so it was not stored. Check your device "
                   "with an antivirus program, then upload a clean copy of the document."),
    "registry_mismatch": _l("The population registry holds no record matching your NIK, name and date of birth. "
                            "Nothing was stored. An officer at an MPP counter can help."),
    "registry_unavailable": _l("The population registry cannot be reached right now. Nothing was stored; please try "
                               "again in a few minutes."),
    "registry_not_supported": _l("Taking documents from Dukcapil is not available yet. Nothing was stored."),
}
# Virus check of the file (documents/scan.py); clean and skipped show nothing.
SCAN_STATUS = {
    "pending": _l("Being checked for viruses: services receive the file only once the check is done."),
    "infected": _l("Blocked: the virus check found harmful content in this file. No one can download it. "
                   "Delete the document and upload a clean copy."),
}
PROVENANCE = {
    "uploaded": _l("Uploaded by you"),
    "verified": _l("Checked by an MPP officer"),
    "issued": _l("From the issuing authority"),
}


def _localized(obj, field: str) -> str:
    from flask_babel import get_locale

    loc = get_locale()
    return getattr(obj, f"{field}_en") if loc and loc.language == "en" else getattr(obj, field)


def _page(person, *, chosen: types.DocumentType | None = None, values: dict | None = None,
          error: str | None = None, status: int = 200):
    docs = services.list_documents(person.id)
    files, used = services.usage(person.id)
    cfg = current_app.config["IDP"]
    rows = []
    for doc in docs:
        doc_type = types.get(doc.type_code)
        rows.append({
            "doc": doc, "type_name": _localized(doc_type, "name") if doc_type else doc.type_code,
            "provenance": PROVENANCE.get(doc.provenance, doc.provenance), "expired": services.is_expired(doc),
            "issuer": doc_type.issuer if doc_type else "",
            "scan": SCAN_STATUS.get(doc.scan_status) if doc.blob_name else None,
        })
    return render_template(
        "account/documents.html", rows=rows, types=list(types.current().values()), chosen=chosen,
        values=values or {}, error=error, form=FlaskForm(), files=files, used=used,
        max_files=cfg["document_max_files"], quota=cfg["document_quota_bytes"], accept=validate.ACCEPT,
        localized=_localized,
    ), status


@bp.get("/documents")
def documents():
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.documents"), reauth=False)
    chosen = types.get(request.args.get("type", ""))
    return _page(person, chosen=chosen)


@bp.post("/documents")
@csrf.exempt  # checked below, after the body limit is raised (module docstring)
def upload_document():
    request.max_content_length = current_app.config["IDP"]["document_upload_max_request"]
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.documents"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    chosen = types.get(request.form.get("type", ""))
    if chosen is None:
        return _page(person, error=MESSAGES["unknown_type"], status=400)
    values = {a.name: request.form.get(f"attr_{a.name}", "")[:4096] for a in chosen.attributes}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(person, chosen=chosen, values=values, error=MESSAGES["no_file"], status=400)
    data = upload.stream.read(current_app.config["IDP"]["document_max_bytes"] + 1)
    try:
        services.upload(person.id, chosen.code, values, upload.filename, data)
    except types.AttributeError_ as exc:
        attr = chosen.attribute(exc.attribute)
        label = _localized(attr, "label") if attr else exc.attribute
        return _page(person, chosen=chosen, values=values, error=MESSAGES["attribute"] % {"field": label}, status=400)
    except validate.FileTooLargeError:
        return _page(person, chosen=chosen, values=values, error=MESSAGES["too_large"], status=413)
    except validate.RefusedFileError as exc:
        log.info(json.dumps({"event": "document_refused", "reason": exc.reason}))
        return _page(person, chosen=chosen, values=values, error=MESSAGES["refused"], status=415)
    except services.InfectedFileError:
        # 422: a file of an accepted type, refused for what it holds (audited by the service).
        return _page(person, chosen=chosen, values=values, error=MESSAGES["infected"], status=422)
    except services.QuotaExceededError as exc:
        return _page(person, chosen=chosen, values=values, error=MESSAGES[f"quota_{exc.which}"], status=413)
    except storage.BlobStoreError as exc:
        log.error(json.dumps({"event": "document_store_failed", "error": str(exc)}))
        return _page(person, chosen=chosen, values=values, error=MESSAGES["store"], status=503)
    return redirect(url_for("account.documents"), code=303)


@bp.post("/documents/issue-ktp")
def issue_ktp():
    """Take the citizen's KTP from the population registry (provenance `issued`)."""
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.documents"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    try:
        services.issue_from_registry(person)
    except services.RegistryMismatchError:
        return _page(person, error=MESSAGES["registry_mismatch"], status=422)
    except services.RegistryDownError as exc:
        if exc.not_supported:
            return _page(person, error=MESSAGES["registry_not_supported"], status=501)
        body, status = _page(person, error=MESSAGES["registry_unavailable"], status=503)
        return Response(body, status=status, headers={"Retry-After": str(exc.retry_after)})
    except services.QuotaExceededError:
        return _page(person, error=MESSAGES["quota_files"], status=413)
    except services.UnknownTypeError:
        abort(404)
    return redirect(url_for("account.documents"), code=303)


@bp.get("/documents/<public_id>/file")
def document_file(public_id: str):
    """The citizen's own file, only as a download: never rendered by the browser on our
    origin (T70: attachment, nosniff, CSP sandbox)."""
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.documents"), reauth=False)
    doc = services.get_document(person.id, public_id)
    if doc is None or not doc.blob_name or services.quarantined(doc):
        abort(404)
    if current_app.config["IDP"]["document_files_origin"]:
        # Files come only from their own origin, which never sees the session cookie: a
        # single-use link for the owner instead (idp/documents/origin.py).
        from idp.documents import links

        url = links.issue_owner(doc)
        db.session.commit()
        resp = redirect(url, code=303)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    try:
        data = services.read_file(doc)
    except (services.DocumentError, storage.BlobStoreError) as exc:
        log.error(json.dumps({"event": "document_read_failed", "error": str(exc)}))
        abort(404)
    return document_download(doc, data)


@bp.post("/documents/<public_id>/delete")
def delete_document(public_id: str):
    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.documents"), reauth=True)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    if not services.delete(person.id, public_id):
        abort(404)
    return redirect(url_for("account.documents"), code=303)


# -- Riwayat akses data --------------------------------------------------------------------------
@bp.get("/data-access")
def data_access():
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.data_access"), reauth=False)
    live = grants.list_grants(person.id)
    history = grants.access_history(person.id)
    client_ids = {g.client_id for g in live} | {a.client_id for a in history}
    names = {c.client_id: c.name for c in db.session.query(Client).filter(Client.client_id.in_(client_ids))} if client_ids else {}
    registry = types.current()

    def type_name(code: str) -> str:
        return _localized(registry[code], "name") if code in registry else code

    def attribute_labels(code: str, names_: list[str]) -> list[str]:
        t = registry.get(code)
        return [(_localized(a, "label") if (a := t.attribute(n)) else n) if t else n for n in names_]

    from idp.consent import services as consent_svc

    consents = consent_svc.list_consents(person.id)
    missing = {c.client_id for c in consents} - set(names)
    if missing:
        names.update({c.client_id: c.name for c in db.session.query(Client).filter(Client.client_id.in_(missing))})
    return render_template(
        "account/data_access.html", grants=live, history=history, client_names=names, type_name=type_name,
        attribute_labels=attribute_labels, form=FlaskForm(), consents=consents,
    )


@bp.post("/data-access/services/<client_id>/withdraw")
def withdraw_consent(client_id: str):
    """Stop sharing with a service altogether (T67): its consent and document grants go,
    its tokens for this citizen are revoked at once and it gets a back-channel notice."""
    from idp.consent import services as consent_svc

    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.data_access"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    had_grants = grants.withdraw_client(person.id, client_id)
    if not consent_svc.withdraw_consent(person.id, client_id):
        if not had_grants:
            abort(404)
        db.session.commit()
    return redirect(url_for("account.data_access"), code=303)


@bp.post("/data-access/grants/<int:grant_id>/withdraw")
def withdraw_grant(grant_id: int):
    session, person = _signed_in()
    if session is None:
        return _login(url_for("account.data_access"), reauth=False)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(403)
    if not grants.withdraw(person.id, grant_id):
        abort(404)
    return redirect(url_for("account.data_access"), code=303)
