#!/usr/bin/env bash
# A throw-away S3 API server for the tests (moto, from PyPI), on loopback only.
#   scripts/s3.sh start DIR PORT   -> prints the endpoint (http://127.0.0.1:PORT)
#   scripts/s3.sh stop DIR
# moto keeps everything in memory; the tests create a bucket of their own each.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?state directory}

case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    python3 -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 300); do
      if curl -sf -o /dev/null "http://127.0.0.1:$port/"; then
        echo "http://127.0.0.1:$port"
        exit 0
      fi
      sleep 0.1
    done
    echo "s3.sh: moto did not answer on 127.0.0.1:$port within 30 s; its log:" >&2
    cat "$dir/moto.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; fi
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
