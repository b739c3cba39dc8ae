#!/usr/bin/env python3
"""Registry-core benchmark: zoll against Debian's docker-registry (CNCF distribution 2.8.2).

Both servers run on loopback with fresh data directories and get the same generated image
(one 200 MiB random-data layer + one tiny layer). Measured in one run:
  - skopeo copy push and pull times (median of BENCH_RUNS, default 3), each run to a new
    repository with skopeo's blob-info cache cleared, so every run uploads the whole layer;
  - the same 200 MiB blob pushed and pulled with curl (the server's own share, without
    skopeo's digesting and file handling);
  - manifest GET requests/s with `wrk -t2 -c32 -d10s`;
  - peak RSS (VmHWM) of both servers.
Prints a table with zoll/docker-registry ratios. Not a CI test: run it by hand.

usage: python3 bench/registry_core.py
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER_MIB = int(os.environ.get("BENCH_LAYER_MIB", "200"))
SKOPEO_CACHES = [
    "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
    os.path.expanduser("~/.local/share/containers/cache/blob-info-cache-v1.boltdb"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on 127.0.0.1:{port}")


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def make_layout(layout):
    """An OCI layout tagged `bench`. Layers are gzip streams (stored blocks: random data does
    not compress) so that skopeo copies them as they are instead of compressing them."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    big = gzip.compress(os.urandom(LAYER_MIB << 20), compresslevel=0)
    tiny = gzip.compress(b"tiny layer\n" * 10, compresslevel=0)
    layers = [dict(write_blob(layout, x), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
              for x in (big, tiny)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(write_blob(layout, config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": layers,
    }
    top = write_blob(layout, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [dict(
        top, mediaType=manifest["mediaType"],
        annotations={"org.opencontainers.image.ref.name": "bench"})]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return layers[0]["digest"], os.path.join(layout, "blobs", "sha256", layers[0]["digest"][7:])


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url):
    out = subprocess.run(
        ["wrk", "-t2", "-c32", "-d10s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json", url],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def curl_push(port, repo, blob_digest, path):
    """POST then PUT with the whole body (monolithic), as a plain HTTP client would."""
    out = subprocess.run(["curl", "-si", "-X", "POST", f"http://127.0.0.1:{port}/v2/{repo}/blobs/uploads/"],
                         check=True, capture_output=True, text=True).stdout
    loc = re.search(r"(?im)^location:\s*(\S+)", out).group(1)
    if loc.startswith("/"):
        loc = f"http://127.0.0.1:{port}{loc}"
    sep = "&" if "?" in loc else "?"
    return timed(["curl", "-sf", "-X", "PUT", "-H", "Content-Type: application/octet-stream",
                  "--data-binary", f"@{path}", f"{loc}{sep}digest={blob_digest}"])


def bench(name, port, pid, layout, layer, layer_path, pull_root):
    pushes, pulls, raw_pushes, raw_pulls = [], [], [], []
    for run in range(1, RUNS + 1):
        for cache in SKOPEO_CACHES:
            if os.path.exists(cache):
                os.remove(cache)
        remote = f"docker://127.0.0.1:{port}/bench/run{run}:v1"
        pushes.append(timed(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                             f"oci:{layout}:bench", remote]))
        dest = os.path.join(pull_root, f"{name}-{run}")
        pulls.append(timed(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                            remote, f"dir:{dest}"]))
        shutil.rmtree(dest)
        raw_pushes.append(curl_push(port, f"raw/run{run}", layer, layer_path))
        raw_pulls.append(timed(["curl", "-sfL", "-o", "/dev/null",
                                f"http://127.0.0.1:{port}/v2/raw/run{run}/blobs/{layer}"]))
    rps, bad = wrk(f"http://127.0.0.1:{port}/v2/bench/run1/manifests/v1")
    return {
        "push": statistics.median(pushes), "pull": statistics.median(pulls),
        "raw_push": statistics.median(raw_pushes), "raw_pull": statistics.median(raw_pulls),
        "rps": rps, "non2xx": bad, "rss": peak_rss_mib(pid),
    }


def main():
    subprocess.run(["bash", os.path.join(ROOT, "scripts/install-peers.sh"), "--bench"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "zoll"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="zoll-bench-")
    # Pulls land on tmpfs when there is room, so the client's disk does not hide the servers.
    shm = "/dev/shm"
    pull_root = tempfile.mkdtemp(dir=shm if shutil.disk_usage(shm).free > (LAYER_MIB + 64) << 21 else work)
    procs = []
    try:
        layout = os.path.join(work, "layout")
        layer, layer_path = make_layout(layout)
        zport, rport = free_port(), free_port()
        zoll = subprocess.Popen(
            [os.path.join(ROOT, "target/release/zoll"), "serve", "--listen", f"127.0.0.1:{zport}",
             "--data", os.path.join(work, "zoll-data")],
            env=dict(os.environ, ZOLL_LOG="warn"), stderr=subprocess.DEVNULL)
        procs.append(zoll)
        config = os.path.join(work, "registry.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {work}/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{rport}
""")
        registry = subprocess.Popen(["docker-registry", "serve", config],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(registry)
        wait_for(zport)
        wait_for(rport)
        z = bench("zoll", zport, zoll.pid, layout, layer, layer_path, pull_root)
        r = bench("registry", rport, registry.pid, layout, layer, layer_path, pull_root)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pull_root, ignore_errors=True)

    rows = [
        ("skopeo push (s, median)", "push", "<= 0.7"),
        ("skopeo pull (s, median)", "pull", "<= 0.7"),
        ("curl blob PUT (s, median)", "raw_push", ""),
        ("curl blob GET (s, median)", "raw_pull", ""),
        ("manifest GET (req/s, wrk)", "rps", ">= 5"),
        ("peak RSS (MiB)", "rss", "< 64 MiB (zoll)"),
    ]
    print(f"\n{LAYER_MIB} MiB random layer + tiny layer, {RUNS} runs, pulls into {pull_root.split('/')[1]}")
    print(f"{'metric':28} {'zoll':>10} {'docker-registry':>16} {'ratio':>8}  goal")
    for label, key, goal in rows:
        ratio = z[key] / r[key] if r[key] else float("nan")
        print(f"{label:28} {z[key]:10.3f} {r[key]:16.3f} {ratio:8.2f}  {goal}")
    for name, res in (("zoll", z), ("docker-registry", r)):
        if res["non2xx"]:
            print(f"warning: {name} answered {res['non2xx']} non-2xx responses under wrk")


if __name__ == "__main__":
    main()
