"""Load-test SatuAkun ("ours") beside node-oidc-provider ("peer") on this machine.

    python bench/run.py [--server ours|peer|both] [--only SCENARIO] [--duration S | --quick]
                        [--conns 16,64] [--json]

Starts each server on a free 127.0.0.1 port, signs in through its pages to get an access and a
refresh token, then for every scenario and concurrency runs wrk (bench/wrk.lua) for a fixed
time while sampling the server process tree's RSS every 100 ms. Prints one table (or JSON with
--json). Progress goes to stderr. Exit 0 when every run completed, 1 when a scenario could not
be run, 2 on setup failure. See bench/README.md.

Every load loop here is bounded: wrk runs for --duration seconds (at most 300) and is killed if
it overruns; the only target is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
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

SCENARIOS = ("discovery", "jwks", "userinfo", "token-refresh", "token-cc")
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
OURS_SCOPE = "openid profile"          # scope bench-rp asks for at sign-in
OURS_SVC_SCOPE = "api"                 # scope bench-svc asks for with client_credentials
OURS_DB = "satuakun_bench"


def start_ours(workdir: Path) -> tuple[str, subprocess.Popen, dict]:
    """Start SatuAkun on a free 127.0.0.1 port and sign the bench citizen in.

    Contract (run.py relies on nothing else):
      * returns (base_url, popen, credentials)
        - base_url: the issuer; ``base_url + "/.well-known/openid-configuration"`` answers 200
        - popen: the server process (the gunicorn master, not a shell); its children are its
          workers. run.py samples RSS of this pid and all its descendants, and stops it with
          SIGTERM to its process group (so start it with start_new_session=True).
        - credentials: dict with
            rp_client_id, rp_client_secret     confidential client, client_secret_basic
            access_token, refresh_token        issued to that client for the bench citizen;
                                               the refresh token must be reusable (not rotated)
            svc_client_id, svc_client_secret   client_credentials client, client_secret_basic
            svc_scope                          scope to ask for with client_credentials
      * raises SetupError with a readable message on any failure (the caller stops popen).

    Steps: fresh PostgreSQL database; TOML config; `idp init`; `idp clients sync DIR`;
    `idp users create ... --password-stdin`; gunicorn -w 2; authorization code + PKCE sign-in
    through our own pages (bench/peer_flow.code_flow fills the login and consent forms).
    """
    venv = ROOT / ".venv" / "bin"
    for tool in ("idp", "gunicorn"):
        if not (venv / tool).exists():
            raise SetupError(f"ours: {venv / tool} not found (pip install -e . in .venv first)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    db_url = os.environ.get("BENCH_OURS_DATABASE_URL")
    if not db_url:
        for sql in (f"DROP DATABASE IF EXISTS {OURS_DB}", f"CREATE DATABASE {OURS_DB}"):
            _check_run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                        "-qc", sql], what=f"psql: {sql}")
        db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{OURS_DB}"

    keys_dir, clients_dir = workdir / "ours-keys", workdir / "ours-clients"
    keys_dir.mkdir(exist_ok=True)
    clients_dir.mkdir(exist_ok=True)
    config = workdir / "ours.toml"
    config.write_text(
        f'issuer = "{base_url}"\n'
        "debug = true\n"
        f'database_url = "{db_url}"\n'
        f'redis_url = "{os.environ.get("BENCH_OURS_REDIS_URL", "")}"\n'
        f'keys_dir = "{keys_dir}"\n'
        f'clients_dir = "{clients_dir}"\n'
        "access_token_ttl = 600\n"
        "id_token_ttl = 300\n"
        'id_token_signing_alg = "ES256"\n'
    )
    (clients_dir / "bench-rp.toml").write_text(
        'client_id = "bench-rp"\n'
        'client_secret = "bench-secret"\n'
        'token_endpoint_auth_method = "client_secret_basic"\n'
        'grant_types = ["authorization_code", "refresh_token"]\n'
        'response_types = ["code"]\n'
        'redirect_uris = ["http://127.0.0.1:9/cb"]\n'
        f'scope = "{OURS_SCOPE} email offline_access"\n'
        'id_token_signed_response_alg = "ES256"\n'
    )
    (clients_dir / "bench-svc.toml").write_text(
        'client_id = "bench-svc"\n'
        'client_secret = "bench-secret"\n'
        'token_endpoint_auth_method = "client_secret_basic"\n'
        'grant_types = ["client_credentials"]\n'
        "response_types = []\n"
        "redirect_uris = []\n"
        f'scope = "{OURS_SVC_SCOPE}"\n'
    )
    env = {**os.environ, "IDP_CONFIG": str(config)}
    idp = str(venv / "idp")
    _check_run([idp, "init"], env=env, what="idp init")
    _check_run([idp, "clients", "sync", str(clients_dir)], env=env, what="idp clients sync")
    _check_run([idp, "users", "create", "--nik", OURS_NIK, "--name", "Bench Citizen",
                "--birthdate", "1990-01-01", "--password-stdin"],
               env=env, input=OURS_PASSWORD + "\n", what="idp users create")

    log = open(workdir / "ours.log", "wb")
    popen = subprocess.Popen(
        [str(venv / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         *os.environ.get("BENCH_GUNICORN_ARGS", "").split(), "idp.wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        disc = wait_ready(base_url, popen, workdir / "ours.log")
        tokens = code_flow(disc, client_id="bench-rp", client_secret="bench-secret",
                           redirect_uri="http://127.0.0.1:9/cb", scope=OURS_SCOPE,
                           login=OURS_NIK, password=OURS_PASSWORD)
        if "refresh_token" not in tokens:
            raise SetupError(f"ours issued no refresh_token to bench-rp: {sorted(tokens)}")
    except (SetupError, FlowError, requests.RequestException) as exc:
        stop(popen)
        raise SetupError(f"ours: {exc}") from exc
    return base_url, popen, {
        "rp_client_id": "bench-rp", "rp_client_secret": "bench-secret",
        "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
        "svc_client_id": "bench-svc", "svc_client_secret": "bench-secret",
        "svc_scope": OURS_SVC_SCOPE,
    }


def _check_run(cmd: list[str], *, what: str, env=None, input: str | None = None) -> None:
    try:
        r = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True, timeout=120,
                           cwd=ROOT)
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
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
    raise ValueError(scenario)


def preflight(req: dict) -> tuple[bool, str]:
    """One request by hand: the scenario must answer 200 before it is loaded."""
    headers = {"Authorization": req["auth"]} if req.get("auth") else {}
    if req.get("body"):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        r = requests.request(req["method"], req["url"], data=req.get("body"), headers=headers,
                             timeout=10, allow_redirects=False)
    except requests.RequestException as exc:
        return False, str(exc)
    return r.status_code == 200, f"{r.status_code}: {r.text[:200]}"


def run_wrk(req: dict, conns: int, duration: float, threads: int) -> dict:
    env = {**os.environ, "BENCH_METHOD": req["method"], "BENCH_BODY": req.get("body", ""),
           "BENCH_AUTH": req.get("auth", "")}
    host = urlsplit(req["url"]).hostname
    if host != "127.0.0.1":
        raise SystemExit(f"refusing to load {req['url']}: only 127.0.0.1 is a target")
    cmd = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{duration:g}s", "--timeout", "5s",
           "-s", str(BENCH / "wrk.lua"), req["url"]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 30)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"wrk printed no result (exit {r.returncode}): {r.stdout[-400:]} {r.stderr[-400:]}")


def measure(t: Target, scenario: str, conns: int, duration: float, warmup: float,
            threads: int) -> dict:
    row = {"scenario": scenario, "server": t.name, "conns": conns}
    req = request_for(t, scenario)
    ok, why = preflight(req)
    if not ok:
        return {**row, "failed": f"preflight {req['method']} {req['url']} -> {why}"}
    if warmup > 0:
        run_wrk(req, conns, warmup, threads)
    sampler = RssSampler(t.popen.pid)
    sampler.start()
    try:
        w = run_wrk(req, conns, duration, threads)
    finally:
        peak = sampler.finish()
    secs = w["duration_us"] / 1e6
    socket_errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
    return {**row, "requests": w["requests"], "seconds": round(secs, 3),
            "rps": round(w["requests"] / secs, 1) if secs else 0.0,
            "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
            "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
            "errors": w["status"] + socket_errors, "non2xx": w["status"],
            "socket_errors": socket_errors, "peak_rss_mib": round(peak / 2**20, 1)}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def add_ratios(rows: list[dict]) -> None:
    by_key = {(r["scenario"], r["conns"], r["server"]): r for r in rows}
    for r in rows:
        if r["server"] != "ours":
            continue
        peer = by_key.get((r["scenario"], r["conns"], "peer"))
        if peer and r.get("rps") and peer.get("rps"):
            r["ratio_rps"] = round(r["rps"] / peer["rps"], 3)


def table(rows: list[dict]) -> str:
    head = ("scenario", "server", "conns", "req/s", "p50 ms", "p99 ms", "errors", "peak RSS MiB",
            "ours/peer")
    lines = [head]
    for r in rows:
        if "failed" in r:
            lines.append((r["scenario"], r["server"], str(r["conns"]), "FAILED", "", "", "", "",
                          r["failed"][:80]))
            continue
        lines.append((r["scenario"], r["server"], str(r["conns"]), f"{r['rps']:.0f}",
                      f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]),
                      f"{r['peak_rss_mib']:.1f}",
                      f"{r['ratio_rps']:.2f}" if "ratio_rps" in r else "-"))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head) - 1)]
    out = []
    for l in lines:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))]
        out.append("  ".join(cells + [l[-1]]).rstrip())
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
            "wrk_threads": args.wrk_threads, "cpus": os.cpu_count(),
            "python": platform.python_version(), "node": version(["node", "--version"]),
            "oidc_provider": op, "wrk": version(["wrk", "-v"]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("ours", "peer", "both"), default="both")
    ap.add_argument("--only", choices=SCENARIOS, action="append",
                    help="run only this scenario (repeatable)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 s per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    ap.add_argument("--conns", default="16,64", help="comma-separated concurrencies (default 16,64)")
    ap.add_argument("--wrk-threads", type=int, default=1,
                    help="wrk threads (default 1: the generator shares the 2 cores with the server)")
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    ap.add_argument("--keep-workdir", action="store_true", help="keep server logs and configs")
    args = ap.parse_args(argv)

    duration = 3.0 if args.quick else args.duration
    if not 0 < duration <= MAX_DURATION:
        ap.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if not 0 <= args.warmup <= 30:
        ap.error("--warmup must be in [0, 30]")
    try:
        conns = [int(c) for c in args.conns.split(",")]
        assert conns and all(0 < c <= 1024 for c in conns)
    except (ValueError, AssertionError):
        ap.error("--conns: comma-separated integers in 1..1024")
    args.conns = conns
    scenarios = [s for s in SCENARIOS if not args.only or s in args.only]

    if not shutil.which("wrk"):
        progress("setup failed: wrk not found; `apt-get install -y wrk` (bash bench/run.sh does it)")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="satuakun-bench-"))
    targets: list[Target] = []
    starters = {"ours": start_ours, "peer": start_peer}
    names = ["ours", "peer"] if args.server == "both" else [args.server]
    rows: list[dict] = []
    try:
        for name in names:
            progress(f"[setup] starting {name} ...")
            try:
                base_url, popen, creds = starters[name](workdir)
            except SetupError as exc:
                progress(f"setup failed: {exc}")
                return 2
            t = Target(name, base_url, popen, creds, log_path=workdir / f"{name}.log")
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
            for c in conns:
                for t in targets:
                    n += 1
                    progress(f"[{n}/{total}] {scenario:<13} {t.name:<4} conns={c:<3} "
                             f"{duration:g}s ...")
                    if t.popen.poll() is not None:
                        row = {"scenario": scenario, "server": t.name, "conns": c,
                               "failed": f"server exited with {t.popen.returncode}"}
                    else:
                        row = measure(t, scenario, c, duration, args.warmup, args.wrk_threads)
                    rows.append(row)
                    if "failed" in row:
                        progress(f"         FAILED: {row['failed']}")
                    else:
                        progress(f"         {row['rps']:.0f} req/s  p50 {row['p50_ms']:.2f} ms  "
                                 f"p99 {row['p99_ms']:.2f} ms  errors {row['errors']}  "
                                 f"rss {row['peak_rss_mib']:.0f} MiB")
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    finally:
        for t in targets:
            stop(t.popen)
        if args.keep_workdir:
            progress(f"[done] logs and configs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    add_ratios(rows)
    if args.json:
        print(json.dumps({"meta": meta(args, duration), "results": rows}, indent=2))
    else:
        print(table(rows))
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
