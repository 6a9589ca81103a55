"""Delivery backends. Each takes a rendered Message and delivers it or raises
DeliveryError; none logs the body (it may hold a one-time code, SECURITY.md T92)."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import sys
from dataclasses import dataclass
from email.message import EmailMessage

import requests

from idp import clock
from idp.extensions import db
from idp.notify.models import OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    channel: str  # "email" | "sms" | "whatsapp"
    destination: str
    subject: str
    body: str


class DeliveryError(Exception):
    """The message could not be handed over; the caller tells the citizen to try later."""


class OutboxBackend:
    """Keeps messages in the database (so every node's dev page sees them) and, in debug
    mode, echoes them to the console for the developer."""

    def __init__(self, echo: bool):
        self.echo = echo

    def deliver(self, message: Message) -> None:
        db.session.add(OutboxMessage(channel=message.channel, destination=message.destination,
                                     subject=message.subject, body=message.body, created_at=clock.now()))
        db.session.commit()
        if self.echo:
            print(f"\n--- outbox ({message.channel} to {message.destination}) ---\n{message.subject}\n\n"
                  f"{message.body}\n---", file=sys.stderr, flush=True)


class SmtpBackend:
    def __init__(self, cfg: dict):
        self.cfg = cfg

    def deliver(self, message: Message) -> None:
        cfg = self.cfg
        mail = EmailMessage()
        mail["From"] = cfg["mail_from"]
        mail["To"] = message.destination
        mail["Subject"] = message.subject
        mail.set_content(message.body)
        password = os.environ.get(cfg["smtp_password_env"], "") if cfg["smtp_password_env"] else ""
        try:
            with smtplib.SMTP(cfg["smtp_host"], cfg["smtp_port"], timeout=cfg["notify_timeout"]) as smtp:
                if cfg["smtp_starttls"]:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg["smtp_user"]:
                    smtp.login(cfg["smtp_user"], password)
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("notify: smtp delivery failed", extra={"error": exc.__class__.__name__})
            raise DeliveryError("smtp") from exc


class GatewayBackend:
    """An SMS/WhatsApp gateway spoken to over HTTPS (the contract most Indonesian
    providers offer): POST {"channel", "to", "text"} with a bearer token; any 2xx is
    accepted, anything else (or a timeout) is a DeliveryError."""

    def __init__(self, cfg: dict, channel: str):
        self.cfg = cfg
        self.channel = channel

    def deliver(self, message: Message) -> None:
        cfg = self.cfg
        token = os.environ.get(cfg["sms_gateway_token_env"], "") if cfg["sms_gateway_token_env"] else ""
        try:
            resp = requests.post(
                cfg["sms_gateway_url"],
                json={"channel": self.channel, "to": message.destination, "text": message.body},
                headers={"Authorization": f"Bearer {token}"} if token else {},
                timeout=(2, cfg["notify_timeout"]),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("notify: gateway unreachable", extra={"error": exc.__class__.__name__})
            raise DeliveryError("gateway") from exc
        if not 200 <= resp.status_code < 300:
            log.warning("notify: gateway refused", extra={"status": resp.status_code})
            raise DeliveryError("gateway")
