#!/usr/bin/env bash
# The project's test command (README, CI): installs the peers the tests drive, runs every
# test of the workspace on the embedded backend (local disk + SQLite), then the integration
# suites again with metadata on a throw-away PostgreSQL server, and closes with one summary
# line. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh

log=$(mktemp)
pgdir=$(mktemp -d -u /tmp/zoll-test-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir"; rm -f "$log"' EXIT
status=0

echo "== metadata: sqlite (embedded)"
cargo test --workspace --locked "$@" 2>&1 | tee -a "$log" || status=$?

echo "== metadata: postgres"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ZOLL_TEST_POSTGRES_URL
ZOLL_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir" "$port")
ZOLL_TEST_METADATA=postgres cargo test --locked -p zoll-registry -p zoll --test it "$@" 2>&1 \
  | tee -a "$log" || status=$?

awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
