"""Load-test SatuAkun ("ours") beside node-oidc-provider ("peer") on this machine.

    python bench/run.py [--server ours|peer|both] [--ours-server NAME[:W[xT]] ...]
                        [--only SCENARIO] [--duration S | --quick] [--conns 16,64]
                        [--nice N] [--max-noise P --retries N --wait-idle S] [--json]
    python bench/run.py --table-from results.json [--matrix]

Serves ours from a copy of idp/ taken at start (every target runs the same code), starts each
server on a free 127.0.0.1 port, signs in through its pages to get an access and a refresh
token, then for every scenario and concurrency runs wrk (bench/wrk.lua) for a fixed time while
sampling the server process tree's RSS every 100 ms and the CPU other processes take from the
machine (a noisy run is repeated). Prints one table (or JSON with --json). Progress goes to
stderr. Exit 0 when every run completed, 1 when a scenario could not be run, 2 on setup
failure. See bench/README.md.

Every load loop here is bounded: wrk runs for --duration seconds (at most 300) and is killed if
it overruns; the only target is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from peer_flow import FlowError, code_flow, discover, peer_tokens  # noqa: E402

SCENARIOS = ("discovery", "jwks", "userinfo", "token-refresh", "token-cc",
             "claims-documents", "claims-documents-jwt")
# Scenarios only ours has: the peer's rows say "n/a" (no such endpoint) and it is not loaded.
OURS_ONLY = {"claims-documents": "node-oidc-provider has no document claims endpoint",
             "claims-documents-jwt": "node-oidc-provider has no document claims endpoint"}
MAX_DURATION = 300.0
PAGE = os.sysconf("SC_PAGE_SIZE")


class SetupError(RuntimeError):
    """A server could not be started or could not give us tokens."""


@dataclass
class Target:
    name: str                 # "ours" or "peer"
    base_url: str             # the issuer, e.g. http://127.0.0.1:41234
    popen: subprocess.Popen
    creds: dict               # see start_ours() for the keys
    disc: dict = field(default_factory=dict)
    log_path: Path | None = None


# --------------------------------------------------------------------------------------------
# OUR server. Everything that knows how SatuAkun is installed, configured and signed in to
# lives in start_ours(); the rest of this file only uses what it returns.
# --------------------------------------------------------------------------------------------

OURS_NIK = "3174010101900001"
OURS_PASSWORD = "Bench-Citizen-Passw0rd!"
OURS_EMAIL = "bench@example.test"       # the peer's account has an email too
OURS_SCOPE = "openid profile email"    # scope bench-rp asks for at sign-in
OURS_SVC_SCOPE = "api"                 # scope bench-svc asks for with client_credentials
OURS_SECRET = "bench-secret"
OURS_DB = "satuakun_bench"
OURS_DOCS_CLIENT = "bench-docs"         # registered with document_types = ["kk"]
OURS_DOCS_SCOPE = "openid doc:kk"      # scope bench-docs asks for (claims-documents*)
OURS_DOCS_PATH = "/claims/documents"
DEFAULT_OURS_SERVER = "gunicorn-sync:2"
BENCH_VENV = BENCH / ".venv" / "bin"   # servers other than gunicorn, py-spy (bench/requirements.txt)

# --ours-server NAME[:WORKERS[xTHREADS]] -> (default workers, default threads, needs bench venv)
OURS_SERVERS = {
    "gunicorn-sync": (2, 1, False),     # gunicorn's default worker: one request at a time, no keep-alive
    "gunicorn-gthread": (2, 4, False),  # gunicorn -k gthread --threads T (keep-alive)
    "granian": (2, 1, True),            # granian --interface wsgi --blocking-threads T (Rust HTTP)
    "bjoern": (2, 1, True),             # bjoern (libev, C), pre-forked by bench/servers/bjoern_serve.py
    "uwsgi": (2, 1, True),              # uWSGI (pyuwsgi wheel), --http11-socket, --lazy-apps
    "waitress": (1, 8, True),           # waitress: one process, T threads
}


@dataclass(frozen=True)
class OursServer:
    kind: str
    workers: int
    threads: int

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.workers}x{self.threads}"


def parse_ours_server(spec: str) -> OursServer:
    """'granian' | 'granian:3' | 'gunicorn-gthread:2x4' -> OursServer. Raises ValueError."""
    kind, _, size = spec.partition(":")
    if kind not in OURS_SERVERS:
        raise ValueError(f"unknown server {kind!r} (one of {', '.join(OURS_SERVERS)})")
    workers, threads, _ = OURS_SERVERS[kind]
    if size:
        w, _, t = size.partition("x")
        workers = int(w)
        threads = int(t) if t else threads
    if not (1 <= workers <= 16 and 1 <= threads <= 64):
        raise ValueError(f"{spec}: workers 1..16, threads 1..64")
    if kind == "waitress" and workers != 1:
        raise ValueError("waitress runs one process: waitress:1xT")
    if kind in ("gunicorn-sync", "bjoern") and threads != 1:
        raise ValueError(f"{kind} has no threads: {kind}:W")
    return OursServer(kind, workers, threads)


def _project_pythonpath() -> str:
    """The project and its venv's site-packages, for servers installed in bench/.venv."""
    site = sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    return os.pathsep.join([str(SOURCE or ROOT), *map(str, site)])


def ours_command(server: OursServer, port: int, env: dict) -> tuple[list[str], dict]:
    """argv and environment that serve idp.wsgi:app on 127.0.0.1:port with ``server``."""
    venv = ROOT / ".venv" / "bin"
    extra = os.environ.get("BENCH_OURS_SERVER_ARGS", os.environ.get("BENCH_GUNICORN_ARGS", "")).split()
    w, t = server.workers, server.threads
    if server.kind.startswith("gunicorn"):
        cmd = [str(venv / "gunicorn"), "-w", str(w), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
        if server.kind == "gunicorn-gthread":
            cmd += ["-k", "gthread", "--threads", str(t)]
        return [*cmd, *extra, "idp.wsgi:app"], env
    if not (BENCH_VENV / "python").exists():
        raise SetupError(f"ours: {server.kind} lives in bench/.venv, which is missing; "
                         "`bash bench/run.sh` creates it from bench/requirements.txt")
    env = {**env, "PYTHONPATH": os.pathsep.join(
        [str(SOURCE)] * (SOURCE is not None) + [_project_pythonpath()])}
    if server.kind == "granian":
        return [str(BENCH_VENV / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(w), "--blocking-threads", str(t),
                "--runtime-threads", "1", "--no-ws", "--log-level", "warning", "--no-access-log",
                *extra, "idp.wsgi:app"], env
    if server.kind == "bjoern":
        return [str(BENCH_VENV / "python"), str(BENCH / "servers" / "bjoern_serve.py"),
                "--workers", str(w), "--port", str(port), *extra], env
    if server.kind == "uwsgi":
        return [str(BENCH_VENV / "uwsgi"), "--http11-socket", f"127.0.0.1:{port}", "--master",
                "--processes", str(w), "--threads", str(t), "--lazy-apps", "--need-app",
                "--die-on-term", "--disable-logging", "--module", "idp.wsgi:app",
                "--listen", "1024", *extra], env
    if server.kind == "waitress":
        return [str(BENCH_VENV / "waitress-serve"), "--listen", f"127.0.0.1:{port}",
                f"--threads={t}", "--connection-limit=1000", "--backlog=1024", *extra,
                "idp.wsgi:app"], env
    raise SetupError(f"ours: no command for {server.kind}")


def client_files(clients_dir: Path) -> None:
    """bench-rp and bench-svc in the format idp/oidc/clients.py validate_registration takes."""
    secret_hash = "sha256:" + hashlib.sha256(OURS_SECRET.encode()).hexdigest()
    (clients_dir / "bench-rp.toml").write_text(
        'client_id = "bench-rp"\n'
        'name = "Bench RP"\n'
        'redirect_uris = ["http://127.0.0.1:9/cb"]\n'
        'token_endpoint_auth_method = "client_secret_basic"\n'
        f'client_secret_hash = "{secret_hash}"\n'
        'grant_types = ["authorization_code", "refresh_token"]\n'
        'scopes = ["openid", "profile", "email"]\n'
        'subject_type = "pairwise"\n'
        'id_token_signed_response_alg = "ES256"\n'
    )
    (clients_dir / "bench-svc.toml").write_text(
        'client_id = "bench-svc"\n'
        'name = "Bench Service"\n'
        'token_endpoint_auth_method = "client_secret_basic"\n'
        f'client_secret_hash = "{secret_hash}"\n'
        'grant_types = ["client_credentials"]\n'
        f'scopes = ["{OURS_SVC_SCOPE}"]\n'
        'subject_type = "public"\n'
    )
    # claims-documents*: may ask for doc:kk (the registration adds the scope)
    (clients_dir / f"{OURS_DOCS_CLIENT}.toml").write_text(
        f'client_id = "{OURS_DOCS_CLIENT}"\n'
        'name = "Bench Documents RP"\n'
        'purpose = "Benchmark of GET /claims/documents"\n'
        'redirect_uris = ["http://127.0.0.1:9/cb"]\n'
        'token_endpoint_auth_method = "client_secret_basic"\n'
        f'client_secret_hash = "{secret_hash}"\n'
        'grant_types = ["authorization_code", "refresh_token"]\n'
        'scopes = ["openid"]\n'
        'document_types = ["kk"]\n'
        'subject_type = "pairwise"\n'
        'id_token_signed_response_alg = "ES256"\n'
    )


CREATED_DBS: list[str] = []                    # dropped at the end unless --keep-workdir


def drop_created_dbs() -> None:
    for name in CREATED_DBS:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True, timeout=60)
    CREATED_DBS.clear()


SOURCE_DIRS = ("idp", "templates", "static")   # what create_app() reads from the project root
SOURCE: Path | None = None                     # set by snapshot_source(); None: the live tree


def snapshot_source(workdir: Path) -> dict:
    """Copy idp/, templates/ and static/ into workdir/src and serve ours from that copy, so
    every target of one invocation runs the same code even if idp/ is edited meanwhile (it
    often is). Returns what was copied: the commit and whether idp/ differed from it."""
    global SOURCE
    src = workdir / "src"
    for name in SOURCE_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    SOURCE = src

    def git(*a):
        r = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else None
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", *SOURCE_DIRS)),
            "snapshot": str(src)}


def _source_env(env: dict) -> dict:
    """PYTHONPATH (and, for servers, the working directory) that make `import idp` load the
    snapshot: it comes before the editable install's finder, which sys.meta_path appends."""
    if SOURCE is None:
        return env
    return {**env, "PYTHONPATH": os.pathsep.join([str(SOURCE), *filter(None, [env.get("PYTHONPATH")])])}


def prepare_ours(workdir: Path, db_name: str = OURS_DB) -> tuple[str, dict]:
    """Fresh database, config, clients, `idp init`, the bench citizen. Returns (issuer, env).

    The issuer's port is chosen here (it is in the config). Also used by bench/profile.py.
    """
    venv = ROOT / ".venv" / "bin"
    if not (venv / "idp").exists():
        raise SetupError(f"ours: {venv / 'idp'} not found (pip install -e . in .venv first)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    db_url = os.environ.get("BENCH_OURS_DATABASE_URL")
    if not db_url:
        for sql in (f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)", f"CREATE DATABASE {db_name}"):
            _check_run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                        "-qc", sql], what=f"psql: {sql}")
        CREATED_DBS.append(db_name)
        db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"

    keys_dir, clients_dir = workdir / "ours-keys", workdir / "ours-clients"
    keys_dir.mkdir(exist_ok=True)
    clients_dir.mkdir(exist_ok=True)
    config = workdir / "ours.toml"
    redis = os.environ.get("BENCH_OURS_REDIS_URL", "")
    config.write_text(
        f'issuer = "{base_url}"\n'
        "debug = true\n"
        f'database_url = "{db_url}"\n'
        + (f'redis_url = "{redis}"\n' if redis else "")
        + f'keys_dir = "{keys_dir}"\n'
        f'clients_dir = "{clients_dir}"\n'
        f'document_store_dir = "{workdir / "ours-documents"}"\n'
        "access_token_ttl = 600\n"
        "id_token_ttl = 300\n"
        'id_token_signing_alg = "ES256"\n'
    )
    client_files(clients_dir)
    env = _source_env({**os.environ, "IDP_CONFIG": str(config)})
    idp = str(venv / "idp")
    _check_run([idp, "init"], env=env, what="idp init")
    _check_run([idp, "clients", "sync", str(clients_dir)], env=env, what="idp clients sync")
    _check_run([idp, "users", "create", "--nik", OURS_NIK, "--name", "Bench Citizen",
                "--birthdate", "1990-01-01", "--email", OURS_EMAIL, "--password-stdin"],
               env=env, input=OURS_PASSWORD + "\n", what="idp users create")
    return base_url, env


# Run with the project's Python and prepare_ours' environment (IDP_CONFIG): the bench
# citizen's documents, stored through the vault's service layer (idp/documents/services.py
# upload: validated, re-encoded, encrypted, blob + row). A KK, which bench-docs may be
# granted, and a KTP, which it may not: /claims/documents must leave the KTP out.
OURS_DOCS_SETUP = r"""
import io, json, sys
from PIL import Image
from idp import create_app
from idp.documents import services
from idp.identity.services import get_person_by_nik

def png(colour):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()

app = create_app()
with app.app_context():
    person = get_person_by_nik(sys.argv[1])
    if person is None:
        sys.exit("no citizen with the bench NIK")
    kk = services.upload(person.id, "kk", {
        "number": "3174010101900001", "holder_name": "Bench Citizen",
        "address": "Jl. Merdeka 1, Jakarta", "members": "Bench Citizen, kepala keluarga\nSiti Aminah, istri",
    }, "kk.png", png((200, 30, 30)))
    ktp = services.upload(person.id, "ktp", {
        "number": sys.argv[1], "holder_name": "Bench Citizen", "birth_date": "1990-01-01",
    }, "ktp.png", png((30, 30, 200)))
    print(json.dumps({"kk": kk.public_id, "ktp": ktp.public_id}))
"""


def prepare_ours_documents(env: dict) -> None:
    """Store the bench citizen's KK and KTP (OURS_DOCS_SETUP). Raises SetupError."""
    _check_run([str(ROOT / ".venv" / "bin" / "python"), "-c", OURS_DOCS_SETUP, OURS_NIK], env=env,
               what="documents setup (services.upload)")


def ours_documents_token(base_url: str, disc: dict, session: requests.Session | None = None) -> dict:
    """bench-docs asks for `openid doc:kk`; the consent page's approve records the citizen's
    grant for `kk` (idp/documents/grants.py grant). Checks that /claims/documents answers the
    KK alone. Returns the token response. Raises SetupError or FlowError."""
    tokens = code_flow(disc, client_id=OURS_DOCS_CLIENT, client_secret=OURS_SECRET,
                       redirect_uri="http://127.0.0.1:9/cb", scope=OURS_DOCS_SCOPE,
                       login=OURS_NIK, password=OURS_PASSWORD, session=session)
    if "refresh_token" not in tokens or "doc:kk" not in tokens.get("scope", OURS_DOCS_SCOPE).split():
        raise SetupError(f"{OURS_DOCS_CLIENT}: token without refresh_token or doc:kk: "
                         f"{ {k: v for k, v in tokens.items() if k == 'scope'} } {sorted(tokens)}")
    r = requests.get(base_url + OURS_DOCS_PATH, timeout=10,
                     headers={"Authorization": "Bearer " + tokens["access_token"]})
    types_ = [d.get("type") for d in r.json().get("documents", [])] if r.status_code == 200 else None
    if types_ != ["kk"]:
        raise SetupError(f"GET {OURS_DOCS_PATH} -> {r.status_code}: expected the KK alone, got "
                         f"{types_ if types_ is not None else r.text[:200]}")
    return tokens


def ours_sign_in(disc: dict, session: requests.Session | None = None) -> dict:
    """Authorization code + PKCE through our login and consent pages; the token response."""
    return code_flow(disc, client_id="bench-rp", client_secret=OURS_SECRET,
                     redirect_uri="http://127.0.0.1:9/cb", scope=OURS_SCOPE,
                     login=OURS_NIK, password=OURS_PASSWORD, session=session)


def start_ours(workdir: Path, server: OursServer | None = None,
               db_name: str = OURS_DB, documents: bool = False) -> tuple[str, subprocess.Popen, dict]:
    """Start SatuAkun on a free 127.0.0.1 port and sign the bench citizen in.

    Contract (run.py relies on nothing else):
      * returns (base_url, popen, credentials)
        - base_url: the issuer; ``base_url + "/.well-known/openid-configuration"`` answers 200
        - popen: the server process (gunicorn / granian / uwsgi master, bjoern launcher,
          waitress; not a shell); its children are its workers. run.py samples RSS of this pid
          and all its descendants, and stops it with SIGTERM to its process group (so it is
          started with start_new_session=True).
        - credentials: dict with
            rp_client_id, rp_client_secret     confidential client, client_secret_basic
            access_token, refresh_token        issued to that client for the bench citizen;
                                               the refresh token must be reusable (not rotated)
            svc_client_id, svc_client_secret   client_credentials client, client_secret_basic
            svc_scope                          scope to ask for with client_credentials
          with ``documents`` (claims-documents*) also
            docs_client_id, docs_client_secret bench-docs, registered with document_types ["kk"]
            docs_access_token, docs_refresh_token   scope `openid doc:kk`, grant for kk given
            docs_endpoint                      base_url + /claims/documents
          or, when that part of the set-up failed, docs_error (a message; only the
          claims-documents* rows fail then)
      * raises SetupError with a readable message on any failure (the caller stops popen).

    Steps: prepare_ours (fresh PostgreSQL database ``db_name``, TOML config, client files,
    `idp init`, `idp clients sync DIR`, `idp users create ... --password-stdin`); the server
    (ours_command); authorization code + PKCE sign-in through our own pages.
    """
    server = server or parse_ours_server("gunicorn-sync")
    workdir = workdir / f"ours-{db_name}"
    workdir.mkdir(exist_ok=True)
    base_url, env = prepare_ours(workdir, db_name)
    docs: dict = {}
    if documents:
        try:
            prepare_ours_documents(env)
        except SetupError as exc:
            docs["docs_error"] = str(exc)
    port = urlsplit(base_url).port
    cmd, env = ours_command(server, port, env)
    log_path = workdir / "server.log"
    log = open(log_path, "wb")
    # cwd: gunicorn puts its working directory first on sys.path
    popen = subprocess.Popen(cmd, cwd=SOURCE or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, preexec_fn=_niced)
    try:
        disc = wait_ready(base_url, popen, log_path)
        tokens = ours_sign_in(disc)
        if "refresh_token" not in tokens:
            raise SetupError(f"ours issued no refresh_token to bench-rp: {sorted(tokens)}")
    except (SetupError, FlowError, requests.RequestException) as exc:
        stop(popen)
        raise SetupError(f"ours ({server.label}): {exc}") from exc
    if documents and not docs:
        try:
            dt = ours_documents_token(base_url, disc)
            docs = {"docs_client_id": OURS_DOCS_CLIENT, "docs_client_secret": OURS_SECRET,
                    "docs_access_token": dt["access_token"], "docs_refresh_token": dt["refresh_token"],
                    "docs_endpoint": base_url + OURS_DOCS_PATH}
        except (SetupError, FlowError, requests.RequestException, ValueError) as exc:
            docs = {"docs_error": f"documents set-up: {exc}"[:400]}
    return base_url, popen, {
        "rp_client_id": "bench-rp", "rp_client_secret": OURS_SECRET,
        "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
        "svc_client_id": "bench-svc", "svc_client_secret": OURS_SECRET,
        "svc_scope": OURS_SVC_SCOPE, **docs,
    }


def _check_run(cmd: list[str], *, what: str, env=None, input: str | None = None) -> None:
    try:
        r = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True, timeout=120,
                           cwd=SOURCE or ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{what}: {exc}") from exc
    if r.returncode != 0:
        raise SetupError(f"{what} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-800:]}")


# --------------------------------------------------------------------------------------------
# The peer: node-oidc-provider (bench/peer/server.mjs).
# --------------------------------------------------------------------------------------------

def start_peer(workdir: Path) -> tuple[str, subprocess.Popen, dict]:
    if not (BENCH / "peer" / "node_modules" / "oidc-provider").is_dir():
        raise SetupError("peer: bench/peer/node_modules missing; run `npm ci --prefix bench/peer` "
                         "(bash bench/run.sh does it)")
    node = shutil.which("node")
    if not node:
        raise SetupError("peer: node not found on PATH")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = open(workdir / "peer.log", "wb")
    popen = subprocess.Popen([node, str(BENCH / "peer" / "server.mjs"), str(port)],
                             env={**os.environ, "NODE_ENV": "production"},
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_niced)
    try:
        wait_ready(base_url, popen, workdir / "peer.log")
        tokens = peer_tokens(base_url)
    except (SetupError, FlowError, requests.RequestException) as exc:
        stop(popen)
        raise SetupError(f"peer: {exc}") from exc
    return base_url, popen, {
        "rp_client_id": "bench-rp", "rp_client_secret": "bench-secret",
        "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
        "svc_client_id": "bench-svc", "svc_client_secret": "bench-secret", "svc_scope": "api",
    }


# --------------------------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base_url: str, popen: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise SetupError(f"server exited with {popen.returncode} before answering; "
                             f"log tail:\n{tail(log_path)}")
        try:
            return discover(base_url, timeout=2)
        except (requests.RequestException, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise SetupError(f"no discovery document at {base_url} within {timeout:.0f}s ({last}); "
                     f"log tail:\n{tail(log_path)}")


def tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


NICE = 0   # --nice: scheduling priority of the servers, wrk and our PostgreSQL backends


def _niced() -> None:
    """preexec_fn: run the child at priority NICE (children it forks inherit it)."""
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def renice_our_backends() -> int:
    """Give PostgreSQL's backends serving our bench databases priority NICE (they are forked
    by the postmaster, not by us). Other databases' backends are left alone. Returns how many."""
    if not NICE:
        return 0
    n = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                title = fh.read()
            if title.startswith(b"postgres: ") and f" {OURS_DB}".encode() in title:
                if os.getpriority(os.PRIO_PROCESS, int(entry.name)) != NICE:
                    os.setpriority(os.PRIO_PROCESS, int(entry.name), NICE)
                n += 1
        except (OSError, ValueError):
            continue
    return n


def stop(popen: subprocess.Popen) -> None:
    """SIGTERM the process group we created for this server, SIGKILL after 10 s."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=5)
    except ProcessLookupError:
        pass


def tree_pids(root: int) -> list[int]:
    """root and all its descendants, from /proc/*/stat (no /proc/*/children here)."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        parent[int(entry.name)] = int(fields[1])
    pids, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        pids += frontier
    return pids


def tree_rss(root: int) -> int:
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


class RssSampler(threading.Thread):
    """Peak RSS of a process tree, sampled every 100 ms until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._halt.wait(0.1)

    def finish(self) -> int:
        self._halt.set()
        self.join(timeout=5)
        return self.peak


# --------------------------------------------------------------------------------------------
# Background CPU ("noise"): this machine is shared (other people's tests, browsers, databases)
# --------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_DB_PREFIX = OURS_DB              # our PostgreSQL backends name it in their process title
PG_AUX = (b"checkpointer", b"background writer", b"walwriter", b"autovacuum launcher",
          b"logical replication launcher", b"stats collector", b"archiver")


def _busy_jiffies() -> int:
    with open("/proc/stat", "rb") as fh:
        f = fh.readline().split()[1:]
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    return sum(int(x) for i, x in enumerate(f[:8]) if i not in (3, 4))


def _bench_jiffies(server_pid: int | None) -> int:
    """CPU ticks so far of what the benchmark itself runs: the server tree, this process,
    and PostgreSQL's backends for our databases plus its shared helper processes."""
    mine = set(tree_pids(server_pid)) if server_pid else set()
    mine.add(os.getpid())
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            if pid not in mine:
                if b"(postgres)" not in stat[:64]:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    title = fh.read()
                if BENCH_DB_PREFIX.encode() not in title and not any(a in title for a in PG_AUX):
                    continue
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])          # utime + stime
    return total


def _children_jiffies() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)     # reaped children: wrk
    return (ru.ru_utime + ru.ru_stime) * CLK_TCK


class NoiseMeter:
    """Share of the machine's CPU used by processes that are not part of the benchmark
    between start() and stop(), in percent of all cores (100 = every core busy)."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.busy0, self.bench0, self.kids0 = _busy_jiffies(), _bench_jiffies(self.server_pid), _children_jiffies()

    def stop(self) -> float:
        wall = time.monotonic() - self.t0
        other = ((_busy_jiffies() - self.busy0) - (_bench_jiffies(self.server_pid) - self.bench0)
                 - (_children_jiffies() - self.kids0))
        capacity = wall * CLK_TCK * (os.cpu_count() or 1)
        return round(max(0.0, 100.0 * other / capacity), 1) if capacity > 0 else 0.0


def wait_idle(server_pid: int | None, max_noise: float, timeout: float) -> float:
    """Wait (1 s windows, at most ``timeout`` s) until background CPU is under max_noise %.
    Returns the seconds waited."""
    start = time.monotonic()
    while True:
        m = NoiseMeter(server_pid)
        m.start()
        time.sleep(1.0)
        if m.stop() <= max_noise or time.monotonic() - start >= timeout:
            return round(time.monotonic() - start, 1)


# --------------------------------------------------------------------------------------------
# Scenarios and the load generator
# --------------------------------------------------------------------------------------------

def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def refresh_grant(t: Target) -> dict:
    c = t.creds
    r = requests.post(t.disc["token_endpoint"], timeout=10,
                      headers={"Authorization": basic(c["rp_client_id"], c["rp_client_secret"])},
                      data={"grant_type": "refresh_token", "refresh_token": c["refresh_token"]})
    if r.status_code != 200:
        raise SetupError(f"{t.name}: refresh_token grant -> {r.status_code}: {r.text[:300]}")
    body = r.json()
    if body.get("refresh_token", c["refresh_token"]) != c["refresh_token"]:
        raise SetupError(f"{t.name}: the refresh token was rotated; token-refresh needs a "
                         "reusable one (confidential clients must not rotate)")
    return body


def refresh_docs_token(t: Target) -> str:
    """A fresh bench-docs access token (same `openid doc:kk` scope) from its refresh token."""
    c = t.creds
    r = requests.post(t.disc["token_endpoint"], timeout=10,
                      headers={"Authorization": basic(c["docs_client_id"], c["docs_client_secret"])},
                      data={"grant_type": "refresh_token", "refresh_token": c["docs_refresh_token"]})
    if r.status_code != 200:
        raise SetupError(f"{t.name}: {OURS_DOCS_CLIENT} refresh_token grant -> {r.status_code}: {r.text[:300]}")
    return r.json()["access_token"]


def request_for(t: Target, scenario: str) -> dict:
    """The one request a scenario repeats: url, method, body, auth (strings for wrk.lua)."""
    c, d = t.creds, t.disc
    if scenario == "discovery":
        return {"url": t.base_url + "/.well-known/openid-configuration", "method": "GET"}
    if scenario == "jwks":
        return {"url": d["jwks_uri"], "method": "GET"}
    if scenario == "userinfo":
        return {"url": d["userinfo_endpoint"], "method": "GET",
                "auth": "Bearer " + c["access_token"]}
    if scenario == "token-refresh":
        return {"url": d["token_endpoint"], "method": "POST",
                "auth": basic(c["rp_client_id"], c["rp_client_secret"]),
                "body": urlencode({"grant_type": "refresh_token",
                                   "refresh_token": c["refresh_token"]})}
    if scenario == "token-cc":
        return {"url": d["token_endpoint"], "method": "POST",
                "auth": basic(c["svc_client_id"], c["svc_client_secret"]),
                "body": urlencode({"grant_type": "client_credentials", "scope": c["svc_scope"]})}
    if scenario in ("claims-documents", "claims-documents-jwt"):
        req = {"url": c["docs_endpoint"], "method": "GET", "auth": "Bearer " + c["docs_access_token"]}
        if scenario == "claims-documents-jwt":
            req["accept"] = "application/jwt"
        return req
    raise ValueError(scenario)


def preflight(req: dict) -> tuple[bool, str]:
    """One request by hand: the scenario must answer 200 before it is loaded."""
    headers = {"Authorization": req["auth"]} if req.get("auth") else {}
    if req.get("body"):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if req.get("accept"):
        headers["Accept"] = req["accept"]
    try:
        r = requests.request(req["method"], req["url"], data=req.get("body"), headers=headers,
                             timeout=10, allow_redirects=False)
    except requests.RequestException as exc:
        return False, str(exc)
    if req.get("accept") and r.status_code == 200 and \
            r.headers.get("Content-Type", "").split(";")[0].strip() != req["accept"]:
        return False, f"200 but Content-Type {r.headers.get('Content-Type')!r}, not {req['accept']}"
    return r.status_code == 200, f"{r.status_code}: {r.text[:200]}"


def run_wrk(req: dict, conns: int, duration: float, threads: int) -> dict:
    env = {**os.environ, "BENCH_METHOD": req["method"], "BENCH_BODY": req.get("body", ""),
           "BENCH_AUTH": req.get("auth", ""), "BENCH_ACCEPT": req.get("accept", "")}
    host = urlsplit(req["url"]).hostname
    if host != "127.0.0.1":
        raise SystemExit(f"refusing to load {req['url']}: only 127.0.0.1 is a target")
    # wrk takes whole seconds only
    cmd = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
           "-s", str(BENCH / "wrk.lua"), req["url"]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 30,
                       preexec_fn=_niced)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"wrk printed no result (exit {r.returncode}): {r.stdout[-400:]} {r.stderr[-400:]}")


@dataclass
class NoisePolicy:
    max_noise: float = 10.0     # % of all cores used by other processes that makes a run suspect
    retries: int = 2            # extra attempts when a run was noisier than that
    wait_idle: float = 60.0     # seconds to wait for a quiet machine before each attempt


def measure(t: Target, scenario: str, conns: int, duration: float, warmup: float,
            threads: int, policy: NoisePolicy | None = None) -> dict:
    """Preflight, then up to 1 + policy.retries attempts (warm-up + measured wrk run); keeps
    the attempt with the least background CPU. ``bg_cpu_pct`` in the row is that figure."""
    policy = policy or NoisePolicy()
    row = {"scenario": scenario, "server": t.name, "conns": conns}
    req = request_for(t, scenario)
    ok, why = preflight(req)
    if not ok:
        return {**row, "failed": f"preflight {req['method']} {req['url']} -> {why}"}
    best: dict | None = None
    for attempt in range(1 + max(0, policy.retries)):
        waited = wait_idle(t.popen.pid, policy.max_noise, policy.wait_idle) if policy.wait_idle else 0.0
        sampler = RssSampler(t.popen.pid)
        meter = NoiseMeter(t.popen.pid)
        try:
            if warmup > 0:
                run_wrk(req, conns, warmup, threads)
            renice_our_backends()          # the pool may have opened connections in the warm-up
            sampler.start()
            meter.start()
            try:
                w = run_wrk(req, conns, duration, threads)
            finally:
                noise = meter.stop()
                peak = sampler.finish()
        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
            return {**row, "failed": f"wrk: {exc}"[:300]}
        secs = w["duration_us"] / 1e6
        socket_errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
        result = {**row, "requests": w["requests"], "seconds": round(secs, 3),
                  "rps": round(w["requests"] / secs, 1) if secs else 0.0,
                  "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
                  "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
                  "errors": w["status"] + socket_errors, "non2xx": w["status"],
                  "socket_errors": socket_errors, "peak_rss_mib": round(peak / 2**20, 1),
                  "bg_cpu_pct": noise, "attempts": attempt + 1, "waited_idle_s": waited}
        if best is None or noise < best["bg_cpu_pct"]:
            best = result
        best["attempts"] = attempt + 1
        if noise <= policy.max_noise:
            break
        progress(f"         noisy: {noise:.0f}% of the CPU went to other processes "
                 f"({result['rps']:.0f} req/s); attempt {attempt + 1} of {1 + policy.retries}")
    return best


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def add_ratios(rows: list[dict]) -> None:
    by_key = {(r["scenario"], r["conns"], r["server"]): r for r in rows}
    for r in rows:
        if not r["server"].startswith("ours"):
            continue
        peer = by_key.get((r["scenario"], r["conns"], "peer"))
        if peer and r.get("rps") and peer.get("rps"):
            r["ratio_rps"] = round(r["rps"] / peer["rps"], 3)


def table(rows: list[dict]) -> str:
    head = ("scenario", "server", "conns", "req/s", "p50 ms", "p99 ms", "errors", "peak RSS MiB",
            "bg cpu %", "ours/peer")
    lines = [head]
    for r in rows:
        if "failed" in r:
            lines.append((r["scenario"], r["server"], str(r["conns"]), "FAILED", "", "", "", "", "",
                          r["failed"][:80]))
            continue
        if "na" in r:        # an ours-only scenario on the peer
            lines.append((r["scenario"], r["server"], str(r["conns"]), "n/a", "n/a", "n/a", "", "n/a",
                          "", r["na"][:80]))
            continue
        lines.append((r["scenario"], r["server"], str(r["conns"]), f"{r['rps']:.0f}",
                      f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]),
                      f"{r['peak_rss_mib']:.1f}", f"{r['bg_cpu_pct']:.0f}",
                      f"{r['ratio_rps']:.2f}" if "ratio_rps" in r else "-"))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head) - 1)]
    out = []
    for l in lines:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))]
        out.append("  ".join(cells + [l[-1]]).rstrip())
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def matrix(rows: list[dict]) -> str:
    """req/s with one row per server and one column per scenario and concurrency."""
    cols: list[tuple[str, int]] = []
    servers: list[str] = []
    cell: dict = {}
    for r in rows:
        key = (r["scenario"], r["conns"])
        if key not in cols:
            cols.append(key)
        if r["server"] not in servers:
            servers.append(r["server"])
        cell[(r["server"], key)] = ("FAILED" if "failed" in r else "n/a" if "na" in r
                                    else f"{r['rps']:.0f}")
    head = ["server"] + [f"{s}/{c}" for s, c in cols]
    lines = [head] + [[srv] + [cell.get((srv, k), "-") for k in cols] for srv in servers]
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths)))
           for l in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def meta(args, duration: float) -> dict:
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    try:
        lock = json.loads((BENCH / "peer" / "package-lock.json").read_text())
        op = lock["packages"]["node_modules/oidc-provider"]["version"]
    except (OSError, KeyError, ValueError):
        op = None
    return {"duration_s": duration, "warmup_s": args.warmup, "conns": args.conns,
            "max_noise_pct": args.max_noise, "retries": args.retries, "wait_idle_s": args.wait_idle,
            "nice": args.nice, "idp_commit": args.source["commit"],
            "idp_dirty": args.source["dirty"],
            "ours_servers": args.ours_servers if args.server != "peer" else [],
            "wrk_threads": args.wrk_threads, "cpus": os.cpu_count(), "cpu_model": cpu_model(),
            "python": platform.python_version(), "node": version(["node", "--version"]),
            "oidc_provider": op, "wrk": version(["wrk", "-v"]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("ours", "peer", "both"), default="both")
    ap.add_argument("--ours-server", action="append", metavar="NAME[:W[xT]]",
                    help="how to serve ours: " + ", ".join(OURS_SERVERS) + "; W worker processes, "
                         f"T threads each (default {DEFAULT_OURS_SERVER}); repeatable: each is "
                         "its own target, ours[NAME:WxT], with its own database")
    ap.add_argument("--only", choices=SCENARIOS, action="append",
                    help="run only this scenario (repeatable)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 s per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    ap.add_argument("--conns", default="16,64", help="comma-separated concurrencies (default 16,64)")
    ap.add_argument("--wrk-threads", type=int, default=1,
                    help="wrk threads (default 1: the generator shares the 2 cores with the server)")
    ap.add_argument("--max-noise", type=float, default=10.0,
                    help="%% of all cores other processes may use during a measured run before it "
                         "is retried (default 10)")
    ap.add_argument("--retries", type=int, default=2,
                    help="extra attempts for a run noisier than --max-noise (default 2; the "
                         "quietest attempt is kept)")
    ap.add_argument("--wait-idle", type=float, default=60.0,
                    help="before each attempt wait up to this many seconds for background CPU "
                         "to fall under --max-noise (default 60; 0: do not wait)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the servers, wrk and our PostgreSQL backends at this nice value "
                         "(e.g. -10 on a machine others use too; root only below 0; default 0)")
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    ap.add_argument("--keep-workdir", action="store_true", help="keep server logs and configs")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="serve ours from the live tree instead of a copy of idp/ made at start")
    ap.add_argument("--table-from", type=Path, metavar="JSON",
                    help="print the table of a saved --json result and exit (runs nothing)")
    ap.add_argument("--matrix", action="store_true",
                    help="with --table-from: req/s only, one row per server, one column per "
                         "scenario/conns")
    args = ap.parse_args(argv)
    if args.table_from:
        saved = json.loads(args.table_from.read_text())
        add_ratios(saved["results"])
        print(matrix(saved["results"]) if args.matrix else table(saved["results"]))
        return 0

    duration = 3.0 if args.quick else float(round(args.duration))   # wrk counts whole seconds
    if not 1 <= duration <= MAX_DURATION:
        ap.error(f"--duration must be whole seconds in [1, {MAX_DURATION:g}]")
    args.warmup = float(round(args.warmup))
    if not 0 <= args.warmup <= 30:
        ap.error("--warmup must be whole seconds in [0, 30]")
    try:
        conns = [int(c) for c in args.conns.split(",")]
        assert conns and all(0 < c <= 1024 for c in conns)
    except (ValueError, AssertionError):
        ap.error("--conns: comma-separated integers in 1..1024")
    args.conns = conns
    if not (0 <= args.retries <= 10 and 0 <= args.wait_idle <= 600 and 0 < args.max_noise <= 100):
        ap.error("--retries 0..10, --wait-idle 0..600, --max-noise (0, 100]")
    policy = NoisePolicy(args.max_noise, args.retries, args.wait_idle)
    if not -20 <= args.nice <= 19:
        ap.error("--nice: -20..19")
    global NICE
    NICE = args.nice
    try:
        ours_servers = [parse_ours_server(s) for s in (args.ours_server or [DEFAULT_OURS_SERVER])]
    except ValueError as exc:
        ap.error(f"--ours-server: {exc}")
    if len({s.label for s in ours_servers}) != len(ours_servers):
        ap.error("--ours-server: the same configuration twice")
    args.ours_servers = [s.label for s in ours_servers]
    scenarios = [s for s in SCENARIOS if not args.only or s in args.only]

    if not shutil.which("wrk"):
        progress("setup failed: wrk not found; `apt-get install -y wrk` (bash bench/run.sh does it)")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="satuakun-bench-"))
    args.source = {"commit": None, "dirty": None, "snapshot": None}
    if args.server != "peer" and not args.no_snapshot:
        args.source = snapshot_source(workdir)
        progress(f"[setup] serving ours from a copy of idp/ at {args.source['commit']}"
                 f"{' + uncommitted changes' if args.source['dirty'] else ''}")
    targets: list[Target] = []
    plan: list[tuple[str, object]] = []        # (target name, starter)
    if args.server in ("ours", "both"):
        for i, srv in enumerate(ours_servers):
            name = "ours" if len(ours_servers) == 1 else f"ours[{srv.label}]"
            db_name = OURS_DB if i == 0 else f"{OURS_DB}_{i + 1}"
            plan.append((name, lambda srv=srv, db_name=db_name: start_ours(
                workdir, srv, db_name, documents=any(s in OURS_ONLY for s in scenarios))))
    if args.server in ("peer", "both"):
        plan.append(("peer", lambda: start_peer(workdir)))
    rows: list[dict] = []
    try:
        for name, starter in plan:
            progress(f"[setup] starting {name} ...")
            try:
                base_url, popen, creds = starter()
            except SetupError as exc:
                progress(f"setup failed: {exc}")
                return 2
            t = Target(name, base_url, popen, creds)
            targets.append(t)
            try:
                t.disc = discover(base_url)
                for key in ("jwks_uri", "userinfo_endpoint", "token_endpoint"):
                    if key not in t.disc:
                        raise SetupError(f"{name}: discovery has no {key}")
            except (requests.RequestException, ValueError, SetupError) as exc:
                progress(f"setup failed: {name}: discovery: {exc}")
                return 2
            progress(f"[setup] {name} ready at {base_url} (pid {popen.pid}), tokens obtained")
            if creds.get("docs_error"):
                progress(f"[warn] {name}: claims-documents* will fail: {creds['docs_error']}")

        total = len(scenarios) * len(conns) * len(targets)
        n = 0
        for scenario in scenarios:
            if scenario == "userinfo":
                # A fresh access token, so a long run never meets its 600 s expiry.
                for t in targets:
                    try:
                        t.creds["access_token"] = refresh_grant(t)["access_token"]
                    except (SetupError, requests.RequestException, ValueError) as exc:
                        progress(f"[warn] {t.name}: could not refresh the access token: {exc}")
            if scenario in OURS_ONLY:
                # Same for bench-docs' token (scope openid doc:kk); the peer is not loaded.
                for t in targets:
                    if "docs_refresh_token" in t.creds:
                        try:
                            t.creds["docs_access_token"] = refresh_docs_token(t)
                        except (SetupError, requests.RequestException, ValueError, KeyError) as exc:
                            progress(f"[warn] {t.name}: could not refresh the documents token: {exc}")
            for c in conns:
                for t in targets:
                    n += 1
                    progress(f"[{n}/{total}] {scenario:<13} {t.name} conns={c:<3} "
                             f"{duration:g}s ...")
                    if scenario in OURS_ONLY and t.name == "peer":
                        rows.append({"scenario": scenario, "server": t.name, "conns": c,
                                     "na": OURS_ONLY[scenario]})
                        progress(f"         n/a: {OURS_ONLY[scenario]}")
                        continue
                    if t.popen.poll() is not None:
                        row = {"scenario": scenario, "server": t.name, "conns": c,
                               "failed": f"server exited with {t.popen.returncode}"}
                    elif scenario in OURS_ONLY and "docs_endpoint" not in t.creds:
                        row = {"scenario": scenario, "server": t.name, "conns": c,
                               "failed": t.creds.get("docs_error", "no documents set-up")}
                    else:
                        row = measure(t, scenario, c, duration, args.warmup, args.wrk_threads,
                                      policy)
                    rows.append(row)
                    if "failed" in row:
                        progress(f"         FAILED: {row['failed']}")
                    else:
                        progress(f"         {row['rps']:.0f} req/s  p50 {row['p50_ms']:.2f} ms  "
                                 f"p99 {row['p99_ms']:.2f} ms  errors {row['errors']}  "
                                 f"rss {row['peak_rss_mib']:.0f} MiB  "
                                 f"bg cpu {row['bg_cpu_pct']:.0f}%")
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    finally:
        for t in targets:
            stop(t.popen)
        if args.keep_workdir:
            progress(f"[done] logs, configs and databases ({', '.join(CREATED_DBS) or 'none'}) "
                     f"kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            drop_created_dbs()

    add_ratios(rows)
    if args.json:
        print(json.dumps({"meta": meta(args, duration), "results": rows}, indent=2))
    else:
        print(table(rows))
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
