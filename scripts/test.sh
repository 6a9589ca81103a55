#!/usr/bin/env bash
# The whole test suite. Installs what it needs: Python packages, headless Chromium and
# its driver (Debian packages), the interop test's npm packages, and starts PostgreSQL
# and Redis when they are installed but stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/services.sh
if [ -d tests/interop/node ] && [ -f tests/interop/node/package-lock.json ]; then
  if [ ! -d tests/interop/node/node_modules ]; then
    echo "== installing interop test packages (npm ci)"
    (cd tests/interop/node && npm ci --silent --no-audit --no-fund)
  fi
fi
echo "== running tests"
set +e
# One worker per core; a file's tests stay on one worker (module-scoped live servers).
.venv/bin/python -m pytest -n auto --dist loadfile "$@"
rc=$?
set -e
# pytest exit 5 = no tests collected: a failure for CI, not a silent pass.
exit $rc
