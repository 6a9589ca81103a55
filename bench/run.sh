#!/usr/bin/env bash
# Install what bench/ needs (wrk from Debian, bench/peer's npm packages from its lock file),
# then run the benchmark. Every argument goes to run.py, e.g.:
#   bash bench/run.sh --quick --server peer
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "[run.sh] installing wrk (Debian package)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq wrk >/dev/null
fi

if [ ! -d bench/peer/node_modules/oidc-provider ] \
   || [ bench/peer/package-lock.json -nt bench/peer/node_modules/.package-lock.json ]; then
  echo "[run.sh] npm ci in bench/peer" >&2
  npm ci --prefix bench/peer --no-audit --no-fund >&2
fi

# bench/.venv: the other WSGI servers (--ours-server granian|bjoern|uwsgi|waitress) and py-spy.
if [ ! -x bench/.venv/bin/python ] || [ bench/requirements.txt -nt bench/.venv/.installed ]; then
  echo "[run.sh] creating bench/.venv from bench/requirements.txt" >&2
  if ! dpkg -s libev-dev >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libev-dev >/dev/null
  fi
  BASE_PY=.venv/bin/python; [ -x "$BASE_PY" ] || BASE_PY=python3
  "$BASE_PY" -m venv bench/.venv
  bench/.venv/bin/pip install -q -r bench/requirements.txt >&2
  touch bench/.venv/.installed
fi

PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" bench/run.py "$@"
