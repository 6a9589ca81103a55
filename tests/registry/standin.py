"""A local stand-in for the Dukcapil-style verification service (idp/registry/http.py).

A real HTTP(S) server on 127.0.0.1, in a thread, speaking the contract, with switchable
failure behaviours. ``behaviour`` applies to every call; ``script`` (a list) overrides
it for the next calls, one entry each ("503 then normal"). ``calls`` counts requests
that reached the handler.

Behaviours: ``normal``; ``lenient`` (ignores TRESHOLD: a close name is "Sesuai (85)");
``slow`` (sleeps ``delay`` seconds, then answers); ``drip`` (sends the body one byte at
a time, ``delay`` apart); ``500``/``502``/``503``/``504`` (with Retry-After on 503);
``302``; ``malformed`` (not JSON); ``deep`` (JSON nested past the parser's recursion
limit); ``wrong_shape`` (JSON, not the contract);
``missing_element`` (found, but NAMA_LGKP absent); ``odd_verdict`` ("Cocok");
``huge`` (a valid answer padded past 64 KiB, no Content-Length; ``huge_declared``
with one); ``reset`` (connection
reset before any answer); ``code:NN`` (answers RESPONSE_CODE NN). Wrong USER_ID or
PASSWORD is always 401.

``tls_files(tmp_path)`` makes a CA, a server certificate for 127.0.0.1 and a client
certificate with ``cryptography``; ``StandIn(tls=..., require_client_cert=True)`` then
serves https and refuses clients without a certificate from that CA (mutual TLS).
"""

from __future__ import annotations

import datetime
import difflib
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USER = "satuakun-test"
PASSWORD = "kata-sandi-registry"
PATH = "/dukcapil/get_json/SATUAKUN/CALL_VERIFY_BY_ELEMEN"


@dataclass
class TLSFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert(subject: str, key, issuer_name, issuer_key, *, ca=False, san=None, usage=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False,
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def tls_files(directory: Path) -> TLSFiles:
    import ipaddress

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Stand-in Registry CA", ca_key, None, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, ca.subject, ca_key,
                   san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("satuakun-test", client_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = TLSFiles(*(directory / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")))
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(_key_pem(server_key))
    files.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    files.client_key.write_bytes(_key_pem(client_key))
    return files


def _verdict(sent: str, recorded: str, threshold: int, *, scored: bool) -> str:
    if not scored:
        return "Sesuai" if sent == recorded else "Tidak Sesuai"
    score = round(difflib.SequenceMatcher(None, sent, recorded).ratio() * 100)
    return f"{'Sesuai' if score >= threshold else 'Tidak Sesuai'} ({score})"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandIn

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.standin.ssl_context is not None:
            # Handshake in the handler thread (on first read), not in the accept loop.
            sock = self.standin.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):  # resets, refused handshakes: expected here
        self.standin.errors += 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        s = self.server.standin
        with s.lock:
            s.calls += 1
            behaviour = s.script.pop(0) if s.script else s.behaviour
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, b'{"error": "bad request"}')
        s.last_body = body
        if self.path != PATH:
            return self._send(404, b"{}")
        if body.get("USER_ID") != s.user or body.get("PASSWORD") != s.password:
            return self._send(401, b'{"error": "unauthorized"}')
        if behaviour == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return None
        if behaviour == "slow":
            time.sleep(s.delay)
        if behaviour in ("500", "502", "503", "504"):
            return self._send(int(behaviour), b"<html>Service Unavailable</html>", {"Retry-After": "7"} if behaviour == "503" else None)
        if behaviour == "302":
            return self._send(302, b"", {"Location": "https://example.invalid/"})
        if behaviour == "malformed":
            return self._send(200, b'{"content": [{"NIK": "Sesuai",')
        if behaviour == "deep":
            return self._send(200, b"[" * 60_000)
        if behaviour == "wrong_shape":
            return self._send(200, json.dumps({"result": "Sesuai"}).encode())
        if behaviour.startswith("code:"):
            return self._send(200, json.dumps({"content": [{"RESPONSE_CODE": behaviour[5:], "RESPONSE": "..."}]}).encode())
        answer = s.answer(body, lenient=behaviour == "lenient")
        if behaviour == "missing_element" and "RESPONSE_CODE" not in answer:
            answer.pop("NAMA_LGKP", None)
        if behaviour == "odd_verdict" and "RESPONSE_CODE" not in answer:
            answer["NAMA_LGKP"] = "Cocok"
        doc = {"content": [answer], "lastPage": True, "numberOfElements": 1}
        if behaviour in ("huge", "huge_declared"):
            doc["padding"] = "x" * 100_000
            return self._send(200, json.dumps(doc).encode(), length=behaviour == "huge_declared")
        data = json.dumps(doc).encode()
        if behaviour == "drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(s.delay)
            return None
        return self._send(200, data)


class StandIn:
    def __init__(self, records: dict[str, dict[str, str]], *, tls: TLSFiles | None = None,
                 require_client_cert: bool = False) -> None:
        self.records = records
        self.user, self.password = USER, PASSWORD
        self.behaviour = "normal"
        self.script: list[str] = []
        self.delay = 1.0
        self.calls = 0
        self.errors = 0
        self.last_body: dict | None = None
        self.lock = threading.Lock()
        self.ssl_context = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls.server_cert, tls.server_key)
            if require_client_cert:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(tls.ca)
            self.ssl_context = ctx
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{PATH}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, body: dict, *, lenient: bool = False) -> dict:
        """The service's matching: exact (threshold 100) unless lenient."""
        record = self.records.get(body.get("NIK"))
        if record is None:
            return {"RESPONSE_CODE": "13", "RESPONSE": "Data Tidak Ditemukan"}
        threshold = 80 if lenient else int(body.get("TRESHOLD", "100"))
        out = {"NIK": "Sesuai"}
        for element, scored in (("NAMA_LGKP", True), ("TGL_LHR", False), ("TMPT_LHR", True), ("JENIS_KLMIN", False)):
            if element in body:
                out[element] = _verdict(body[element], record[element], threshold, scored=scored)
        return out
