"""The ``http`` registry: a client for a Dukcapil-style data-verification web service.

Contract
--------
Modelled on Dukcapil's "verifikasi data by elemen" service (``.../CALL_VERIFY_BY_ELEMEN``)
as its integrators use it: the caller sends the data elements it holds, the service says
per element whether they agree with its record. ``registry_url`` is the full endpoint URL.

Request: ``POST <registry_url>``, ``Content-Type: application/json``, body::

    {"USER_ID": "<registry_user>", "PASSWORD": "<$registry_password_env>",
     "IP_USER": "<registry_ip_user>", "TRESHOLD": "100",
     "NIK": "3374014101900001", "NAMA_LGKP": "SITI AMINAH", "TGL_LHR": "01-01-1990",
     "TMPT_LHR": "SEMARANG", "JENIS_KLMIN": "PEREMPUAN"}

``TMPT_LHR`` and ``JENIS_KLMIN`` are sent only when the citizen gave them. ``TRESHOLD``
(sic, the service's spelling) is the minimum similarity, in percent, for the service's
own fuzzy comparison of names and places; we ask for 100. The registry does the
matching here, so we send the name as ``names.normalize_name`` leaves it (titles and
degrees removed, punctuation folded), upper-cased as Dukcapil stores names, and the
place as ``normalize_place`` leaves it. Known limit: a registry record that itself keeps
a degree the citizen did not type scores below 100 and is a mismatch (fail closed).

Answers (HTTP 200, JSON, at most 64 KiB)::

    {"content": [{"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (100)", "TGL_LHR": "Sesuai",
                  "TMPT_LHR": "Tidak Sesuai (40)", "JENIS_KLMIN": "Sesuai"}]}
    {"content": [{"RESPONSE_CODE": "13", "RESPONSE": "Data Tidak Ditemukan"}]}

- A record was found when the one object in ``content`` has no ``RESPONSE_CODE`` (or
  ``"01"``). Then every element we sent must be there, valued ``Sesuai`` or
  ``Tidak Sesuai``, optionally followed by a similarity score ``(0..100)``. Only
  ``Sesuai`` with no score or a score of 100 is a match; ``Sesuai (85)`` is a mismatch
  (names.py says why we never accept "close enough").
- ``RESPONSE_CODE`` 08 (NIK cannot be processed), 11 (deceased), 12 (more than one
  record: cannot be bound to one person), 13 and 15 (not found), 14 (inactive): no
  usable record, ``found`` is False.
- ``RESPONSE_CODE`` 03, 04, 05 (daily quota), 06, 07, 09, 10, 16, 17: the service refuses
  *us* (credentials, IP, quota, access hours, instance): RegistryUnavailableError
  ``rejected`` and an operator alert in the log. HTTP 401/403 likewise (``credentials``).
- Anything else (another status, another code, a missing element, an unknown value, a
  non-JSON body, a body over 64 KiB) is RegistryUnavailableError ``malformed`` /
  ``too_large`` / ``http_status``: an answer we do not understand is never a match.

Transport
---------
https only (``registry_allow_http``, debug mode only, allows http for a local stand-in);
mutual TLS with ``registry_client_cert``/``registry_client_key``; the server checked
against ``registry_ca_bundle`` (empty: the system CAs); no redirects; proxies, netrc and
``REQUESTS_CA_BUNDLE`` from the environment are ignored (``trust_env = False``): the
registry is reached over the operator's private link, and a stray variable must not
reroute citizens' data. The registry is an operator-configured internal host, so the
public-IP-only rule for relying-party URLs (SECURITY.md, outbound HTTP) does not apply.

Each attempt has a connect timeout and a read timeout, and the whole attempt (including
reading the body) must end within their sum, so a server dripping bytes cannot hold a
worker. The request is a pure lookup, so it is retried — at most ``registry_retries``
times, after exponential backoff with jitter (0.25 s, 0.5 s, ... capped at 2 s, times a
random 0.5-1) — on connection errors, timeouts and 502/503/504 only; never on other
statuses, credential refusals or malformed answers. Worst case with the defaults:
3 attempts x 7 s + 0.75 s.

Circuit breaker: after ``registry_breaker_failures`` consecutive failed attempts the
breaker opens and calls fail at once (``circuit_open``, ``Retry-After`` = time left) for
``registry_breaker_seconds``; then one probe call is let through (half-open): success
closes the breaker, failure opens it again. The state is per process (each gunicorn
worker has its own breaker), which is enough to stop one worker from piling calls on a
registry that is down; a fleet-wide breaker would need the shared store.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from idp import clock
from idp.identity.nik import normalize_nik
from idp.registry.base import (
    FIELDS,
    FieldResult,
    RecordNotSupportedError,
    RegistryUnavailableError,
    VerificationRequest,
    VerificationResult,
    not_found,
)
from idp.registry.names import normalize_name, normalize_place

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 65536
RETRYABLE_STATUSES = (502, 503, 504)
MAX_RETRY_AFTER = 300
FOUND_CODES = ("01",)
NOT_FOUND_CODES = ("08", "11", "12", "13", "14", "15")
REJECTED_CODES = ("03", "04", "05", "06", "07", "09", "10", "16", "17")
# Our field name -> the service's element name.
ELEMENTS = {"nik": "NIK", "full_name": "NAMA_LGKP", "birthdate": "TGL_LHR", "birthplace": "TMPT_LHR", "gender": "JENIS_KLMIN"}
_GENDER = {"male": "LAKI-LAKI", "female": "PEREMPUAN"}
_VERDICT = re.compile(r"(sesuai|tidak sesuai)(?:\s*\((\d{1,3})\))?", re.IGNORECASE)
_CODE = re.compile(r"[0-9]{2}")


class CircuitBreaker:
    """Consecutive-failure breaker with a half-open probe (module docstring). Thread-safe;
    ``clock`` is injectable (seconds, monotonic) so tests move time instead of sleeping."""

    def __init__(self, failures: int = 5, seconds: float = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.seconds, self._clock = failures, seconds, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.seconds else "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time may."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.seconds and not self._probing:
                self._probing = True
                return True
            return False

    def retry_after(self) -> int:
        with self._lock:
            if self._opened_at is None:
                return 1
            return max(1, math.ceil(self.seconds - (self._clock() - self._opened_at)))

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        with self._lock:
            if self._probing:
                self._opened_at, self._probing = self._clock(), False
                return
            self._failures += 1
            if self._failures >= self.threshold and self._opened_at is None:
                self._opened_at = self._clock()
                log.error(json.dumps({"event": "registry.circuit_open", "failures": self._failures,
                                      "seconds": self.seconds}))


class _AttemptError(Exception):
    def __init__(self, reason: str, *, retryable: bool = False, status: int | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.status, self.retry_after = reason, retryable, status, retry_after


def _retry_after(header: str | None) -> int | None:
    if header and header.strip().isdigit():
        return min(int(header.strip()), MAX_RETRY_AFTER)
    return None


class HttpRegistry:
    """RegistryAdapter over the web service described in the module docstring."""

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        user: str,
        password: str,
        ip_user: str = "",
        client_cert: str | None = None,
        client_key: str | None = None,
        ca_bundle: str | None = None,
        connect_timeout: float = 2,
        read_timeout: float = 5,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        allow_http: bool = False,
        max_bytes: int = MAX_RESPONSE_BYTES,
        backoff_base: float = 0.25,
        backoff_cap: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.hostname:
            raise ValueError("registry url: must be an https URL")
        if parts.username or parts.password:
            raise ValueError("registry url: credentials do not belong in the URL")
        if bool(client_cert) != bool(client_key):
            raise ValueError("registry client certificate and key go together")
        self.url, self.user, self._password, self.ip_user = url, user, password, ip_user
        self.cert = (client_cert, client_key) if client_cert else None
        self.ca_bundle = ca_bundle or None
        self.timeouts = (connect_timeout, read_timeout)
        self.retries, self.max_bytes = retries, max_bytes
        self.breaker = breaker or CircuitBreaker()
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._sleep, self._monotonic, self._jitter = sleep, monotonic, jitter
        self._local = threading.local()

    def __repr__(self) -> str:  # no password in a repr
        return f"HttpRegistry({self.url!r})"

    def _session(self) -> requests.Session:
        """One session (connection pool) per thread: requests.Session is not documented
        as thread-safe."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self.ca_bundle or True
            session.cert = self.cert
            adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=4)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return session

    def record(self, nik: str):
        """Not supported: the data-verification contract answers per field and has no
        endpoint returning a record. Raises RecordNotSupportedError, without a request."""
        raise RecordNotSupportedError()

    # -- the call ---------------------------------------------------------------------------
    def verify(self, request: VerificationRequest) -> VerificationResult:
        """Returns the per-field result. Raises RegistryUnavailableError (module
        docstring) and InvalidNIKError for a malformed NIK."""
        nik = normalize_nik(request.nik)
        name = normalize_name(request.full_name)
        if not name:  # nothing the registry could match: a mismatch, without asking
            fields = dict.fromkeys(FIELDS, FieldResult.NOT_CHECKED) | {"full_name": FieldResult.MISMATCH}
            return VerificationResult(found=False, fields=fields, registry=self.name, checked_at=clock.now())
        body = {
            "USER_ID": self.user, "PASSWORD": self._password, "IP_USER": self.ip_user, "TRESHOLD": "100",
            "NIK": nik, "NAMA_LGKP": name.upper(), "TGL_LHR": birthdate_element(request.birthdate),
        }
        place = normalize_place(request.birthplace) if request.birthplace else ""
        if place:
            body["TMPT_LHR"] = place.upper()
        if request.gender:
            body["JENIS_KLMIN"] = _GENDER[request.gender]
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise RegistryUnavailableError("circuit_open", retry_after=self.breaker.retry_after())
            try:
                doc = self._attempt(body)
                result = self._interpret(doc, body, request)
            except _AttemptError as exc:
                self.breaker.failure()
                retry = exc.retryable and attempt < self.retries and self.breaker.state == "closed"
                log.warning(json.dumps({
                    "event": "registry.attempt_failed", "registry": self.name, "reason": exc.reason,
                    "status": exc.status, "attempt": attempt + 1, "will_retry": retry,
                }))
                if exc.reason in ("rejected", "credentials", "tls", "configuration"):  # ours to fix, not the registry's
                    log.error(json.dumps({"event": "registry.operator_action_needed", "registry": self.name,
                                          "reason": exc.reason, "status": exc.status}))
                if retry:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise RegistryUnavailableError(
                    exc.reason, retry_after=exc.retry_after or self.breaker.seconds,
                ) from None
            except BaseException:
                self.breaker.failure()  # never leave a half-open probe hanging
                raise
            self.breaker.success()
            return result

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2 ** attempt) * (0.5 + self._jitter() / 2)

    def _attempt(self, body: dict) -> object:
        """One HTTP exchange. Returns the parsed JSON document; raises _AttemptError."""
        deadline = self._monotonic() + sum(self.timeouts)
        try:
            response = self._session().post(
                self.url, json=body, timeout=self.timeouts, allow_redirects=False, stream=True,
                headers={"Accept": "application/json"},
            )
        except requests.exceptions.SSLError:
            raise _AttemptError("tls") from None
        except requests.exceptions.Timeout:
            raise _AttemptError("timeout", retryable=True) from None
        except requests.exceptions.ConnectionError:
            raise _AttemptError("connection", retryable=True) from None
        except (requests.exceptions.RequestException, OSError):
            raise _AttemptError("configuration") from None
        with response:
            status = response.status_code
            if status in RETRYABLE_STATUSES:
                raise _AttemptError("http_5xx", retryable=True, status=status,
                                    retry_after=_retry_after(response.headers.get("Retry-After")))
            if status >= 500:
                raise _AttemptError("http_5xx", status=status)
            if status in (401, 403):
                raise _AttemptError("credentials", status=status)
            if status != 200:
                raise _AttemptError("http_status", status=status)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise _AttemptError("too_large", status=status)
            data = bytearray()
            try:
                # read1: whatever one socket read brings, so the deadline is checked even
                # when a server drips one byte at a time within the read timeout.
                while chunk := response.raw.read1(8192, decode_content=True):
                    data += chunk
                    if len(data) > self.max_bytes:
                        raise _AttemptError("too_large", status=status)
                    if self._monotonic() > deadline:
                        raise _AttemptError("timeout", retryable=True, status=status)
            except urllib3.exceptions.ReadTimeoutError:
                raise _AttemptError("timeout", retryable=True, status=status) from None
            except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError):
                raise _AttemptError("connection", retryable=True, status=status) from None
        try:
            return json.loads(bytes(data))
        except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
            raise _AttemptError("malformed", status=status) from None

    def _interpret(self, doc: object, body: dict, request: VerificationRequest) -> VerificationResult:
        """Strictly map the answer onto a result; anything unexpected is `malformed`."""
        now = clock.now()
        content = doc.get("content") if isinstance(doc, dict) else None
        if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
            raise _AttemptError("malformed", status=200)
        item = content[0]
        code = item.get("RESPONSE_CODE")
        if code is not None:
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise _AttemptError("malformed", status=200)
            if code in NOT_FOUND_CODES:
                return not_found(self.name, now)
            if code in REJECTED_CODES:
                raise _AttemptError("rejected", status=200, retry_after=3600 if code == "05" else None)
            if code not in FOUND_CODES:
                raise _AttemptError("malformed", status=200)
        fields = dict.fromkeys(FIELDS, FieldResult.NOT_CHECKED)
        for ours, element in ELEMENTS.items():
            if element not in body:
                continue
            value = item.get(element)
            m = _VERDICT.fullmatch(value.strip()) if isinstance(value, str) else None
            if m is None:
                raise _AttemptError("malformed", status=200)
            score = int(m.group(2)) if m.group(2) is not None else None
            if score is not None and score > 100:
                raise _AttemptError("malformed", status=200)
            agrees = m.group(1).casefold() == "sesuai" and score in (None, 100)
            fields[ours] = FieldResult.MATCH if agrees else FieldResult.MISMATCH
        return VerificationResult(
            found=True, fields=fields, registry=self.name, checked_at=now,
            gender=request.gender if fields["gender"] is FieldResult.MATCH else None,
        )


def birthdate_element(value: datetime.date) -> str:
    """TGL_LHR as the service writes it (dd-mm-yyyy)."""
    return value.strftime("%d-%m-%Y")
