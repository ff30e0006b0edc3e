#!/usr/bin/env bash
# Install and run the whole test suite: static checks, then pytest twice —
#   1. SQLite + local folder store (the embedded default)
#   2. PostgreSQL + Ceph RGW with Object Lock (the production shape), both started here and stopped on exit.
# Extra arguments go to pytest (e.g. scripts/test.sh -k custody). Set EVAULT_TEST_ONLY=embedded|production
# to run one half.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

scripts/install-system-deps.sh --test
scripts/venv.sh --test

echo "== static checks: ruff, mypy --strict, import boundaries"
.venv/bin/ruff check vault ingest retention evault client tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports

only="${EVAULT_TEST_ONLY:-all}"
if [[ "$only" != "production" ]]; then
  echo "== pytest: SQLite + local folder store"
  env -u EVAULT_TEST_DATABASE_URL -u EVAULT_TEST_STORE -u EVAULT_TEST_S3_ENDPOINT .venv/bin/pytest "$@"
fi
[[ "$only" == "embedded" ]] && exit 0

work="$(mktemp -d /tmp/evault-test.XXXXXX)"
# mktemp makes the folder private to root, and the PostgreSQL server runs as the postgres user below it.
chmod 755 "$work"
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  scripts/ceph-rgw.sh stop "$work/rgw" >/dev/null 2>&1 || true
  scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting PostgreSQL and Ceph RGW"
# Assigned first: `eval "$(...)"` alone would swallow a failed start and quietly test on SQLite instead.
postgres_env="$(scripts/postgres.sh start "$work/pg" "$(free_port)")"
rgw_env="$(scripts/ceph-rgw.sh start "$work/rgw" "$(free_port)")"
eval "$postgres_env"
eval "$rgw_env"
: "${EVAULT_TEST_DATABASE_URL:?PostgreSQL did not report its URL}" "${EVAULT_TEST_S3_ENDPOINT:?RGW did not report its endpoint}"
export EVAULT_TEST_DATABASE_URL EVAULT_TEST_S3_ENDPOINT EVAULT_TEST_S3_ACCESS_KEY EVAULT_TEST_S3_SECRET_KEY

echo "== pytest: PostgreSQL + Ceph RGW (Object Lock)"
EVAULT_TEST_STORE=s3 .venv/bin/pytest "$@"
