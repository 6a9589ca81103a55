"""A stand-in for ClamAV's daemon: a real TCP or unix socket server in a thread, speaking
clamd's z-commands (`zPING`, `zINSTREAM` with 4-byte big-endian chunk lengths and a
zero-length terminator, NUL-terminated replies) as clamd(8) describes them.

It finds the EICAR test string anywhere in a stream (`Eicar-Signature FOUND`), and also
whatever a test asks for: a marker, a SHA-256 of the stream, or every stream (so a valid,
re-encoded image can be "infected"). It can misbehave: never answer until stopped
("hang"), close without a reply ("close"), answer garbage ("garbage"), or answer more
bytes than any real reply without a NUL ("oversize"). Streams over `stream_max_length`
are answered `INSTREAM size limit exceeded. ERROR`, as clamd's StreamMaxLength.

No sleeps: "hang" waits on an event that stop() sets.
"""

from __future__ import annotations

import hashlib
import os
import socket
import socketserver
import struct
import threading
from typing import Self

# Built from two halves so that this file itself is not the EICAR test file to a real scanner.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
MODES = ("ok", "hang", "close", "garbage", "oversize")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("client closed")
        buf += part
    return bytes(buf)


def _recv_command(sock: socket.socket, limit: int = 64) -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\0"):
        part = sock.recv(1)
        if not part or len(buf) >= limit:
            raise ConnectionError("no command")
        buf += part
    return bytes(buf[:-1])


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        standin: ClamdStandIn = self.server.standin
        sock = self.request
        command = _recv_command(sock)
        standin.commands.append(command)
        if command == b"zPING":
            if standin.mode == "ok":
                sock.sendall(b"PONG\0")
            else:
                self._misbehave(standin, sock)
            return
        if command != b"zINSTREAM":
            sock.sendall(b"UNKNOWN COMMAND\0")
            return
        data = bytearray()
        too_large = False
        while True:
            (length,) = struct.unpack("!I", _recv_exact(sock, 4))
            if length == 0:
                break
            chunk = _recv_exact(sock, length)
            if len(data) + length > standin.stream_max_length:
                too_large = True  # read on to the terminator, so the reply is not lost to a reset
            else:
                data += chunk
        if too_large:
            sock.sendall(b"INSTREAM size limit exceeded. ERROR\0")
            return
        digest = hashlib.sha256(data).hexdigest()
        standin.scanned.append(digest)
        if digest in standin.fail_digests:
            return  # this file only: the connection closes with no answer
        if standin.mode != "ok":
            self._misbehave(standin, sock)
            return
        name = standin.verdict(bytes(data), digest)
        sock.sendall(b"stream: OK\0" if name is None else f"stream: {name} FOUND\0".encode())

    @staticmethod
    def _misbehave(standin: ClamdStandIn, sock: socket.socket) -> None:
        if standin.mode == "hang":
            standin.released.wait()
        elif standin.mode == "garbage":
            sock.sendall(b"\xff\xfeHELLO? 42\0")
        elif standin.mode == "oversize":
            sock.sendall(b"stream: " + b"A" * 65536)
        # "close": nothing; the connection closes when handle() returns.


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # a client going away is not our test's failure
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class ClamdStandIn:
    """``with ClamdStandIn() as clamd:`` listens on 127.0.0.1 (a free port), or on the unix
    socket ``unix_path``; ``clamd.address`` is what `clamd_address` takes."""

    def __init__(self, unix_path: str | None = None, *, stream_max_length: int = 25 * 1024 * 1024):
        self.unix_path = unix_path
        self.stream_max_length = stream_max_length
        self.mode = "ok"
        self.fail_digests: set[str] = set()
        self.markers: dict[bytes, str] = {EICAR: "Eicar-Signature"}
        self.flag_sha256: dict[str, str] = {}
        self.flag_all: str | None = None
        self.scanned: list[str] = []  # SHA-256 of every complete stream received
        self.commands: list[bytes] = []
        self.released = threading.Event()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # kept across stop() and start(): the provider's clamd_address stays valid

    def verdict(self, data: bytes, digest: str) -> str | None:
        if self.flag_all:
            return self.flag_all
        if digest in self.flag_sha256:
            return self.flag_sha256[digest]
        for marker, name in self.markers.items():
            if marker in data:
                return name
        return None

    @property
    def address(self) -> str:
        return self.unix_path or f"127.0.0.1:{self._port}"

    def start(self) -> Self:
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            self._server = _UnixServer(self.unix_path, _Handler)
        else:
            self._server = _TCPServer(("127.0.0.1", self._port), _Handler)
            self._port = self._server.server_address[1]
        self._server.standin = self
        self.released.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (a later connection is refused) and release hung handlers."""
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
