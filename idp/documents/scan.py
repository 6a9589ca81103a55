"""Anti-virus scanning of document files before any service can read them (SECURITY.md T70,
ASVS 5.2.x): a client of ClamAV's daemon, clamd, and the `none` scanner for configurations
that turn scanning off.

The clamd protocol (clamd(8) "COMMANDS"; ClamAV manual "Clamd protocol"):

- A command prefixed with ``z`` ends with a NUL byte, and so does clamd's reply.
- ``zINSTREAM\\0``, then the data in chunks, each ``<length><bytes>`` with the length as
  4 bytes, unsigned, network byte order; a chunk of length 0 ends the stream. The reply is
  ``stream: OK``, ``stream: <signature> FOUND`` or ``<message> ERROR``. More data than
  clamd's ``StreamMaxLength`` (25 MiB by default) is answered ``INSTREAM size limit
  exceeded. ERROR`` and clamd closes the connection.
- ``zPING\\0`` is answered ``PONG``.

Over TCP (``host:port``, ``[v6 address]:port``) or a unix socket (an absolute path). Only
an exact ``stream: OK`` is clean; every other answer, no answer, a connection refused, a
timeout or a reply longer than MAX_REPLY bytes is an error, never a verdict, and an error
never releases a file (the document stays `pending`, services.py). A ``FOUND`` for
``Heuristics.Limits.Exceeded…`` (clamd's AlertExceedsMax: the file was too large or too
deep to scan completely) is an error too: it is not malware, and the file was not checked.

Timeouts: ``connect_timeout`` for the connection, and ``timeout`` for the whole exchange
after it (sending, clamd's scan and its reply), as one deadline: a clamd that trickles
bytes cannot hold a web worker longer than that.

Why our own client: the only maintained Python one on PyPI (clamav-client, a fork of the
unmaintained `clamd` 1.0.2 of 2014; `pyclamd` is unmaintained since 2017) is GPL-2.0, has a
single socket timeout rather than a deadline, and sends 1 KiB chunks with no local size
limit. The framing above is about a hundred lines; nothing here is cryptography.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass
from typing import Protocol

# Verdicts of ScanResult.
CLEAN = "clean"
INFECTED = "infected"
ERROR = "error"
SKIPPED = "skipped"  # the `none` scanner: nothing was checked
# A document's scan_status is one of these four (models.SCAN_STATUSES):
PENDING = "pending"  # stored while the scanner was unavailable; scanned later

# Reasons of an ERROR: the scanner could not be reached or did not answer sensibly
# ("unavailable": later files would fail alike), or this file could not be scanned.
UNAVAILABLE = "unavailable"
TOO_LARGE = "too_large"
LIMITS_EXCEEDED = "limits_exceeded"

CHUNK = 64 * 1024
MAX_REPLY = 1024  # the longest real reply is a signature name with ExtendedDetectionInfo
MAX_SIGNATURE = 128  # Document.scan_signature
# Printable ASCII, no leading or trailing space: e.g. "Win.Test.EICAR_HDB-1".
_SIGNATURE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class ScanResult:
    verdict: str  # CLEAN, INFECTED, ERROR or SKIPPED
    signature: str | None = None  # INFECTED: the signature's name
    reason: str | None = None  # ERROR: UNAVAILABLE, TOO_LARGE or LIMITS_EXCEEDED
    detail: str = ""  # ERROR: what happened, for the log (never any of the file)

    @property
    def unavailable(self) -> bool:
        return self.verdict == ERROR and self.reason == UNAVAILABLE


def _error(reason: str, detail: str) -> ScanResult:
    return ScanResult(ERROR, reason=reason, detail=detail[:200])


class Scanner(Protocol):
    name: str

    def scan(self, data: bytes) -> ScanResult:
        """The verdict on ``data``. Never raises for a scanner problem: that is an ERROR."""
        ...

    def ping(self) -> bool:
        """Whether the scanner answers."""
        ...


class NoScanner:
    """`document_scanner = "none"`: nothing is scanned; every file is SKIPPED."""

    name = "none"

    def scan(self, data: bytes) -> ScanResult:
        return ScanResult(SKIPPED)

    def ping(self) -> bool:
        return True


def parse_address(value: str) -> tuple[str, str | tuple[str, int]]:
    """("unix", path) for an absolute path, ("tcp", (host, port)) for ``host:port`` or
    ``[v6 address]:port``. Raises ValueError saying what is expected."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError("expected host:port or an absolute unix socket path")
    if value.startswith("/"):
        return "unix", value
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("write an IPv6 address in brackets: [::1]:3310")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port or an absolute unix socket path")
    return "tcp", (host, int(port))


def parse_reply(raw: bytes) -> ScanResult:
    """The verdict in clamd's reply to INSTREAM (without or with its NUL)."""
    text = raw.rstrip(b"\0").decode("ascii", "replace").strip()
    if text == "stream: OK":
        return ScanResult(CLEAN)
    if text.startswith("stream: ") and text.endswith(" FOUND"):
        name = text[len("stream: "):-len(" FOUND")].strip()
        if not _SIGNATURE.fullmatch(name) or len(name) > MAX_SIGNATURE:
            # clamd found something: a name we cannot store makes it no less infected.
            name = re.sub(r"[^\x21-\x7e]", "_", name)[:MAX_SIGNATURE] or "Unknown"
        if name.startswith("Heuristics.Limits.Exceeded"):
            return _error(LIMITS_EXCEEDED, f"clamd could not scan the whole file ({name})")
        return ScanResult(INFECTED, signature=name)
    if text.endswith("ERROR"):
        if "size limit exceeded" in text:
            return _error(TOO_LARGE, "larger than clamd's StreamMaxLength")
        return _error(UNAVAILABLE, "clamd: " + text)
    return _error(UNAVAILABLE, "unexpected reply from clamd")


class _Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def arm(self, sock: socket.socket) -> None:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("clamd timeout")
        sock.settimeout(left)


class ClamdScanner:
    """A clamd client. One connection per command (clamd's IDSESSION is not needed)."""

    name = "clamd"

    def __init__(self, address: str, *, timeout: float = 15, connect_timeout: float = 2,
                 max_stream_bytes: int = 25 * 1024 * 1024):
        self.family, self.target = parse_address(address)
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_stream_bytes = max_stream_bytes

    def _connect(self) -> socket.socket:
        if self.family == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.connect_timeout)
                sock.connect(self.target)
            except BaseException:
                sock.close()
                raise
            return sock
        return socket.create_connection(self.target, timeout=self.connect_timeout)

    @staticmethod
    def _read_reply(sock: socket.socket, deadline: _Deadline) -> bytes:
        """Up to the NUL that ends a z-command's reply (or the connection's end). Raises
        ValueError for a reply longer than MAX_REPLY, OSError, TimeoutError."""
        buf = bytearray()
        while b"\0" not in buf:
            deadline.arm(sock)
            part = sock.recv(MAX_REPLY + 1 - len(buf))
            if not part:
                break
            buf += part
            if len(buf) > MAX_REPLY and b"\0" not in buf:
                raise ValueError(f"reply longer than {MAX_REPLY} bytes")
        return bytes(buf.split(b"\0", 1)[0])

    def scan(self, data: bytes) -> ScanResult:
        if len(data) > self.max_stream_bytes:
            # clamd would refuse it (StreamMaxLength); not worth sending.
            return _error(TOO_LARGE, "larger than clamd_stream_max_bytes")
        deadline = _Deadline(self.timeout)
        try:
            sock = self._connect()
        except OSError as exc:
            return _error(UNAVAILABLE, f"cannot connect to clamd at {self.address}: {exc.__class__.__name__}")
        with sock:
            try:
                try:
                    view = memoryview(data)
                    deadline.arm(sock)
                    sock.sendall(b"zINSTREAM\0")
                    for start in range(0, len(view), CHUNK):
                        chunk = view[start:start + CHUNK]
                        deadline.arm(sock)
                        sock.sendall(struct.pack("!I", len(chunk)) + chunk)
                    deadline.arm(sock)
                    sock.sendall(struct.pack("!I", 0))
                except (BrokenPipeError, ConnectionResetError):
                    # clamd closes the connection after "size limit exceeded": its reply
                    # may still be waiting to be read.
                    pass
                raw = self._read_reply(sock, deadline)
            except TimeoutError:
                return _error(UNAVAILABLE, f"clamd at {self.address} did not answer within {self.timeout} s")
            except ValueError as exc:
                return _error(UNAVAILABLE, str(exc))
            except OSError as exc:
                return _error(UNAVAILABLE, f"connection to clamd at {self.address} failed: {exc.__class__.__name__}")
        if not raw:
            return _error(UNAVAILABLE, "clamd closed the connection without a reply")
        return parse_reply(raw)

    def ping(self) -> bool:
        deadline = _Deadline(self.timeout)
        try:
            with self._connect() as sock:
                deadline.arm(sock)
                sock.sendall(b"zPING\0")
                return self._read_reply(sock, deadline) == b"PONG"
        except (OSError, ValueError):
            return False


def from_config(cfg: dict) -> Scanner:
    """The scanner `document_scanner` names (the settings are checked by config.py)."""
    if cfg["document_scanner"] == "clamd":
        return ClamdScanner(cfg["clamd_address"], timeout=cfg["clamd_timeout"],
                            connect_timeout=cfg["clamd_connect_timeout"], max_stream_bytes=cfg["clamd_stream_max_bytes"])
    return NoScanner()


def releasable(status: str, scanner_name: str) -> bool:
    """Whether a file with this scan status may leave the vault (to a service, an officer):
    only a clean one, or one not scanned while scanning is explicitly off. `pending`
    (scanner unavailable when stored) and `infected` (quarantined) never are, and neither
    is `skipped` once scanning is on (`idp documents scan` checks those files)."""
    return status == CLEAN or (status == SKIPPED and scanner_name == "none")
