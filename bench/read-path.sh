#!/usr/bin/env bash
# Read-path benchmark: zoll's blob GET/PUT against Debian's docker-registry, measured with curl
# on the server side (wall time and server CPU), plus the page-cache floor. Not a test and not
# run in CI: run it by hand, read the table.
#
#   bash bench/read-path.sh
#
# Environment (all optional): BENCH_READ_MIB=1024, BENCH_RUNS=3, BENCH_S3=1 (adds zoll on
# S3 + PostgreSQL), BENCH_ZOLL_ENV="ZOLL_STORAGE_VERIFY_READS=false" (extra zoll environment),
# BENCH_KEEP=1 (keep the temp dir). See bench/read-path.py for what is measured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v docker-registry >/dev/null || bash "$ROOT/scripts/install-peers.sh" --bench
(cd "$ROOT" && cargo build --release -p zoll)
ZOLL_BIN="$ROOT/target/release/zoll" exec python3 "$ROOT/bench/read-path.py"
