#!/usr/bin/env bash
# Signing and verification throughput: sign + push (Notation JWS and cosign bundle, file key
# and SoftHSM key, ECDSA P-256) against zoll and against Debian's docker-registry 2.8.2 (the
# peer), with the same client; then verifications per second. Prints a Markdown table.
# usage: bench/trust.sh [IMAGES] [CONCURRENCY]      (defaults 500 8)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/peers.d/trust.sh >/dev/null
n="${1:-500}"; c="${2:-8}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >"$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label bench --login --pin 1234 \
  --keypairgen --key-type EC:prime256v1 --label sign --id 01 >/dev/null
export ZOLL_BENCH_HSM_URI="pkcs11:token=bench;object=sign?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
cargo build -q --release -p zoll-trust --example trust_bench
echo "# zoll trust benchmark ($(nproc) cores, $(date -u +%F))"
./target/release/examples/trust_bench "$n" "$c"
