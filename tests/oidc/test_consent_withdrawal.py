"""T67: the citizen stops sharing with a service from the account page: its tokens die at
once, it is queued a back-channel logout notice, the withdrawal is recorded, and the next
sign-in asks for consent again."""

from __future__ import annotations

from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.oidc.models import BackchannelDelivery
from tests.conftest import Flow, csrf_token, query


def test_T67_stop_sharing_revokes_tokens_and_tells_the_service(app, client, register_client, person):
    rp, secret = register_client("rp-withdraw", backchannel_logout_uri="https://rp-withdraw.example.go.id/bc")
    other, other_secret = register_client("rp-other")
    flow, flow_other = Flow(client, rp, secret), Flow(client, other, other_secret)
    tokens = flow.token(flow.run(person.nik)["code"]).get_json()
    other_tokens = flow_other.token(flow_other.run(person.nik)["code"]).get_json()

    page = client.get("/account/data-access")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Layanan rp-withdraw" in html and "Layanan rp-other" in html
    resp = client.post("/account/data-access/services/rp-withdraw/withdraw", data={"csrf_token": csrf_token(html)})
    assert resp.status_code == 303

    # At once: the service's access and refresh tokens for this citizen are dead ...
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    refreshed = flow.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh_error(refreshed) == "invalid_grant"
    # ... another service is untouched ...
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + other_tokens["access_token"]}).status_code == 200
    # ... the next silent sign-in needs consent again ...
    assert query(flow.authorize(prompt="none").headers["Location"])["error"] == "consent_required"
    with app.app_context():
        # ... the service is queued a logout token, and the withdrawal is recorded.
        queued = db.session.execute(select(BackchannelDelivery.client_id)).scalars().all()
        assert queued == ["rp-withdraw"]
        tags = db.session.execute(select(AuditEvent.tag).where(AuditEvent.client_id == "rp-withdraw")).scalars().all()
        assert "account:consent:withdrawn" in tags


def refresh_error(resp):
    assert resp.status_code == 400
    return resp.get_json()["error"]


def test_withdrawal_needs_the_csrf_token_and_an_existing_consent(client, flow, person):
    flow.run(person.nik)
    assert client.post("/account/data-access/services/rp-test/withdraw").status_code == 403
    html = client.get("/account/data-access").get_data(as_text=True)
    assert client.post("/account/data-access/services/nope/withdraw", data={"csrf_token": csrf_token(html)}).status_code == 404
