"""A real provider process for black-box tests: gunicorn on 127.0.0.1, a temp config,
`idp init`, clients from a directory, one citizen. Used by the interop, browser and
gunicorn tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    env: dict
    workdir: Path

    def idp(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(check=False, args=
            [str(BIN / "idp"), *args], env=self.env, input=input, capture_output=True, text=True, timeout=60, cwd=ROOT
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(
    workdir: Path,
    clients_dir: Path,
    *,
    database_url: str | None = None,
    extra_config: str = "",
    workers: int = 1,
    port: int | None = None,
    server: str = "gunicorn",
    host: str = "127.0.0.1",
) -> LiveServer:
    """Start gunicorn (or granian) serving idp.wsgi:app; returns when /healthz answers 200."""
    port = port or free_port()
    # The issuer's host; the server listens on 127.0.0.1 either way. WebAuthn needs a
    # domain as relying party id: "localhost" works (a secure context), an IP does not.
    url = f"http://{host}:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{workdir / 'idp.sqlite3'}"
    config = workdir / "idp.toml"
    config.write_text(
        f'issuer = "{url}"\ndebug = true\ndatabase_url = "{database_url}"\n'
        f'keys_dir = "{workdir / "keys"}"\nclients_dir = "{clients_dir}"\n' + extra_config
    )
    env = {**os.environ, "IDP_CONFIG": str(config)}
    init = subprocess.run(check=False, args=[str(BIN / "idp"), "init"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    if init.returncode != 0:
        raise RuntimeError(f"idp init failed: {init.stderr}")
    sync = subprocess.run(check=False, args=
        [str(BIN / "idp"), "clients", "sync", str(clients_dir)], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    if sync.returncode != 0:
        raise RuntimeError(f"idp clients sync failed: {sync.stderr}")
    log = open(workdir / "gunicorn.log", "w")  # noqa: SIM115 - outlives this function (the server writes it)
    if server == "granian":
        argv = [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--blocking-threads", "1", "--no-ws", "--log-level", "warning", "idp.wsgi:app"]
    else:
        argv = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "idp.wsgi:app"]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LiveServer(url, proc, env, workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited: {(workdir / 'gunicorn.log').read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=3).status_code == 200:
                return server
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server} did not become ready in 60 s")
