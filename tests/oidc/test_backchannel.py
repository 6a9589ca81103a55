"""OpenID Connect Back-Channel Logout 1.0 (T33, T61): logout tokens reach the RP's
endpoint, verify against /jwks, are retried on failure and never sent to private
addresses unless the test flag allows it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy import select

from idp import clock
from idp.cli import main
from idp.extensions import db
from idp.oidc import backchannel, clients
from idp.oidc.models import BackchannelDelivery
from tests.conftest import ISSUER, Flow, _make_app, query

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def allow_private():
    """The receiver listens on 127.0.0.1; a test parametrizes this to False for the
    production default. The flag is refused outside debug, so it comes with debug = true."""
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, keys_dir, tmp_path_factory, allow_private):
    clock.reset()
    app = _make_app(request, keys_dir, tmp_path_factory, backchannel_allow_private=allow_private, debug=allow_private)
    yield app
    clock.reset()


class Receiver:
    """An RP's back-channel endpoint on 127.0.0.1: records each POST, answers with the
    next status of `statuses` (the last one repeats)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses = [200]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "form": parse_qs(body)})
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tokens(self) -> list[str]:
        return [r["form"]["logout_token"][0] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def bc_flow(client, register_client, receiver):
    rp, secret = register_client(backchannel_logout_uri=receiver.url, backchannel_logout_session_required=True)
    return Flow(client, rp, secret)


def _sign_in(flow, person) -> dict:
    return flow.token(flow.run(person.nik)["code"]).get_json()


def _logout(flow, id_token):
    resp = flow.http.get("/logout", query_string={"id_token_hint": id_token})
    assert resp.status_code == 200  # no post_logout_redirect_uri: our page


def _deliver(app, now=None):
    with app.app_context():
        counts = backchannel.deliver_due(now)
        db.session.remove()
    return counts


def _deliveries(app) -> list[BackchannelDelivery]:
    with app.app_context():
        rows = db.session.execute(select(BackchannelDelivery).order_by(BackchannelDelivery.id)).scalars().all()
        db.session.expunge_all()
        db.session.remove()
    return rows


def _verify(client, token: str) -> tuple[dict, dict]:
    header = extract_compact(token.encode()).headers()
    keys = KeySet.import_key_set(client.get("/jwks").get_json())
    claims = jwt.decode(token, keys, algorithms=[header["alg"]]).claims
    return header, claims


def test_T33_logout_token_after_rp_initiated_logout(app, bc_flow, person, receiver):
    tok = _sign_in(bc_flow, person)
    id_claims = _verify(bc_flow.http, tok["id_token"])[1]
    _logout(bc_flow, tok["id_token"])
    # queued with the session end; sent by the worker
    assert receiver.requests == []
    assert _deliver(app) == {"delivered": 1, "retrying": 0, "gave_up": 0}

    [req] = receiver.requests
    assert req["path"] == "/bc"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    header, claims = _verify(bc_flow.http, receiver.tokens()[0])
    assert header["typ"] == "logout+jwt" and header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["aud"] == bc_flow.rp.client_id
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert _deliveries(app)[0].delivered_at is not None
    # the session is over everywhere
    assert query(bc_flow.authorize(prompt="none").headers["Location"])["error"] == "login_required"
    # nothing more to send
    assert _deliver(app) == {"delivered": 0, "retrying": 0, "gave_up": 0}


def test_T33_each_client_of_the_session_gets_its_own_token(app, client, register_client, person, receiver):
    rp1, s1 = register_client("rp-satu", backchannel_logout_uri=receiver.url)
    rp2, s2 = register_client("rp-dua", backchannel_logout_uri=receiver.url, id_token_signed_response_alg="RS256")
    rp3, s3 = register_client("rp-tiga")  # no back-channel endpoint: not told
    f1, f2, f3 = Flow(client, rp1, s1), Flow(client, rp2, s2), Flow(client, rp3, s3)
    tok1 = _sign_in(f1, person)
    _sign_in(f2, person)
    _sign_in(f3, person)
    _logout(f1, tok1["id_token"])
    assert _deliver(app)["delivered"] == 2
    verified = [_verify(client, t) for t in receiver.tokens()]
    assert {c["aud"]: h["alg"] for h, c in verified} == {"rp-satu": "ES256", "rp-dua": "RS256"}
    assert len({c["sid"] for _, c in verified}) == 1
    assert len({c["sub"] for _, c in verified}) == 2  # pairwise per sector


def test_T61_operator_sign_out_notifies_once(app, bc_flow, person, receiver, runner):
    _sign_in(bc_flow, person)
    result = runner.invoke(main, ["users", "sign-out", "--nik", person.nik, "--reason", "uji"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # session_ended and person_disabled both fired: still one notice per (sid, client)
    assert len(_deliveries(app)) == 1
    result = runner.invoke(main, ["backchannel", "deliver", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"delivered": 1, "retrying": 0, "gave_up": 0}
    assert len(receiver.requests) == 1
    result = runner.invoke(main, ["backchannel", "status", "--json"], catch_exceptions=False)
    assert json.loads(result.stdout) == {bc_flow.rp.client_id: {"pending": 0, "delivered": 1, "gave_up": 0}}


def test_signing_in_again_rearms_the_notice(app, bc_flow, person, receiver):
    tok = _sign_in(bc_flow, person)
    _logout(bc_flow, tok["id_token"])
    tok = _sign_in(bc_flow, person)  # new session
    _logout(bc_flow, tok["id_token"])
    assert _deliver(app)["delivered"] == 2
    assert len({_verify(bc_flow.http, t)[1]["sid"] for t in receiver.tokens()}) == 2


def test_failure_is_retried_later(app, bc_flow, person, receiver):
    receiver.statuses = [500, 200]
    tok = _sign_in(bc_flow, person)
    _logout(bc_flow, tok["id_token"])
    assert _deliver(app) == {"delivered": 0, "retrying": 1, "gave_up": 0}
    [row] = _deliveries(app)
    # The next attempt is a minute after this one (a second or two after the logout on a
    # loaded machine: the clock is real here).
    assert row.attempts == 1 and row.last_error == "HTTP 500"
    assert row.created_at + 60 <= row.next_attempt_at <= row.created_at + 65
    assert _deliver(app)["retrying"] == 0  # not due yet
    clock.advance(row.next_attempt_at - clock.now())
    assert _deliver(app)["delivered"] == 1
    first, second = (_verify(bc_flow.http, t)[1] for t in receiver.tokens())
    assert first["jti"] != second["jti"] and second["iat"] >= first["iat"] + 60  # signed afresh


def test_redirect_is_not_followed(app, bc_flow, person, receiver):
    receiver.statuses = [302]
    tok = _sign_in(bc_flow, person)
    _logout(bc_flow, tok["id_token"])
    assert _deliver(app)["retrying"] == 1
    assert [r["path"] for r in receiver.requests] == ["/bc"]
    assert _deliveries(app)[0].last_error == "HTTP 302"


def test_gives_up_after_the_schedule(app, bc_flow, person, receiver):
    from idp.audit.models import AuditEvent

    receiver.statuses = [503]
    tok = _sign_in(bc_flow, person)
    _logout(bc_flow, tok["id_token"])
    for delay in backchannel.RETRY_DELAYS:
        assert _deliver(app)["retrying"] == 1
        clock.advance(delay)
    assert _deliver(app)["gave_up"] == 1
    [row] = _deliveries(app)
    assert row.attempts == 6 and row.gave_up_at is not None and row.next_attempt_at is None
    assert len(receiver.requests) == 6
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.tag == "oidc:backchannel_logout:gave_up")
        ).scalars().all()
        assert [e.client_id for e in events] == [bc_flow.rp.client_id]
        db.session.remove()


@pytest.mark.parametrize("allow_private", [False])
def test_private_address_refused_without_the_flag(allow_private, app, bc_flow, person, receiver):
    tok = _sign_in(bc_flow, person)
    _logout(bc_flow, tok["id_token"])
    assert _deliver(app)["retrying"] == 1
    assert receiver.requests == []
    assert _deliveries(app)[0].last_error == "refused: not https"


@pytest.mark.parametrize(
    "uri,reason",
    [
        ("https://10.1.2.3/bc", "non-public address 10.1.2.3"),
        ("https://127.0.0.1:8443/bc", "non-public address 127.0.0.1"),
        ("https://[::1]/bc", "non-public address ::1"),
        ("https://[::ffff:192.168.1.1]/bc", "non-public address ::ffff:c0a8:101"),
        ("https://169.254.169.254/latest/meta-data", "non-public address 169.254.169.254"),
        ("http://203.0.113.9/bc", "not https"),
    ],
)
def test_outbound_refuses_private_addresses(uri, reason):
    with pytest.raises(backchannel.DeliveryError, match="refused: " + reason):
        backchannel.resolve_pinned(uri, allow_private=False)


def test_outbound_pins_the_resolved_address(monkeypatch):
    monkeypatch.setattr(backchannel.socket, "getaddrinfo", lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port))])
    target, host = backchannel.resolve_pinned("https://rp.example.go.id/bc?x=1", allow_private=False)
    assert (target, host) == ("https://93.184.215.14:443/bc?x=1", "rp.example.go.id")
    # one private address among public ones is enough to refuse (DNS rebinding, split answers)
    monkeypatch.setattr(
        backchannel.socket, "getaddrinfo",
        lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port)), (2, 1, 6, "", ("10.0.0.5", port))],
    )
    with pytest.raises(backchannel.DeliveryError, match="10.0.0.5"):
        backchannel.resolve_pinned("https://rp.example.go.id/bc", allow_private=False)


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"backchannel_logout_uri": "http://rp.example.go.id/bc"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "not a url"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "https://rp.example.go.id/bc#frag"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "ftp://rp.example.go.id/bc"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "https://rp.example.go.id:99999/bc"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "https://u:p@rp.example.go.id/bc"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": ["https://rp.example.go.id/bc"]}, "backchannel_logout_uri"),
        ({"backchannel_logout_session_required": "yes"}, "backchannel_logout_session_required"),
    ],
)
def test_registration_rejects_bad_backchannel_fields(fields, field):
    raw = {"client_id": "rp-bc", "name": "RP", "redirect_uris": ["https://rp.example.go.id/cb"],
           "token_endpoint_auth_method": "none", **fields}
    with pytest.raises(clients.RegistrationError) as err:
        clients.validate_registration(raw, "rp-bc.toml")
    assert err.value.field == field


def test_registration_accepts_backchannel_fields():
    raw = {"client_id": "rp-bc", "name": "RP", "redirect_uris": ["https://rp.example.go.id/cb"],
           "token_endpoint_auth_method": "none", "backchannel_logout_uri": "https://rp.example.go.id/bc?src=idp",
           "backchannel_logout_session_required": True}
    data = clients.validate_registration(raw, "rp-bc.toml")
    assert data["backchannel_logout_uri"] == "https://rp.example.go.id/bc?src=idp"
    assert data["backchannel_logout_session_required"] is True
    data = clients.validate_registration({**raw, "backchannel_logout_uri": None}, "rp-bc.toml")
    assert data["backchannel_logout_uri"] is None


def test_discovery_advertises_backchannel_logout(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_pinned_https_keeps_the_registered_name_for_tls():
    import requests

    adapter = backchannel._PinnedAdapter("rp.example.go.id")
    req = requests.Request("POST", "https://93.184.215.14:443/bc").prepare()
    conn = adapter.get_connection_with_tls_context(req, verify=True)._new_conn()
    assert conn.host == "93.184.215.14"
    assert conn.server_hostname == conn.assert_hostname == "rp.example.go.id"  # SNI + certificate check
