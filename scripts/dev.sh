#!/usr/bin/env bash
# Development: SQLite, local keys, demo relying party and demo citizen.
#   provider:  http://127.0.0.1:5000      demo RP: http://127.0.0.1:5001
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export IDP_CONFIG=${IDP_CONFIG:-config.dev.toml}
.venv/bin/idp init --demo
.venv/bin/idp serve --port 5000 &
IDP_PID=$!
SATUAKUN_ISSUER=http://127.0.0.1:5000 .venv/bin/python clients/demo_rp/app.py &
RP_PID=$!
trap 'kill $IDP_PID $RP_PID 2>/dev/null || true' EXIT INT TERM
cat <<MSG

  SatuAkun is running.
  Open the demo service:  http://127.0.0.1:5001
  Demo citizen NIK:       3374014101900001
  Demo password:          Contoh-Sandi-Warga-2026
  (Ctrl-C stops both.)

MSG
wait
