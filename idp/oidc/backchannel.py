"""OpenID Connect Back-Channel Logout 1.0: logout tokens, their queue and delivery (T33, T61).

When an SSO session ends (``signals.session_ended``) or a person may no longer use any
token (``signals.person_disabled``), every client that received a code under that
session and registered a ``backchannel_logout_uri`` is owed one logout token. The
debt is queued in ``backchannel_delivery`` in the same transaction as the session end,
so a crash between the two cannot lose it.

Delivery is done only by ``idp backchannel deliver`` (cron, every minute, on any number
of nodes): the citizen's logout never waits on an RP's server, and nothing is lost if
a node dies. Each attempt signs a fresh token (§2.4; ``exp`` 2 min, SECURITY.md), so
retries never send an expired one.

Outbound HTTP (SECURITY.md "Outbound HTTP"): https only; the host is resolved once,
every resolved address must be public, and the request goes to that address (pinned:
TLS still checks the certificate against the registered host name); no redirects
(§2.5: the RP answers 200; anything else is a failure), connect 2 s, total 5 s, at
most 64 KiB of the response read. Failures are retried 1 m, 5 m, 30 m, 2 h and 12 h
later, then given up (audit event); nothing is tried 24 h after the logout.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import and_, select, update

from idp import clock
from idp.audit.services import EventTag, record_event
from idp.extensions import db
from idp.keys import store
from idp.oidc.models import BackchannelDelivery, Client, SessionClient

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL = 120
RETRY_DELAYS = (60, 300, 1800, 7200, 43200)
GIVE_UP_AFTER = 86400
# A worker that claimed a row owns it this long (an attempt takes at most ~7 s); if the
# worker dies mid-attempt, another one retries after the lease.
LEASE = 60
CONNECT_TIMEOUT = 2
TOTAL_TIMEOUT = 5
MAX_RESPONSE_BYTES = 65536


class DeliveryError(Exception):
    """An attempt failed before an HTTP status was received; ``str()`` is the recorded reason."""


# -- who signed in where ---------------------------------------------------------------------
def record_sign_in(*, sid: str, client_id: str, person_id: int) -> None:
    """Remember that ``client_id`` received a code under SSO session ``sid`` (the caller
    commits). A new sign-in after a notice re-arms it: the RP will be told again."""
    values = {"sid": sid, "client_id": client_id, "person_id": person_id, "created_at": clock.now(), "notified_at": None}
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(SessionClient).values(**values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["sid", "client_id"], set_={"notified_at": None}))


# -- the token ---------------------------------------------------------------------------------
def logout_token(client: Client, *, sid: str, sub: str, now: int) -> str:
    """A signed logout token (§2.4) for ``client``: signed like its ID tokens, with
    ``typ: logout+jwt`` (§2.4, RFC 8725 §3.11), ``sid`` and ``sub``, and never ``nonce``
    (§2.4: its absence tells a logout token from an ID token)."""
    alg = client.id_token_signed_response_alg
    kid, private = store.signing_key(alg)
    payload = {
        "iss": current_app.config["IDP"]["issuer"],
        "sub": sub,
        "aud": client.client_id,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": secrets.token_urlsafe(16),
        "events": {EVENT: {}},
        "sid": sid,
    }
    return store.sign({"alg": alg, "kid": kid, "typ": "logout+jwt"}, payload, private, alg)


# -- queueing (same transaction as the session end) --------------------------------------------
def enqueue_for_session(sid: str) -> int:
    """Queue a logout token for each client signed in under ``sid``. Returns how many."""
    return _enqueue(SessionClient.sid == sid)


def enqueue_for_person(person_id: int) -> int:
    """Queue a logout token for each client signed in under any session of the person."""
    return _enqueue(SessionClient.person_id == person_id)


def enqueue_for_person_client(person_id: int, client_id: str) -> int:
    """Queue a logout token for each session of the person signed in to one client
    (consent withdrawn: that client must drop its session, T67)."""
    return _enqueue(and_(SessionClient.person_id == person_id, SessionClient.client_id == client_id))


def _enqueue(condition) -> int:
    from idp.identity.models import Person
    from idp.oidc import claims as claims_svc

    now = clock.now()
    rows = db.session.execute(
        select(SessionClient, Client)
        .join(Client, Client.client_id == SessionClient.client_id)
        .where(
            condition,
            SessionClient.notified_at.is_(None),
            Client.backchannel_logout_uri.is_not(None),
            Client.disabled.is_(False),
        )
    ).all()
    queued = 0
    for link, client in rows:
        # One notice per (sid, client): session_ended and person_disabled often fire together,
        # and two nodes may end the same session at once; the UPDATE decides who queues it.
        claimed = db.session.execute(
            update(SessionClient)
            .where(SessionClient.sid == link.sid, SessionClient.client_id == link.client_id, SessionClient.notified_at.is_(None))
            .values(notified_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        person = db.session.get(Person, link.person_id)
        if claimed != 1 or person is None:
            continue
        db.session.add(
            BackchannelDelivery(
                client_id=client.client_id,
                sid=link.sid,
                sub=claims_svc.subject(person, client),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


# -- delivery (the worker) ---------------------------------------------------------------------
def deliver_due(now: int | None = None, *, limit: int = 1000, progress: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Attempt every delivery due at ``now``, at most ``limit``. Safe on several nodes at
    once: each row is claimed with a conditional UPDATE (a lease) before its attempt, so
    exactly one worker sends it. Commits after each row.

    Returns counts: ``delivered``, ``retrying`` (will be tried again), ``gave_up``.
    Calls ``progress(client_id, outcome)`` after each attempt."""
    now = clock.now() if now is None else now
    ids = db.session.execute(
        select(BackchannelDelivery.id)
        .where(BackchannelDelivery.next_attempt_at <= now)
        .order_by(BackchannelDelivery.next_attempt_at, BackchannelDelivery.id)
        .limit(limit)
    ).scalars().all()
    db.session.commit()
    counts = {"delivered": 0, "retrying": 0, "gave_up": 0}
    for delivery_id in ids:
        claimed = db.session.execute(
            update(BackchannelDelivery)
            .where(BackchannelDelivery.id == delivery_id, BackchannelDelivery.next_attempt_at <= now)
            .values(next_attempt_at=now + LEASE, attempts=BackchannelDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if claimed != 1:
            continue  # another worker has it
        row = db.session.get(BackchannelDelivery, delivery_id)
        db.session.refresh(row)
        outcome = _attempt(row, now)
        db.session.commit()
        counts[outcome] += 1
        if progress:
            progress(row.client_id, outcome)
    return counts


def _attempt(row: BackchannelDelivery, now: int) -> str:
    client = db.session.get(Client, row.client_id)
    if client is None or client.disabled or not client.backchannel_logout_uri:
        return _give_up(row, now, "client disabled or has no backchannel_logout_uri")
    if now - row.created_at >= GIVE_UP_AFTER:
        return _give_up(row, now, row.last_error or "not attempted within 24 h")
    token = logout_token(client, sid=row.sid, sub=row.sub, now=now)
    allow_private = current_app.config["IDP"]["backchannel_allow_private"]
    try:
        status, error = post_logout_token(client.backchannel_logout_uri, token, allow_private=allow_private)
    except DeliveryError as exc:
        status, error = None, str(exc)
    if status in (200, 204):
        row.delivered_at = now
        row.next_attempt_at = None
        row.last_error = None
        log.info(json.dumps({"event": "backchannel_logout_delivered", "client_id": row.client_id, "attempts": row.attempts}))
        return "delivered"
    reason = (f"HTTP {status}" + (f": {error}" if error else "")) if status is not None else error
    row.last_error = reason[:200]
    log.warning(json.dumps({"event": "backchannel_logout_failed", "client_id": row.client_id,
                            "attempts": row.attempts, "error": row.last_error}))
    if row.attempts > len(RETRY_DELAYS) or now - row.created_at >= GIVE_UP_AFTER:
        return _give_up(row, now, row.last_error)
    row.next_attempt_at = now + RETRY_DELAYS[row.attempts - 1]
    return "retrying"


def _give_up(row: BackchannelDelivery, now: int, reason: str) -> str:
    row.gave_up_at = now
    row.next_attempt_at = None
    row.last_error = reason[:200]
    record_event(EventTag.BACKCHANNEL_LOGOUT_GAVE_UP, actor="system", client_id=row.client_id,
                 sid=row.sid, attempts=row.attempts, error=row.last_error)
    return "gave_up"


# -- outbound HTTP -----------------------------------------------------------------------------
def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PinnedAdapter(HTTPAdapter):
    """Connects to the URL's (IP) host but does TLS for ``hostname``: SNI and certificate
    name check use the registered host, so pinning the address keeps https intact."""

    def __init__(self, hostname: str):
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def resolve_pinned(uri: str, *, allow_private: bool) -> tuple[str, str]:
    """(URL with the host replaced by its one checked address, Host header value).

    Raises DeliveryError when the scheme is not https (http only with ``allow_private``),
    the host does not resolve, or any resolved address is not public (SSRF: a name
    that resolves to several addresses must not smuggle in a private one)."""
    parts = urlsplit(uri)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise DeliveryError("refused: not https")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DeliveryError("refused: bad port") from None
    if not host:
        raise DeliveryError("refused: no host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DeliveryError("cannot resolve host") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise DeliveryError("cannot resolve host")
    for ip in addresses:
        if not allow_private and not _is_public(ip):
            raise DeliveryError(f"refused: non-public address {ip}")
    ip = addresses[0]
    netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), parts.netloc


def post_logout_token(uri: str, token: str, *, allow_private: bool) -> tuple[int, str | None]:
    """POST ``logout_token`` form-encoded (§2.5) to ``uri``. Returns (HTTP status, the
    RP's `error` from a JSON error body or None). Raises DeliveryError without a status."""
    target, host_header = resolve_pinned(uri, allow_private=allow_private)
    deadline = time.monotonic() + TOTAL_TIMEOUT
    with requests.Session() as http:
        http.trust_env = False  # no proxy or .netrc from the environment: it would undo pinning
        if target.startswith("https://"):
            http.mount("https://", _PinnedAdapter(urlsplit(uri).hostname))
        try:
            resp = http.post(
                target,
                data={"logout_token": token},
                headers={"Host": host_header, "Accept": "application/json"},
                timeout=(CONNECT_TIMEOUT, TOTAL_TIMEOUT),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise DeliveryError(exc.__class__.__name__) from None
        with resp:
            body = bytearray()
            try:
                for chunk in resp.iter_content(8192):
                    body += chunk
                    if len(body) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break
            except requests.RequestException:
                pass  # the status is what counts
            return resp.status_code, _rp_error(resp, bytes(body[:MAX_RESPONSE_BYTES]))


def _rp_error(resp: requests.Response, body: bytes) -> str | None:
    """§2.8: a 400 may carry {"error": ..., "error_description": ...}; keep the short code."""
    if resp.status_code in (200, 204) or "json" not in resp.headers.get("Content-Type", ""):
        return None
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return error[:64] if isinstance(error, str) else None
