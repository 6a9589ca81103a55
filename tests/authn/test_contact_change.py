"""Changing the mobile number or e-mail (T54): recent full authentication, a code sent to
the new contact proves it, the old contacts are told, the change is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp import clock
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.identity.models import Person
from idp.notify.models import OutboxMessage
from tests.authn.test_mfa import _account_login
from tests.conftest import csrf_token, never_logged

OLD_PHONE = "+6281200000001"  # the create_person factory's verified number
NEW_PHONE = "+6281377778888"


def _messages(app, destination):
    with app.app_context():
        return db.session.execute(select(OutboxMessage.body).where(OutboxMessage.destination == destination)
                                  .order_by(OutboxMessage.id)).scalars().all()


def _post(client, data):
    page = client.get("/account/contact").get_data(as_text=True)
    return client.post("/account/contact", data={**data, "csrf_token": csrf_token(page)})


def test_new_number_is_proved_by_a_code_and_the_old_one_is_told(app, client, person):
    _account_login(client, person.nik)
    sent = _post(client, {"channel": "sms", "destination": "0813 7777 8888"})
    assert sent.status_code == 200 and 'id="contact-sent"' in sent.get_data(as_text=True)
    code = re.search(r"\b(\d{6})\b", _messages(app, NEW_PHONE)[-1]).group(1)
    never_logged(code)
    wrong = _post(client, {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 200 and 'role="alert"' in wrong.get_data(as_text=True)
    done = _post(client, {"code": code})
    assert done.status_code == 303
    with app.app_context():
        p = db.session.get(Person, person.id)
        assert p.phone_number == NEW_PHONE and p.phone_number_verified
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.person_id == person.id)).scalars().all()
        assert "account:contact:changed" in tags
    # The old number (and the e-mail) heard about it; the code is single use.
    assert any("diubah" in body for body in _messages(app, OLD_PHONE))
    assert _post(client, {"code": code}).status_code in (200, 400)


def test_change_needs_a_recent_full_sign_in(client, person):
    _account_login(client, person.nik)
    clock.advance(16 * 60)
    resp = client.get("/account/contact")
    assert resp.status_code == 302 and "/interaction/" in resp.headers["Location"]


def test_bad_numbers_and_caps(app, client, person):
    _account_login(client, person.nik)
    bad = _post(client, {"channel": "sms", "destination": "021 555 1234"})
    assert bad.status_code == 200 and 'role="alert"' in bad.get_data(as_text=True)
    assert _post(client, {"channel": "sms", "destination": "081377778888"}).status_code == 200
    again = _post(client, {"channel": "sms", "destination": "081377778888"})
    assert again.status_code == 429
    with app.app_context():
        assert db.session.get(Person, person.id).phone_number == OLD_PHONE
