#!/usr/bin/env bash
# Re-match of 1,000 stored SBOMs against a generated 100,000-advisory OSV database, without
# reading layers (what the registry does when the database changes). Goal: < 5 s.
# BENCH_SBOMS and BENCH_ADVISORIES change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
n_sboms="${BENCH_SBOMS:-1000}"
n_adv="${BENCH_ADVISORIES:-100000}"
rootfs="${BENCH_ROOTFS:-target/scan-fixtures/debian-bookworm-minbase}"
if [ ! -d "$rootfs" ]; then
  mkdir -p "$(dirname "$rootfs")"
  bash crates/scan/tests/rootfs/debian-minbase.sh "$rootfs"
fi
cargo build --release -q -p zoll
zoll="$PWD/target/release/zoll"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$zoll" scan "dir:$rootfs" --skip-db --format cyclonedx -o "$out/base.cdx.json"
python3 bench/scan-rematch-gen.py "$out/base.cdx.json" "$out" "$n_sboms" "$n_adv"
import_s=$( { /usr/bin/time -f "%e %M" "$zoll" db import --db "$out/osv.jsonl" "$out/osv.zip" >/dev/null; } 2>&1 | tail -1)
# Warm the page cache once, then measure.
"$zoll" db rematch --db "$out/osv.jsonl" "$out"/sboms/*.cdx.json >/dev/null
/usr/bin/time -f "%e %M" -o "$out/time" "$zoll" db rematch --db "$out/osv.jsonl" "$out"/sboms/*.cdx.json > "$out/rematch.txt"
read -r wall rss < "$out/time"
summary=$(tail -1 "$out/rematch.txt")
db_mb=$(du -m "$out/osv.jsonl" | cut -f1)
echo "re-match of $n_sboms stored SBOMs ($(grep -c '"purl"' "$out/base.cdx.json") components each) against $n_adv advisories"
printf "%-28s %s\n" "import (zip -> db)" "$(echo "$import_s" | awk '{printf "%.2f s, peak RSS %.0f MB", $1, $2/1024}') (db file ${db_mb} MB)"
printf "%-28s %s\n" "re-match wall" "$wall s (goal < 5 s: $(awk -v w="$wall" 'BEGIN{print (w < 5) ? "met" : "NOT met"}'))"
printf "%-28s %s\n" "re-match peak RSS" "$(awk -v r="$rss" 'BEGIN{printf "%.0f MB", r/1024}')"
printf "%-28s %s\n" "zoll's own summary" "$summary"
