#!/usr/bin/env python3
"""zoll encrypt / decrypt vs skopeo (containers/ocicrypt) on the same OCI layout with one
random-data layer (BENCH_LAYER_MIB, default 200 MiB, gzip-stored), JWE to an RSA-2048 key.

Both tools read from and write to OCI layouts in the same directory; every run writes a
fresh destination. Decryption is measured on the same skopeo-encrypted image for both.
Prints a table of median wall-clock times (BENCH_RUNS, default 3), ratios and zoll's peak
RSS. Not a test: run it by hand.
"""
import json, hashlib, os, shutil, statistics, subprocess, sys, tempfile, time, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MIB = int(os.environ.get("BENCH_LAYER_MIB", "200"))


def sh(*args, **kw):
    subprocess.run(args, check=True, **kw)


def timed(args):
    """Wall time and peak RSS (MiB) of one command."""
    start = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode()
    if status != 0:
        sys.exit(f"{args[0]} failed: {err}")
    return elapsed, usage.ru_maxrss / 1024


def write_layout(d):
    blobs = os.path.join(d, "blobs", "sha256")
    os.makedirs(blobs)

    def blob(data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + h, "size": len(data)}

    # Random bytes in a gzip container with stored (uncompressed) blocks: a valid tar+gzip
    # blob as far as skopeo can tell, so it does not recompress it on the way.
    z = zlib.compressobj(0, zlib.DEFLATED, 31)
    layer = blob(z.compress(os.urandom(MIB << 20)) + z.flush())
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                              "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }).encode()
    m = blob(manifest)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)


def main():
    sh("bash", os.path.join(ROOT, "scripts/install-peers.sh"), cwd=ROOT, stdout=subprocess.DEVNULL)
    sh("cargo", "build", "--release", "--quiet", "-p", "zoll", cwd=ROOT)
    zoll = os.path.join(ROOT, "target/release/zoll")
    # Both tools on the same file system; tmpfs when it has room, so the disk (and zoll's
    # fdatasync before publishing) does not dominate on a shared machine.
    shm = "/dev/shm" if shutil.disk_usage("/dev/shm").free > (MIB << 20) * 8 else None
    work = tempfile.mkdtemp(prefix="zoll-bench-crypt-", dir=shm)
    try:
        key, pub = os.path.join(work, "key.pem"), os.path.join(work, "pub.pem")
        sh("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key,
           stderr=subprocess.DEVNULL)
        sh("openssl", "pkey", "-in", key, "-pubout", "-out", pub)
        plain = os.path.join(work, "plain")
        # In a child process, so this one stays small and forked children report their own
        # peak RSS.
        sh(sys.executable, __file__, "--write-layout", plain)
        enc = os.path.join(work, "enc")
        sh("skopeo", "copy", "--quiet", "--encryption-key", "jwe:" + pub, f"oci:{plain}:v1", f"oci:{enc}:v1")

        cmds = {
            ("encrypt", "zoll"): lambda out: [zoll, "encrypt", f"oci:{plain}:v1", f"oci:{out}:v1",
                                              "--recipient", "jwe:" + pub],
            ("encrypt", "skopeo"): lambda out: ["skopeo", "copy", "--quiet", "--encryption-key", "jwe:" + pub,
                                                f"oci:{plain}:v1", f"oci:{out}:v1"],
            ("decrypt", "zoll"): lambda out: [zoll, "decrypt", f"oci:{enc}:v1", f"oci:{out}:v1", "--key", key],
            ("decrypt", "skopeo"): lambda out: ["skopeo", "copy", "--quiet", "--decryption-key", key,
                                                f"oci:{enc}:v1", f"oci:{out}:v1"],
        }
        times = {k: [] for k in cmds}
        rss = {k: 0.0 for k in cmds}
        for i in range(RUNS):
            for k, cmd in cmds.items():
                out = os.path.join(work, f"out-{k[0]}-{k[1]}-{i}")
                t, r = timed(cmd(out))
                times[k].append(t)
                rss[k] = max(rss[k], r)
                shutil.rmtree(out)
        print(f"{MIB} MiB random-data layer, JWE RSA-2048, OCI layout to OCI layout in {work.rsplit('/', 1)[0]}, median of {RUNS}")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        print("| operation | zoll (s) | skopeo (s) | ratio | goal | zoll peak RSS (MiB) | skopeo peak RSS (MiB) |")
        print("|---|---|---|---|---|---|---|")
        for op in ("encrypt", "decrypt"):
            z, s = statistics.median(times[(op, "zoll")]), statistics.median(times[(op, "skopeo")])
            print(f"| {op} | {z:.3f} | {s:.3f} | {z / s:.2f} | ≤ 0.20 | {rss[(op, 'zoll')]:.1f} | {rss[(op, 'skopeo')]:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-layout":
        write_layout(sys.argv[2])
    else:
        main()
