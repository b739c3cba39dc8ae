#!/usr/bin/env bash
# Registry-core benchmark: zoll against Debian's docker-registry (CNCF distribution 2.8.2).
# Not a test and not run in CI: run it by hand, read the table.
#
#   bash bench/registry-core.sh
#
# Environment (all optional):
#   BENCH_RUNS=3                         push/pull runs per registry (medians are reported)
#   BENCH_LAYER_MIB=200                  size of the random-data layer
#   BENCH_WRK_DURATION=10s               wrk duration for the manifest GET test
#   BENCH_ZOLL_LOG=                      ZOLL_LOG filter for zoll (unset: zoll's default, info)
#   BENCH_SKOPEO_PUSH_ARGS=--preserve-digests
#                                        extra `skopeo copy` push flags; without
#                                        --preserve-digests skopeo gzips the uncompressed
#                                        layer on the fly (set to "" to measure that)
#   BENCH_SAME_LAYER=0                   1: every run pushes the same layer again (content the
#                                        registry already stores under another repository)
#                                        instead of a new random layer per run
#   BENCH_KEEP=1                         keep the temp dir (logs, wrk output) after the run
#   BENCH_S3=1                           also zoll on S3 (moto, in memory) + PostgreSQL, a
#                                        third column (0: leave it out)
#
# What it does: builds target/release/zoll, writes an OCI layout per run (one BENCH_LAYER_MIB
# MiB uncompressed tar layer of random bytes, one tiny tar layer, config, manifest; tag `bench`),
# starts zoll and docker-registry on 127.0.0.1 with fresh data directories, then per run and
# per registry times a skopeo push to a new repository and a skopeo pull of it into a fresh
# dir:, runs wrk against a manifest GET by tag, reads both servers' VmHWM and prints a table.
# Each skopeo call gets its own empty blob-info cache, so no run can cross-repository mount a
# blob an earlier run pushed: every push uploads the whole layer.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=(python3 "$ROOT/bench/registry-core-helper.py")
RUNS=${BENCH_RUNS:-3}
LAYER_MIB=${BENCH_LAYER_MIB:-200}
WRK_DURATION=${BENCH_WRK_DURATION:-10s}
PUSH_ARGS=${BENCH_SKOPEO_PUSH_ARGS---preserve-digests}
MANIFEST_TYPE=application/vnd.oci.image.manifest.v1+json

[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1 && RUNS <= 50)) || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
[[ $LAYER_MIB =~ ^[0-9]+$ ]] && ((LAYER_MIB >= 1 && LAYER_MIB <= 8192)) || { echo "BENCH_LAYER_MIB must be 1..8192" >&2; exit 2; }

log() { printf '[registry-core] %s\n' "$*" >&2; }

for tool in skopeo wrk docker-registry curl python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "$tool missing; installing peers"
    bash "$ROOT/scripts/install-peers.sh" --bench
    break
  fi
done

log "building zoll (release); this waits if another cargo holds the build lock"
(cd "$ROOT" && cargo build --release -p zoll)
ZOLL_BIN="$ROOT/target/release/zoll"

WORK=$(mktemp -d /tmp/zoll-bench.XXXXXX)
# PostgreSQL runs as its own user (scripts/postgres.sh) and must reach $WORK/pg.
chmod 755 "$WORK"
ZPID="" RPID="" SPID=""

stop() { # stop PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$ZPID"
  stop "$RPID"
  stop "$SPID"
  if [[ ${BENCH_S3:-1} == 1 ]]; then
    "$ROOT/scripts/postgres.sh" stop "$WORK/pg" 2>/dev/null || true
    "$ROOT/scripts/s3.sh" stop "$WORK/s3" 2>/dev/null || true
  fi
  if [[ ${BENCH_KEEP:-} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One layout per run, each with its own random layer, so every push brings new content (a
# registry that already stores a layer under another repository does other work: zoll
# replaces its copy, which is how a re-push heals damage; BENCH_SAME_LAYER=1 measures that).
layout() { if [[ ${BENCH_SAME_LAYER:-0} == 1 ]]; then echo "$WORK/layout-1"; else echo "$WORK/layout-$1"; fi; }
make_layout() { # k: generated before its run, removed after it
  [[ -d $(layout "$1") ]] && return 0
  log "generating OCI layout $1 (${LAYER_MIB} MiB random layer)"
  "${HELPER[@]}" layout "$(layout "$1")" "$LAYER_MIB" >&2
  skopeo inspect "oci:$(layout "$1"):bench" >/dev/null || { echo "skopeo rejects the generated layout" >&2; exit 1; }
}
make_layout 1

POLICY="$WORK/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POLICY"

ZPORT=$("${HELPER[@]}" port)
RPORT=$("${HELPER[@]}" port)
while [[ $RPORT == "$ZPORT" ]]; do RPORT=$("${HELPER[@]}" port); done

# zoll: defaults, plain HTTP on loopback.
if [[ -n ${BENCH_ZOLL_LOG:-} ]]; then export ZOLL_LOG=$BENCH_ZOLL_LOG; else unset ZOLL_LOG; fi
ZOLL_SCAN_ON_PUSH=false "$ZOLL_BIN" serve --no-auth --listen "127.0.0.1:$ZPORT" --data "$WORK/zoll-data" >"$WORK/zoll.log" 2>&1 &
ZPID=$!

# docker-registry: Debian's packaged config without auth, quieter logs, no access log.
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $WORK/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$RPORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
RPID=$!

wait_ready() { # name port pid
  local i
  for i in $(seq 150); do
    if ! kill -0 "$3" 2>/dev/null; then
      echo "$1 exited during start-up; its log:" >&2; cat "$WORK/$1.log" >&2; exit 1
    fi
    curl -sf -o /dev/null "http://127.0.0.1:$2/v2/" && return 0
    sleep 0.1
  done
  echo "$1 did not answer on 127.0.0.1:$2/v2/ within 15 s; its log:" >&2; cat "$WORK/$1.log" >&2; exit 1
}
wait_ready zoll "$ZPORT" "$ZPID"
wait_ready registry "$RPORT" "$RPID"

SERVERS=(zoll registry)
if [[ ${BENCH_S3:-1} == 1 ]]; then
  # zoll on shared backends: a throw-away PostgreSQL and moto (S3 API, in memory) on loopback.
  PG_URL=$("$ROOT/scripts/postgres.sh" start "$WORK/pg" "$("${HELPER[@]}" port)")
  S3_URL=$("$ROOT/scripts/s3.sh" start "$WORK/s3" "$("${HELPER[@]}" port)")
  curl -sf -X PUT -o /dev/null "$S3_URL/bench"
  SPORT=$("${HELPER[@]}" port)
  env ZOLL_METADATA_URL="$PG_URL" ZOLL_S3_BUCKET=bench ZOLL_S3_ENDPOINT="$S3_URL" \
    ZOLL_S3_REGION=us-east-1 ZOLL_S3_ACCESS_KEY_ID=bench ZOLL_S3_SECRET_ACCESS_KEY=bench \
    ZOLL_S3_PATH_STYLE=true ZOLL_S3_DANGER_ALLOW_HTTP=true \
    ZOLL_SCAN_ON_PUSH=false "$ZOLL_BIN" serve --no-auth --listen "127.0.0.1:$SPORT" --data "$WORK/zoll-s3-data" >"$WORK/zoll_s3.log" 2>&1 &
  SPID=$!
  wait_ready zoll_s3 "$SPORT" "$SPID"
  SERVERS+=(zoll_s3)
fi
declare -A PORT=([zoll]=$ZPORT [registry]=$RPORT [zoll_s3]=${SPORT:-})
declare -A PID=([zoll]=$ZPID [registry]=$RPID [zoll_s3]=$SPID)
log "zoll pid $ZPID on 127.0.0.1:$ZPORT, docker-registry pid $RPID on 127.0.0.1:$RPORT"

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }

# skopeo with a private, empty blob-info cache (XDG_DATA_HOME; _CONTAINERS_ROOTLESS_UID makes
# containers/image use it when running as root), so no earlier push can be mounted instead of
# uploaded.
SKOPEO_CACHE=""
skopeo_fresh() {
  SKOPEO_CACHE=$(mktemp -d "$WORK/skopeo-cache.XXXXXX")
  local uid
  uid=$(id -u)
  ((uid == 0)) && uid=65534
  env XDG_DATA_HOME="$SKOPEO_CACHE" _CONTAINERS_ROOTLESS_UID="$uid" \
    skopeo --policy "$POLICY" "$@"
}

RESULTS="$WORK/results.txt"
echo "runs=$RUNS" >"$RESULTS"
declare -A PUSH PULL
CACHE_WARNED=0

one_run() { # name port k
  local name=$1 port=$2 k=$3 ref t0 t1 t2 dest out
  ref="docker://127.0.0.1:$port/bench/img-run$k:run$k"
  out="$WORK/skopeo-$name-$k.log"
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086 # PUSH_ARGS is a flag list
  if ! skopeo_fresh copy -q $PUSH_ARGS --dest-tls-verify=false "oci:$(layout "$k"):bench" "$ref" >"$out" 2>&1; then
    echo "skopeo push to $name failed (run $k):" >&2; cat "$out" >&2; exit 1
  fi
  t1=$EPOCHREALTIME
  if [[ ! -s $SKOPEO_CACHE/containers/cache/blob-info-cache-v1.boltdb ]] && ((CACHE_WARNED == 0)); then
    log "WARNING: skopeo did not use the private blob-info cache; later runs may mount instead of upload"
    CACHE_WARNED=1
  fi
  dest="$WORK/pull-$name-$k"
  if ! skopeo_fresh copy -q --src-tls-verify=false "$ref" "dir:$dest" >"$out" 2>&1; then
    echo "skopeo pull from $name failed (run $k):" >&2; cat "$out" >&2; exit 1
  fi
  t2=$EPOCHREALTIME
  rm -rf "$dest"
  PUSH[$name]+="$(elapsed "$t0" "$t1") "
  PULL[$name]+="$(elapsed "$t1" "$t2") "
  log "run $k $name: push $(elapsed "$t0" "$t1") s, pull $(elapsed "$t1" "$t2") s"
}

# skopeo's own share: the same copy from the layout into dir: with no registry involved.
FLOOR=""
client_floor() { # k
  local t0 t1 dest="$WORK/floor-$1"
  t0=$EPOCHREALTIME
  skopeo_fresh copy -q --preserve-digests "oci:$(layout "$1"):bench" "dir:$dest" >/dev/null
  t1=$EPOCHREALTIME
  rm -rf "$dest"
  FLOOR+="$(elapsed "$t0" "$t1") "
}

# Runs alternate between the registries so drift (page cache, thermal) hits both alike.
for k in $(seq "$RUNS"); do
  make_layout "$k"
  for name in "${SERVERS[@]}"; do one_run "$name" "${PORT[$name]}" "$k"; done
  client_floor "$k"
  if [[ ${BENCH_SAME_LAYER:-0} != 1 ]] && ((k > 1)); then rm -rf "$(layout "$k")"; fi
done

manifest_bench() { # name port
  local name=$1 port=$2 url code
  url="http://127.0.0.1:$port/v2/bench/img-run1/manifests/run1"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $MANIFEST_TYPE" "$url")
  [[ $code == 200 ]] || log "WARNING: $name answers $code to GET $url"
  log "wrk -t2 -c32 -d$WRK_DURATION against $name"
  wrk -t2 -c32 -d"$WRK_DURATION" -H "Accept: $MANIFEST_TYPE" "$url" >"$WORK/wrk-$name.txt"
  read -r rps non2xx sockerr < <("${HELPER[@]}" wrk "$WORK/wrk-$name.txt")
  {
    echo "${name}_rps=$rps"
    echo "${name}_non2xx=$non2xx"
    echo "${name}_sockerr=$sockerr"
  } >>"$RESULTS"
}
for name in "${SERVERS[@]}"; do manifest_bench "$name" "${PORT[$name]}"; done

for name in "${SERVERS[@]}"; do
  # shellcheck disable=SC2086 # word-split the list of times
  {
    echo "${name}_push=$("${HELPER[@]}" median ${PUSH[$name]})"
    echo "${name}_pull=$("${HELPER[@]}" median ${PULL[$name]})"
    echo "${name}_push_all=${PUSH[$name]% }"
    echo "${name}_pull_all=${PULL[$name]% }"
  } >>"$RESULTS"
done
# shellcheck disable=SC2086
echo "floor=$("${HELPER[@]}" median $FLOOR)" >>"$RESULTS"
echo "floor_all=${FLOOR% }" >>"$RESULTS"
# Peak RSS over the whole run, read before the servers are stopped.
for name in "${SERVERS[@]}"; do
  echo "${name}_rss_mib=$("${HELPER[@]}" rss "${PID[$name]}")" >>"$RESULTS"
done

echo
echo "zoll vs docker-registry $(docker-registry --version | awk '{print $3}'): ${LAYER_MIB} MiB random layer ($([[ ${BENCH_SAME_LAYER:-0} == 1 ]] && echo "the same one every run" || echo "a new one every run")) + tiny layer," \
  "skopeo $(skopeo --version | awk '{print $3}') push flags '${PUSH_ARGS}', $RUNS runs, $(nproc) CPUs"
"${HELPER[@]}" table "$RESULTS"
echo "zoll log: $(wc -l <"$WORK/zoll.log") lines (ZOLL_LOG=${ZOLL_LOG:-default}); docker-registry log: $(wc -l <"$WORK/registry.log") lines"
