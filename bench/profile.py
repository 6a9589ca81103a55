"""Profile SatuAkun's hot paths in-process: where the time of one request goes.

    .venv/bin/python bench/profile.py                          # 2000 requests per path, PostgreSQL
    .venv/bin/python bench/profile.py --only token-refresh --requests 5000 --top 25
    .venv/bin/python bench/profile.py --database sqlite        # no PostgreSQL needed
    .venv/bin/python bench/profile.py --dump /tmp/prof         # also writes PATH.prof (pstats)

Set-up is bench/run.py's: a fresh database (PostgreSQL `satuakun_bench_profile`, or a temp
SQLite file), config, bench clients and citizen through the `idp` CLI, then
``create_app()`` in this process and the real sign-in (authorization code + PKCE through the
login and consent pages) over a requests transport that calls the WSGI app directly, no
socket. Then, for each hot path:

  1. warm-up requests (not measured);
  2. N requests timed without a profiler -> mean µs per request in one thread, and the SQL
     statements each request sends (counted with a SQLAlchemy cursor event);
  3. N requests under cProfile -> the top functions by cumulative time, per request.

Each request is a prebuilt WSGI environ passed to ``app(environ, start_response)``: HTTP
parsing and the socket are the server's, not idp's, and are left out. Every response must be
200 or the script stops. Prints text (or --json). Exit 0 ok, 2 set-up failed.
"""

from __future__ import annotations

import os
import sys

# This file is named profile.py: keep bench/ off sys.path while the stdlib's `profile`
# (which cProfile imports) loads, else this script would shadow it.
_BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _BENCH]
import cProfile  # noqa: E402
import pstats  # noqa: E402

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from email.message import Message
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from peer_flow import FlowError  # noqa: E402
from run import (OURS_DB, OURS_SECRET, OURS_SVC_SCOPE, NoiseMeter, SetupError,  # noqa: E402
                 ours_sign_in, prepare_ours)

PATHS = ("token-refresh", "token-cc", "userinfo", "discovery", "jwks")


class WSGIAdapter(requests.adapters.BaseAdapter):
    """A requests transport that calls a WSGI app in this process (for the sign-in only)."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def send(self, request, **_kw):
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        u = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        env = EnvironBuilder(path=u.path, query_string=u.query, method=request.method,
                             base_url=f"{u.scheme}://{u.netloc}", headers=dict(request.headers),
                             data=body).get_environ()
        app_iter, status, headers = run_wsgi_app(self.app, env, buffered=True)
        msg = Message()
        for k, v in headers.items():
            msg[k] = v
        resp = requests.Response()
        resp.status_code = int(status.split()[0])
        resp.reason = status.split(" ", 1)[1] if " " in status else ""
        resp.headers = CaseInsensitiveDict(headers.items())
        resp._content = b"".join(app_iter)
        resp.url, resp.request, resp.encoding = request.url, request, "utf-8"
        # requests reads Set-Cookie (all of them) from raw._original_response.msg
        resp.raw = SimpleNamespace(_original_response=SimpleNamespace(msg=msg))
        return resp

    def close(self):
        pass


# --------------------------------------------------------------------------------------------
# --what-if: monkeypatched SIMULATIONS of changes suggested for idp/ (bench/README.md
# "Profile"), to estimate their gain before anyone writes them. They are not idp's behaviour,
# touch nothing on disk, and may stop matching idp/ as it changes (then they say so and exit).
# --------------------------------------------------------------------------------------------

def _wi_client_cache(app):
    """Registered clients kept in process memory (they change only with `idp clients sync`)."""
    from idp.extensions import db
    from idp.oidc import clients as clients_svc

    original = clients_svc.get_client
    cache: dict = {}

    def get_client(client_id):
        if isinstance(client_id, str) and client_id in cache:
            return cache[client_id]
        client = original(client_id)
        if client is not None:
            db.session.refresh(client)          # every column loaded before detaching
            db.session.expunge(client)
            cache[client_id] = client
        return client

    clients_svc.get_client = get_client
    app.extensions["idp_oauth_server"]._query_client = get_client


def _wi_no_pre_ping(app):
    """pool_pre_ping off (one round trip less per request; use pool_recycle instead)."""
    from idp.extensions import db
    with app.app_context():
        db.engine.pool._pre_ping = False


def _wi_async_commit(app):
    """synchronous_commit = off for the app's connections (no WAL flush wait per commit)."""
    from sqlalchemy import event
    from idp.extensions import db
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _set(dbapi_conn, _rec):
        with dbapi_conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        dbapi_conn.commit()
    engine.dispose()


WHAT_IF = {
    "client-cache": _wi_client_cache,
    "no-pre-ping": _wi_no_pre_ping,
    "async-commit": _wi_async_commit,
}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def environ_factory(base_url: str, disc: dict, tokens: dict, path: str):
    """A function returning a fresh WSGI environ for one request of ``path``."""
    from werkzeug.test import EnvironBuilder

    def url(u: str) -> str:
        return urlsplit(u).path

    if path == "discovery":
        spec = dict(path="/.well-known/openid-configuration", method="GET")
    elif path == "jwks":
        spec = dict(path=url(disc["jwks_uri"]), method="GET")
    elif path == "userinfo":
        spec = dict(path=url(disc["userinfo_endpoint"]), method="GET",
                    headers={"Authorization": "Bearer " + tokens["access_token"]})
    elif path == "token-refresh":
        spec = dict(path=url(disc["token_endpoint"]), method="POST",
                    headers={"Authorization": basic("bench-rp", OURS_SECRET)},
                    content_type="application/x-www-form-urlencoded",
                    data=urlencode({"grant_type": "refresh_token",
                                    "refresh_token": tokens["refresh_token"]}))
    elif path == "token-cc":
        spec = dict(path=url(disc["token_endpoint"]), method="POST",
                    headers={"Authorization": basic("bench-svc", OURS_SECRET)},
                    content_type="application/x-www-form-urlencoded",
                    data=urlencode({"grant_type": "client_credentials", "scope": OURS_SVC_SCOPE}))
    else:
        raise ValueError(path)
    spec["headers"] = {"User-Agent": "bench-profile", **spec.get("headers", {})}
    return lambda: EnvironBuilder(base_url=base_url, **spec).get_environ()


def call(app, environ) -> tuple[str, bytes]:
    out = {}

    def start_response(status, headers, exc_info=None):
        out["status"] = status
        return lambda data: None

    it = app(environ, start_response)
    try:
        body = b"".join(it)
    finally:
        if hasattr(it, "close"):
            it.close()
    return out["status"], body


def short(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin, e.g. <method 'execute' of 'psycopg...'>
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "lib/python3.":
                filename = "stdlib/" + filename.split("/", 1)[1]
            break
    return f"{filename}:{line}({name})"


def package_of(func: tuple) -> str:
    name = short(func)
    if name.startswith("<") or func[0] == "~":
        return "builtins (C: crypto, I/O, dict, ...)"
    if name.startswith("stdlib/"):
        return "stdlib"
    if name.startswith(("bench/", "profile.py")):
        return "harness"
    return name.split("/", 1)[0].split(":", 1)[0]


def profile_path(app, make_env, n: int, warmup: int, top: int,
                 dump: Path | None, name: str, sql_counter: dict) -> dict:
    for _ in range(warmup):
        status, body = call(app, make_env())
        if not status.startswith("200"):
            raise SetupError(f"{name}: {status}: {body[:300]!r}")
    # 1. wall time, no profiler
    envs = [make_env() for _ in range(n)]
    sql_counter["n"] = 0
    meter = NoiseMeter(None)
    meter.start()
    t0 = time.perf_counter()
    for env in envs:
        status, body = call(app, env)
        if not status.startswith("200"):
            raise SetupError(f"{name}: {status}: {body[:300]!r}")
    wall = time.perf_counter() - t0
    noise = meter.stop()
    statements = sql_counter["n"] / n
    # one request's SQL, for the report
    sql_counter["log"] = []
    call(app, make_env())
    sample_sql = sql_counter.pop("log")
    result = {"path": name, "requests": n, "wall_us_per_req": round(wall / n * 1e6, 1),
              "req_per_s_one_thread": round(n / wall, 1), "sql_statements_per_req": round(statements, 2),
              "bg_cpu_pct": noise, "sql_sample": sample_sql}
    if top <= 0:
        return {**result, "profiled_us_per_req": None}
    # 2. the same under cProfile
    envs = [make_env() for _ in range(n)]
    prof = cProfile.Profile()
    prof.enable()
    for env in envs:
        call(app, env)
    prof.disable()
    if dump:
        prof.dump_stats(str(dump / f"{name}.prof"))
    st = pstats.Stats(prof)
    total = st.total_tt

    def ranked(column: int, prefix: str = "") -> list[dict]:
        rows = []
        for func in sorted(st.stats, key=lambda k: st.stats[k][column], reverse=True):
            cc, nc, tt, ct, _callers = st.stats[func]
            if short(func).startswith(("bench/profile.py", "profile.py")):
                continue  # the harness itself (call, the loop)
            if not short(func).startswith(prefix):
                continue
            rows.append({"function": short(func), "calls_per_req": round(nc / n, 2),
                         "cum_us_per_req": round(ct / n * 1e6, 1),
                         "own_us_per_req": round(tt / n * 1e6, 1),
                         "cum_share": round(ct / total, 3) if total else 0,
                         "own_share": round(tt / total, 3) if total else 0})
            if len(rows) >= top:
                break
        return rows

    result["calls_per_req"] = round(st.total_calls / n)
    result["top_cumulative"] = ranked(3)
    result["top_own"] = ranked(2)
    result["top_idp"] = ranked(3, "idp/")
    # own time summed per package: which layer the request spends its time in
    packages: dict[str, float] = {}
    for func, (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        packages[package_of(func)] = packages.get(package_of(func), 0.0) + tt
    result["by_package"] = {k: round(v / n * 1e6, 1) for k, v in
                            sorted(packages.items(), key=lambda kv: -kv[1]) if v / n * 1e6 >= 1}
    return {**result, "profiled_us_per_req": round(total / n * 1e6, 1)}


def render(results: list[dict]) -> str:
    out = []
    for r in results:
        head = (f"== {r['path']}: {r['wall_us_per_req']:.0f} µs/request in-process "
                f"({r['req_per_s_one_thread']:.0f} req/s in one thread), "
                f"{r['sql_statements_per_req']:g} SQL statements/request, "
                f"other processes used {r['bg_cpu_pct']:.0f}% of the CPU meanwhile")
        if r.get("profiled_us_per_req") is not None:
            head += (f"; under cProfile {r['profiled_us_per_req']:.0f} µs, "
                     f"{r['calls_per_req']} Python calls/request")
        out.append(head)
        for i, s in enumerate(r["sql_sample"], 1):
            out.append(f"   sql {i}: {s}")
        if r.get("by_package"):
            total = sum(r["by_package"].values()) or 1
            out.append("   own time by package (µs/request): " + ", ".join(
                f"{k} {v:.0f} ({v / total * 100:.0f}%)" for k, v in list(r["by_package"].items())[:8]))
        for key, title in (("top_cumulative", "by cumulative time"), ("top_own", "by own time"),
                           ("top_idp", "idp/ functions by cumulative time")):
            if not r.get(key):
                continue
            out.append(f"   {'cum µs':>8} {'own µs':>8} {'cum %':>6} {'own %':>6} {'calls':>6}  "
                       f"function, per request, {title}")
            for row in r[key]:
                out.append(f"   {row['cum_us_per_req']:8.1f} {row['own_us_per_req']:8.1f} "
                           f"{row['cum_share'] * 100:5.1f}% {row['own_share'] * 100:5.1f}% "
                           f"{row['calls_per_req']:6g}  {row['function']}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=PATHS, action="append", help="profile only this path (repeatable)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per path and phase (default 2000)")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--top", type=int, default=10, help="functions to show per path (default 10)")
    ap.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--dump", type=Path, help="write <path>.prof files (pstats) into this directory")
    ap.add_argument("--what-if", action="append", default=[], choices=sorted(WHAT_IF),
                    help="simulate a suggested idp change by monkeypatching (repeatable; see "
                         "WHAT_IF in this file)")
    ap.add_argument("--no-profile", action="store_true",
                    help="timing and SQL counts only (skip the cProfile phase)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        ap.error("--requests: 1..100000")

    workdir = Path(tempfile.mkdtemp(prefix="satuakun-profile-"))
    try:
        if args.database == "sqlite":
            os.environ["BENCH_OURS_DATABASE_URL"] = f"sqlite:///{workdir / 'idp.sqlite3'}"
        try:
            base_url, env = prepare_ours(workdir, f"{OURS_DB}_profile")
        except SetupError as exc:
            print(f"set-up failed: {exc}", file=sys.stderr)
            return 2
        os.environ["IDP_CONFIG"] = env["IDP_CONFIG"]
        from sqlalchemy import event

        from idp import create_app
        from idp.extensions import db

        app = create_app()
        sql_counter: dict = {"n": 0}
        with app.app_context():
            engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, params, context, executemany):
            sql_counter["n"] += 1
            if "log" in sql_counter:
                sql_counter["log"].append(" ".join(statement.split())[:160])

        s = requests.Session()
        s.mount(base_url, WSGIAdapter(app))
        try:
            disc = s.get(base_url + "/.well-known/openid-configuration").json()
            tokens = ours_sign_in(disc, session=s)
        except (FlowError, ValueError) as exc:
            print(f"set-up failed: sign-in: {exc}", file=sys.stderr)
            return 2
        # what-ifs apply to the measured requests only, after the sign-in
        for name in args.what_if:
            try:
                WHAT_IF[name](app)
            except (AttributeError, KeyError, ImportError) as exc:
                print(f"--what-if {name} no longer matches idp/: {exc!r}", file=sys.stderr)
                return 2
            print(f"[what-if] {name}: {WHAT_IF[name].__doc__}", file=sys.stderr)
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
        results = []
        for path in [p for p in PATHS if not args.only or p in args.only]:
            print(f"[profile] {path} ...", file=sys.stderr, flush=True)
            make_env = environ_factory(base_url, disc, tokens, path)
            try:
                results.append(profile_path(app, make_env, args.requests, args.warmup,
                                            0 if args.no_profile else args.top,
                                            args.dump, path, sql_counter))
            except SetupError as exc:
                print(f"failed: {exc}", file=sys.stderr)
                return 2
        import subprocess
        head = subprocess.run(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        meta = {"database": args.database, "requests": args.requests,
                "python": sys.version.split()[0], "what_if": args.what_if, "idp_commit": head}
        if args.json:
            print(json.dumps({"meta": meta, "results": results}, indent=2))
        else:
            print(render(results))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        from run import drop_created_dbs
        try:
            from idp.extensions import db as _db
            with app.app_context():
                _db.engine.dispose()
        except Exception:  # noqa: BLE001 - app may not exist if set-up failed
            pass
        drop_created_dbs()


if __name__ == "__main__":
    sys.exit(main())
