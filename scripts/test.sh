#!/usr/bin/env bash
# The project's test command (README, CI): installs the peers the tests drive, starts a
# throw-away PostgreSQL and S3 API server (moto) on loopback, runs every test of the workspace
# on the embedded backend (local disk + SQLite; the tests of several replicas use
# PostgreSQL + S3 in any case), then the integration suites of the registry, the client and
# the binary again on PostgreSQL + S3, and closes with one summary line. Extra arguments go
# to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
# The fuzz targets have their own lock file and CI builds them with --locked after the
# tests: a dependency change that did not reach it fails here, in seconds, not at the end.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
# Console scripts of the PyPI peers (syft, pyspdxtools, ...) live here; pyenv shims for
# them only appear after a rehash, so do not depend on those.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

log=$(mktemp)
pgdir=$(mktemp -d -u /tmp/zoll-test-pg.XXXXXX)
s3dir=$(mktemp -d -u /tmp/zoll-test-s3.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir"; scripts/s3.sh stop "$s3dir"; rm -f "$log"' EXIT
status=0

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
export ZOLL_TEST_POSTGRES_URL ZOLL_TEST_S3_ENDPOINT
ZOLL_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir" "$(free_port)")
ZOLL_TEST_S3_ENDPOINT=$(scripts/s3.sh start "$s3dir" "$(free_port)")

# A full disk shows up as unrelated failures (a 500 on a manifest PUT, a broken pipe), so
# the log says how much room the run had.
{ df -h . "${TMPDIR:-/tmp}" 2>&1 || true; } | sed 's/^/disk: /'

echo "== backends: local disk + sqlite (embedded)"
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee -a "$log" || status=$?

echo "== backends: s3 + postgres"
ZOLL_TEST_METADATA=postgres ZOLL_TEST_BLOBS=s3 \
  cargo test --locked --no-fail-fast -p zoll-store -p zoll-registry -p zoll-client -p zoll -p zoll-policy -p zoll-approval \
    -p zoll-admission --test it "$@" 2>&1 \
  | tee -a "$log" || status=$?

{ df -h . "${TMPDIR:-/tmp}" 2>&1 || true; } | sed 's/^/disk: /'
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
