#!/usr/bin/env bash
# Quick start: install and start the vault on its embedded defaults (SQLite + local folder store under
# EVAULT_HOME, default ./evault-data) at http://127.0.0.1:8000 (docs at /docs).
# Extra arguments go to `evault serve`, e.g. scripts/serve.sh --port 8080.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
scripts/install-system-deps.sh
scripts/venv.sh
.venv/bin/evault init
exec .venv/bin/evault serve "$@"
