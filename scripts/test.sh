#!/usr/bin/env bash
# The project's test command (README, CI): installs the peers the tests drive, then runs
# every test of the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
cargo test --workspace --locked "$@"
