#!/usr/bin/env python3
"""Helper for bench/registry-core.sh (standard library only).

  layout DIR MIB          write an OCI image layout tagged `bench` into DIR: one MIB MiB layer
                          (an uncompressed tar holding one file of random bytes, media type
                          application/vnd.oci.image.layer.v1.tar), one tiny tar layer, a config
  port                    print a free TCP port on 127.0.0.1
  wrk FILE                parse wrk output: print "REQ_PER_SEC NON_2XX_OR_3XX"
  rss PID                 print VmHWM (peak RSS) of PID in MiB
  median X...             print the median of the numbers
  table RESULTS           print the result table from a KEY=VALUE file
"""
import hashlib
import io
import json
import os
import re
import socket
import statistics
import sys
import tarfile

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


class RandomReader:
    """A file-like object of `size` random bytes, for tarfile.addfile."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        if n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return os.urandom(n)


class HashingWriter:
    def __init__(self, f):
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.size += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


def blob_path(layout, hexdigest):
    return os.path.join(layout, "blobs", "sha256", hexdigest)


def write_tar(layout, files):
    """files: [(name, size, reader)]. Returns an OCI descriptor of the uncompressed tar."""
    tmp = os.path.join(layout, "blobs", "sha256", ".tmp-layer")
    with open(tmp, "wb") as raw:
        w = HashingWriter(raw)
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
            for name, size, reader in files:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = size, 0o644, 0
                tar.addfile(ti, reader)
    digest = w.h.hexdigest()
    os.replace(tmp, blob_path(layout, digest))
    return {"mediaType": LAYER_TAR, "digest": "sha256:" + digest, "size": w.size}


def write_json_blob(layout, obj, media_type):
    data = json.dumps(obj, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(blob_path(layout, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def cmd_layout(layout, mib):
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    size = int(mib) << 20
    big = write_tar(layout, [("random.bin", size, RandomReader(size))])
    tiny_body = b"zoll bench tiny layer\n"
    tiny = write_tar(layout, [("etc/bench.txt", len(tiny_body), io.BytesIO(tiny_body))])
    layers = [big, tiny]
    config = write_json_blob(layout, {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        # Uncompressed layers: the diff ID is the layer digest.
        "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
    }, "application/vnd.oci.image.config.v1+json")
    manifest = write_json_blob(layout, {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    }, "application/vnd.oci.image.manifest.v1+json")
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "bench"}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(f"layout {layout}: layer {big['digest']} ({big['size']} bytes), "
          f"tiny {tiny['digest']} ({tiny['size']} bytes), manifest {manifest['digest']}")


def cmd_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_wrk(path):
    out = open(path).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        sys.exit(f"no Requests/sec in wrk output {path}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    print(m.group(1), bad.group(1) if bad else 0, "1" if errs else "0")


def cmd_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(f"{int(line.split()[1]) / 1024:.1f}")
                return
    sys.exit(f"no VmHWM for pid {pid}")


def cmd_median(*xs):
    print(f"{statistics.median(float(x) for x in xs):.3f}")


def cmd_table(path):
    r = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            r[k] = v

    def f(key):
        return float(r[key])

    rows = []

    s3 = "zoll_s3_push" in r

    def row(label, key, fmt, goal_text="", goal=None):
        z, d = f("zoll_" + key), f("registry_" + key)
        ratio = z / d if d else float("nan")
        verdict = ""
        if goal is not None:
            verdict = "met" if goal(ratio) else "NOT met"
        cells = [label, fmt.format(z), fmt.format(d), f"{ratio:.2f}"]
        if s3:
            zs = f("zoll_s3_" + key)
            cells += [fmt.format(zs), f"{zs / d if d else float('nan'):.2f}"]
        rows.append(tuple(cells + [f"{goal_text} {verdict}".strip()]))

    n = r.get("runs", "?")
    row(f"skopeo push, s (median of {n})", "push", "{:.3f}", "ratio <= 0.7", lambda x: x <= 0.7)
    row(f"skopeo pull, s (median of {n})", "pull", "{:.3f}", "ratio <= 0.7", lambda x: x <= 0.7)
    row("manifest GET, req/s (wrk)", "rps", "{:.0f}", "ratio >= 5", lambda x: x >= 5)
    row("peak RSS (VmHWM), MiB", "rss_mib", "{:.1f}")
    names = ("zoll", "registry", "zoll_s3") if s3 else ("zoll", "registry")
    for name in names:
        if int(r[name + "_non2xx"]) or int(r[name + "_sockerr"]):
            cells = list(rows[2])
            note = f" [{name}: {r[name + '_non2xx']} non-2xx/3xx"
            note += ", socket errors]" if int(r[name + "_sockerr"]) else "]"
            cells[-1] += note
            rows[2] = tuple(cells)

    header = ["metric", "zoll", "docker-registry", "ratio zoll/registry"]
    if s3:
        header += ["zoll S3+PostgreSQL", "ratio S3+PG/registry"]
    header = tuple(header + ["goal"])
    widths = [max(len(x[i]) for x in rows + [header]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for x in rows:
        print(line(x))
    print(f"\nindividual runs (s): zoll push {r['zoll_push_all']}, pull {r['zoll_pull_all']}; "
          f"docker-registry push {r['registry_push_all']}, pull {r['registry_pull_all']}")
    print(f"skopeo with no registry (oci: -> dir: under /tmp, what a pull costs skopeo alone; "
          f"a push costs it less, no file writes): "
          f"median {r['floor']} s ({r['floor_all']})")
    if s3:
        print(f"zoll on S3 (moto) + PostgreSQL: push {r['zoll_s3_push_all']}, pull {r['zoll_s3_pull_all']}")
    print(f"wrk non-2xx/3xx responses: zoll {r['zoll_non2xx']}, docker-registry {r['registry_non2xx']}")


if __name__ == "__main__":
    cmds = {"layout": cmd_layout, "port": cmd_port, "wrk": cmd_wrk, "rss": cmd_rss,
            "median": cmd_median, "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
