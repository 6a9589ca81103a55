"""Correcting one's own data (UU PDP Art. 6; SECURITY.md T94): `/account/profile`.

- Population data (name, date and place of birth) is Dukcapil's: the citizen types the
  corrected values and they are accepted only when the population registry matches them
  for the account's NIK (the same check as registration). So a citizen whose record was
  corrected at Dukcapil brings the account in line, and nobody can give an account a
  name the registry does not hold. Each check is a registry query: at most 5 an hour per
  account.
- The postal address is the citizen's own statement (OIDC `address` claim) and is edited
  freely.

Both need a full sign-in in the last 15 minutes, are audited (field names only, never
values) and bump `updated_at`: relying parties see the correction on their next UserInfo
call. Nothing is cached per node, so every node answers with the corrected data at once.
"""

from __future__ import annotations

import datetime

from flask import abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from idp import clock
from idp.account.views import _login, _recent, _signed_in, bp
from idp.audit.services import EventTag, record_event
from idp.authn import ratelimit
from idp.extensions import db
from idp.identity.models import Person
from idp.identity.services import decrypt_nik
from idp.web import error_page

CHECK_LIMITS = (ratelimit.Limit(5, 3600),)
MAX_TEXT = 200
POSTAL_CODE_LEN = 5


class CorrectionError(ValueError):
    """A message for the citizen (lazy, translated)."""


class IdentityForm(FlaskForm):
    name = StringField("name", validators=[Length(max=MAX_TEXT)])
    birthdate = StringField("birthdate", validators=[Length(max=10)])
    birthplace = StringField("birthplace", validators=[Length(max=100)])


class AddressForm(FlaskForm):
    street_address = StringField("street_address", validators=[Length(max=MAX_TEXT)])
    locality = StringField("locality", validators=[Length(max=100)])
    region = StringField("region", validators=[Length(max=100)])
    postal_code = StringField("postal_code", validators=[Length(max=10)])


def _text(value: str | None, limit: int) -> str:
    value = " ".join((value or "").split())
    if len(value) > limit or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise CorrectionError(_l("Some text is too long or holds characters that cannot be stored."))
    return value


# -- services -----------------------------------------------------------------------------------------
def correct_identity(person: Person, *, name: str, birthdate: str, birthplace: str) -> list[str]:
    """Apply registry-confirmed corrections. Returns the names of the fields that changed.
    Raises CorrectionError, ratelimit.RateLimitedError, registry RegistryUnavailableError."""
    from idp.registry import services as registry
    from idp.registry.base import VerificationRequest

    name = _text(name, MAX_TEXT)
    birthplace = _text(birthplace, 100)
    if not name:
        raise CorrectionError(_l("Enter your full name as on your KTP."))
    try:
        born = datetime.date.fromisoformat((birthdate or "").strip())
    except ValueError:
        raise CorrectionError(_l("Enter the date of birth as YYYY-MM-DD.")) from None
    wanted = {"name": name, "birthdate": born.isoformat(), "birthplace": birthplace or person.birthplace}
    changed = [k for k, v in wanted.items() if v and v != getattr(person, k)]
    if not changed:
        return []
    ratelimit.hit("profile-check", ratelimit.subject("person", str(person.id)), CHECK_LIMITS)
    result = registry.verify(
        VerificationRequest(nik=decrypt_nik(person), full_name=name, birthdate=born, birthplace=birthplace or None),
        person_id=person.id,
    )
    fields = result.summary()
    if not result.matched or ("birthplace" in changed and fields.get("birthplace") == "mismatch"):
        raise CorrectionError(_l(
            "These details do not match the population registry (Dukcapil) for your NIK. Nothing was changed. "
            "If your data at Dukcapil is wrong, have it corrected there first."))
    if "birthplace" in changed and fields.get("birthplace") != "match":
        raise CorrectionError(_l(
            "The population registry cannot confirm the place of birth. Nothing was changed; an MPP officer can help."))
    for key in changed:
        setattr(person, key, wanted[key])
    person.updated_at = clock.now()
    record_event(EventTag.IDENTITY_CORRECTED, actor="citizen", person_id=person.id, fields=changed,
                 registry=result.registry)
    db.session.commit()
    return changed


def update_address(person: Person, *, street_address: str, locality: str, region: str, postal_code: str) -> bool:
    """Store the citizen's postal address (OIDC Core §5.1.1). Returns whether it changed."""
    parts = {
        "street_address": _text(street_address, MAX_TEXT),
        "locality": _text(locality, 100),
        "region": _text(region, 100),
        "postal_code": _text(postal_code, 10),
    }
    code = parts["postal_code"]
    if code and not (len(code) == POSTAL_CODE_LEN and code.isascii() and code.isdigit()):
        raise CorrectionError(_l("A postal code has 5 digits."))
    address = {k: v for k, v in parts.items() if v}
    if address:
        address["country"] = "ID"
        lines = [address.get("street_address"), " ".join(filter(None, [address.get("locality"), address.get("postal_code")])),
                 address.get("region"), "Indonesia"]
        address["formatted"] = "\n".join(line for line in lines if line)
    new = address or None
    if new == person.address:
        return False
    person.address = new
    person.updated_at = clock.now()
    record_event(EventTag.ADDRESS_CHANGED, actor="citizen", person_id=person.id)
    db.session.commit()
    return True


# -- the page -----------------------------------------------------------------------------------------
@bp.route("/profile", methods=["GET", "POST"])
def profile():
    from idp.registry.base import RegistryUnavailableError

    session, person = _signed_in()
    if session is None or not _recent(session):
        return _login(url_for("account.profile"), reauth=True)
    identity_form = IdentityForm()
    address_form = AddressForm()
    error, saved, status = None, request.args.get("saved"), 200
    if request.method == "POST":
        which = request.form.get("form")
        form = identity_form if which == "identity" else address_form if which == "address" else None
        if form is None or not form.validate_on_submit():
            # A bad CSRF token, an unknown form or an over-long field: nothing is changed.
            if form is not None and not form.csrf_token.errors:
                error, status = _l("Some text is too long or holds characters that cannot be stored."), 400
            else:
                abort(400)
        else:
            try:
                if form is identity_form:
                    correct_identity(person, name=form.name.data, birthdate=form.birthdate.data,
                                     birthplace=form.birthplace.data)
                else:
                    update_address(person, street_address=form.street_address.data, locality=form.locality.data,
                                   region=form.region.data, postal_code=form.postal_code.data)
            except CorrectionError as exc:
                db.session.rollback()
                error, status = exc.args[0], 400
            except ratelimit.RateLimitedError as exc:
                return error_page("registration.limited", 429, **{"Retry-After": str(exc.retry_after)})
            except RegistryUnavailableError as exc:
                return error_page("registration.unavailable", 503, **{"Retry-After": str(exc.retry_after or 60)})
            else:
                return redirect(url_for("account.profile", saved=which), code=303)
    if request.method == "GET" or error is None:
        identity_form.name.data = person.name
        identity_form.birthdate.data = person.birthdate
        identity_form.birthplace.data = person.birthplace or ""
        address = person.address or {}
        for key in ("street_address", "locality", "region", "postal_code"):
            getattr(address_form, key).data = address.get(key, "")
    return render_template("account/profile.html", person=person, identity_form=identity_form,
                           address_form=address_form, error=error, saved=saved), status
