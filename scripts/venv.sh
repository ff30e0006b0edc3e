#!/usr/bin/env bash
# Create .venv (if needed) and install the vault into it; `--test` adds the test extras.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Evidence Vault needs Python 3.11+")'
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q -e ./client -e '.[test]'
else
  .venv/bin/python -m pip install -q -e ./client -e .
fi
