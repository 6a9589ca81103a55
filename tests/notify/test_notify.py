"""The notifier: rendering in the citizen's language, the outbox, the SMS/WhatsApp gateway
client against a local stand-in, and that no log line carries the code."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.notify import services as notify
from idp.notify.backends import DeliveryError, GatewayBackend, Message
from idp.notify.models import OutboxMessage


def test_code_goes_to_the_outbox_in_the_chosen_language(ctx, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    notify.send("otp", "sms", "+6281234567890", locale="id", code="482913", minutes=5)
    notify.send("otp", "email", "budi@contoh.go.id", locale="en", code="111222", minutes=5)
    rows = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
    assert [(r.channel, r.destination) for r in rows] == [("sms", "+6281234567890"), ("email", "budi@contoh.go.id")]
    assert "482913" in rows[0].body and "Kode" in rows[0].body
    assert "111222" in rows[1].body and "Your SatuAkun code" in rows[1].body
    assert "482913" not in caplog.text and "111222" not in caplog.text


def test_unknown_channel_is_a_programming_error(ctx):
    with pytest.raises(ValueError):
        notify.send("otp", "pigeon", "x", code="1", minutes=5)


class _Gateway(BaseHTTPRequestHandler):
    status = 202
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    _Gateway.received = []
    _Gateway.status = 202
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _cfg(url):
    return {"sms_gateway_url": url, "sms_gateway_token_env": "TEST_GATEWAY_TOKEN", "notify_timeout": 2}


def test_gateway_receives_channel_number_text_and_bearer_token(gateway, monkeypatch):
    monkeypatch.setenv("TEST_GATEWAY_TOKEN", "rahasia-gateway")
    url = f"http://127.0.0.1:{gateway.server_address[1]}/send"
    GatewayBackend(_cfg(url), "whatsapp").deliver(Message("whatsapp", "+6281234567890", "s", "Kode 123456"))
    assert _Gateway.received == [("Bearer rahasia-gateway", {"channel": "whatsapp", "to": "+6281234567890", "text": "Kode 123456"})]


@pytest.mark.parametrize("status", [400, 500, 503, 302])
def test_gateway_refusal_is_a_delivery_error(gateway, status):
    _Gateway.status = status
    url = f"http://127.0.0.1:{gateway.server_address[1]}/send"
    with pytest.raises(DeliveryError):
        GatewayBackend(_cfg(url), "sms").deliver(Message("sms", "+6281234567890", "s", "b"))


def test_unreachable_gateway_is_a_delivery_error():
    with pytest.raises(DeliveryError):
        GatewayBackend(_cfg("http://127.0.0.1:9/send"), "sms").deliver(Message("sms", "+6281234567890", "s", "b"))


class _Inbox:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.mails.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    from tests.live import free_port

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_smtp_backend_delivers_to_a_real_smtp_server(smtp_server):
    from idp.notify.backends import SmtpBackend

    controller, inbox = smtp_server
    cfg = {"mail_from": "SatuAkun <no-reply@satuakun.go.id>", "smtp_host": "127.0.0.1", "smtp_port": controller.port,
           "smtp_starttls": False, "smtp_user": "", "smtp_password_env": "", "notify_timeout": 5}
    SmtpBackend(cfg).deliver(Message("email", "budi@contoh.go.id", "Kode verifikasi SatuAkun", "Kode SatuAkun Anda: 123456."))
    sender, rcpts, content = inbox.mails[0]
    assert sender == "no-reply@satuakun.go.id" and rcpts == ["budi@contoh.go.id"]
    assert "Subject: Kode verifikasi SatuAkun" in content and "123456" in content


def test_smtp_server_down_is_a_delivery_error():
    from idp.notify.backends import SmtpBackend

    cfg = {"mail_from": "x@y.id", "smtp_host": "127.0.0.1", "smtp_port": 9, "smtp_starttls": False,
           "smtp_user": "", "smtp_password_env": "", "notify_timeout": 2}
    with pytest.raises(DeliveryError):
        SmtpBackend(cfg).deliver(Message("email", "budi@contoh.go.id", "s", "b"))
