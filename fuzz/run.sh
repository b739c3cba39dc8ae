#!/usr/bin/env bash
# Runs the fuzz targets under AFL++ (Debian's afl++ with cargo-afl, stable Rust).
#   fuzz/run.sh --smoke [SECONDS]        every target briefly (CI; default 10 s each)
#   fuzz/run.sh --long SECONDS EXECS [TARGET...]
#                                        each target until SECONDS or EXECS, whichever first,
#                                        two at a time; then a table and minimized corpora in
#                                        fuzz/out/<target>/min (copy them to fuzz/seeds/)
# Exits 1 if any target found a crash or a hang; the inputs are in fuzz/out/<target>.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! command -v afl-fuzz >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends afl++ >/dev/null
fi
command -v cargo-afl >/dev/null || cargo install cargo-afl --locked --version 0.18.2 >/dev/null
cargo afl config --build >/dev/null 2>&1 || true

mode=${1:---smoke}
targets=()
case "$mode" in
  --smoke) secs=${2:-10}; execs=0 ;;
  --long) secs=${2:?seconds}; execs=${3:?executions}; shift 3; targets=("$@") ;;
  *) echo "usage: $0 --smoke [SECONDS] | --long SECONDS EXECS [TARGET...]" >&2; exit 2 ;;
esac
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi

cargo afl build --release --locked 2>&1 | grep -E '^(warning|error)' || true
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1
export AFL_SHUFFLE_QUEUE=0 AFL_FAST_CAL=1

fuzz_one() {
  local t=$1 out="out/$1"
  rm -rf "$out"
  mkdir -p "$out"
  local stop=(-V "$secs")
  if [ "$execs" != 0 ]; then stop+=(-E "$execs"); fi
  cargo afl fuzz -i "seeds/$t" -o "$out" "${stop[@]}" -m none -t 2000 -- "target/release/$t" \
    >"$out/log" 2>&1 || echo "$t: afl-fuzz exited $? (see fuzz/$out/log)" >&2
}

jobs_at_once=1
if [ "$mode" = --long ]; then jobs_at_once=${FUZZ_JOBS:-2}; fi
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_at_once" ]; do sleep 1; done
  fuzz_one "$t" &
done
wait

status=0
printf '%-18s %14s %10s %9s %8s %6s\n' target executions exec/s seconds crashes hangs
for t in "${targets[@]}"; do
  stats="out/$t/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    printf '%-18s did not run (fuzz/out/%s/log)\n' "$t" "$t"
    status=1
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  crashes=$(get saved_crashes)
  hangs=$(get saved_hangs)
  start=$(get start_time)
  last=$(get last_update)
  printf '%-18s %14s %10s %9s %8s %6s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" \
    "$((last - start))" "$crashes" "$hangs"
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then status=1; fi
  if [ "$mode" = --long ]; then
    cargo afl cmin -i "out/$t/default/queue" -o "out/$t/min" -- "target/release/$t" >/dev/null 2>&1 || true
  fi
done
exit "$status"
