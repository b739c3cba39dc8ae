#!/usr/bin/env bash
# Admission webhook latency: p50/p99 of POST /admission/validate for a pod with three
# containers (three signed images), with the decision cache and without it, against a local
# release zoll (registry and webhook both the release binary). Not run in CI.
#   bench/admission.sh [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p zoll
cargo run --release --locked -q -p zoll-admission --example admission_bench -- \
  --zoll target/release/zoll "$@"
