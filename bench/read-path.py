#!/usr/bin/env python3
"""Server-side blob I/O benchmark: zoll against Debian's docker-registry, with curl.

Not a test and not run in CI (bench/read-path.sh builds zoll and runs this). Standard library
only. For each server, in one run on 127.0.0.1:

  - a monolithic upload of a BENCH_READ_MIB MiB blob of random bytes (POST, then one PUT
    with the whole body and ?digest=), BENCH_RUNS times (the same blob again each time; the
    servers take turns; medians and the median of the per-round ratios reported);
  - GET of the whole blob by 1 and by 8 concurrent curl processes writing to /dev/null,
    BENCH_RUNS times each (median reported), after one untimed warm-up GET, so every server
    reads from the page cache;

wall time of each phase and the server's CPU seconds over it (utime + stime from
/proc/<pid>/stat, children included), and the server's peak RSS (VmHWM) after the reads.
The physical floor is measured the same way: the blob file served by `python3 -m
http.server` (CPU of that server) and `cat FILE > /dev/null` (CPU of cat).

Environment: ZOLL_BIN (required), BENCH_READ_MIB=1024, BENCH_RUNS=3, BENCH_KEEP=1 keeps the
temp directory, BENCH_ZOLL_ENV="K=V K=V" extra environment for zoll (e.g.
ZOLL_STORAGE_VERIFY_READS=false), BENCH_S3=1 adds zoll on PostgreSQL + S3 (scripts/postgres.sh,
scripts/s3.sh).
"""
import concurrent.futures
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = int(os.environ.get("BENCH_READ_MIB", "1024"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TICK = os.sysconf("SC_CLK_TCK")
REPO = "bench/io"


def log(*a):
    print("[read-path]", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of `pid`, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3; utime..cstime are fields 14..17.
    return sum(int(x) for x in fields[11:15]) / TICK


def thread_cpu_ns(pid):
    """{tid: nanoseconds on a CPU} of every live thread of `pid` (schedstat), exact where
    /proc/<pid>/stat counts in ticks of 10 ms."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except OSError:
            pass  # the thread ended
    return out


def cpu_ns_since(pid, before):
    """CPU seconds of `pid` since the `thread_cpu_ns` snapshot `before`. A thread that ended
    in between is not counted: threads end only after idling (tokio: 10 s, Go: never), so
    none of them ran in a window of a few seconds."""
    after = thread_cpu_ns(pid)
    return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(url, proc, name, log_path):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{name} exited during start-up; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} did not answer {url} within 30 s; see {log_path}")


def measured(pid, fn):
    """(wall seconds, server CPU seconds from /proc/<pid>/stat, the same from schedstat in
    nanoseconds) of fn()."""
    c0, n0, t0 = cpu_seconds(pid), thread_cpu_ns(pid), time.monotonic()
    fn()
    return time.monotonic() - t0, cpu_seconds(pid) - c0, cpu_ns_since(pid, n0)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--fail", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"curl {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def push(base, path, digest):
    out = curl("-X", "POST", "-D", "-", "-o", "/dev/null", f"{base}/v2/{REPO}/blobs/uploads/")
    location = next(
        line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if line.lower().startswith("location:")
    )
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    curl("-X", "PUT", "-H", "Content-Type: application/octet-stream",
         "-T", path, "-o", "/dev/null",
         f"{location}{sep}digest={digest}")


def get_many(url, n, size):
    """n concurrent curl GETs of url to /dev/null; each must deliver `size` bytes."""
    def one(_):
        got = curl("-o", "/dev/null", "-w", "%{size_download}", url)
        if int(got) != size:
            sys.exit(f"GET {url} delivered {got} bytes, not {size}")
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))


def bench_pushes(servers, blob, digest, result):
    """The same blob pushed RUNS times to every server (each a whole upload, verified and
    published again), the servers taking turns: a push's time depends on the disk's write-back,
    which drifts during a run, and taking turns exposes every server to the same drift. Also
    records the median of the per-round ratios to docker-registry."""
    pushes = {name: [] for name in servers}
    for _ in range(RUNS):
        for name, (base, p, _) in servers.items():
            # Untimed: write back what earlier steps left dirty. zoll fsyncs what it stores
            # before publishing, and on ext4 (data=ordered) that fsync would also wait for
            # other files' dirty pages: the blob file written just before the first push and
            # docker-registry's uploads (it never syncs). Each push pays for its own bytes.
            os.sync()
            pushes[name].append(measured(p.pid, lambda: push(base, blob, digest)))
    for name, runs in pushes.items():
        log(f"{name}: push of {MIB} MiB: "
            + ", ".join(f"{w:.2f} s/{c:.2f} cpu ({ns:.3f})" for w, c, ns in runs))
        result[f"{name}.push"] = (
            statistics.median(w for w, _, _ in runs),
            statistics.median(c for _, c, _ in runs),
        )
    ref = pushes["registry"]
    for name, runs in pushes.items():
        result[f"{name}.push.round_ratio"] = (
            statistics.median(w / rw for (w, _, _), (rw, _, _) in zip(runs, ref)),
            statistics.median(c / max(rc, 1e-9) for (_, c, _), (_, rc, _) in zip(runs, ref)),
        )


def bench_reads(name, base, pid, size, digest, result):
    url = f"{base}/v2/{REPO}/blobs/{digest}"
    get_many(url, 1, size)  # warm-up: page cache and connections
    for n in (1, 8):
        runs = [measured(pid, lambda: get_many(url, n, size)) for _ in range(RUNS)]
        log(f"{name}: GET x{n}: "
            + ", ".join(f"{w:.2f} s/{c:.2f} cpu ({ns:.3f})" for w, c, ns in runs))
        result[f"{name}.get{n}"] = (
            statistics.median(w for w, _, _ in runs),
            statistics.median(c for _, c, _ in runs),
        )
        result[f"{name}.get{n}.ns"] = statistics.median(ns for _, _, ns in runs)
    result[f"{name}.rss"] = peak_rss_mib(pid)


def floor(work, blob, size, result):
    # `python3 -m http.server` serving the blob file, read with curl like the registries.
    port = free_port()
    root = os.path.join(work, "plain")
    os.makedirs(root)
    os.link(blob, os.path.join(root, "blob"))
    srv = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/", srv, "http.server", "(no log)")
        url = f"http://127.0.0.1:{port}/blob"
        get_many(url, 1, size)
        for n in (1, 8):
            runs = [measured(srv.pid, lambda: get_many(url, n, size)) for _ in range(RUNS)]
            result[f"http.server.get{n}"] = (
                statistics.median(w for w, _, _ in runs),
                statistics.median(c for _, c, _ in runs),
            )
    finally:
        srv.terminate()
        srv.wait()

    def cat(n):
        # CPU of the cat processes (children of this one), wall for all n.
        t0 = time.monotonic()
        before = os.times()
        procs = [subprocess.Popen(["cat", blob], stdout=subprocess.DEVNULL) for _ in range(n)]
        for p in procs:
            p.wait()
        after = os.times()
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system)
        return time.monotonic() - t0, cpu
    for n in (1, 8):
        runs = [cat(n) for _ in range(RUNS)]
        result[f"cat.get{n}"] = (
            statistics.median(w for w, _ in runs),
            statistics.median(c for _, c in runs),
        )


def table(servers, result):
    ref = "registry"
    rows = [("push (1 PUT)", "push"), ("GET x1", "get1"), ("GET x8", "get8")]
    print()
    print(f"blob {MIB} MiB, median of {RUNS}; wall s / server CPU s; ratio = zoll / docker-registry")
    head = f"{'':14}" + "".join(f"{s:>22}" for s in servers) + f"{'http.server':>16}{'cat':>14}"
    print(head)
    for label, key in rows:
        line = f"{label:14}"
        for s in servers:
            w, c = result[f"{s}.{key}"]
            line += f"{w:>12.3f} /{c:>7.3f}"
            line += "  "
        for f in ("http.server", "cat"):
            if f"{f}.{key}" in result:
                w, c = result[f"{f}.{key}"]
                line += f"{w:>8.3f} /{c:>5.2f}"
            else:
                line += f"{'':>15}"
        print(line)
    print()
    print("ratios (wall, CPU):")
    for label, key in rows:
        rw, rc = result[f"{ref}.{key}"]
        parts = []
        for s in servers:
            if s == ref:
                continue
            w, c = result[f"{s}.{key}"]
            parts.append(f"{s} {w / rw:.2f}x / {c / max(rc, 1e-9):.2f}x")
        if key != "push":
            fw, fc = result[f"http.server.{key}"]
            zw, zc = result[f"zoll.{key}"]
            parts.append(f"zoll vs http.server {zw / fw:.2f}x / {zc / max(fc, 1e-9):.2f}x")
        print(f"  {label:14}" + "; ".join(parts))
    print("  push, median of the per-round ratios (the servers took turns): " + "; ".join(
        f"{s} {result[f'{s}.push.round_ratio'][0]:.2f}x / {result[f'{s}.push.round_ratio'][1]:.2f}x"
        for s in servers if s != ref))
    print("CPU ratios of the GETs from schedstat (ns, per thread; the table's ticks are 10 ms):")
    for label, key in rows[1:]:
        ref_ns = result[f"{ref}.{key}.ns"]
        print(f"  {label:14}" + "; ".join(
            f"{s} {result[f'{s}.{key}.ns']:.3f} s = {result[f'{s}.{key}.ns'] / ref_ns:.2f}x"
            for s in servers))
    print("peak RSS (VmHWM, MiB): " + ", ".join(f"{s} {result[f'{s}.rss']:.0f}" for s in servers))


def main():
    zoll_bin = os.environ.get("ZOLL_BIN") or sys.exit("ZOLL_BIN is required")
    for tool in ("curl", "docker-registry"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/install-peers.sh --bench installs it)")
    work = tempfile.mkdtemp(prefix="zoll-read-path.")
    os.chmod(work, 0o755)
    procs = []
    pg = s3 = None
    try:
        blob = os.path.join(work, "blob")
        log(f"writing {MIB} MiB of random bytes")
        h = hashlib.sha256()
        with open(blob, "wb") as f:
            for _ in range(MIB):
                b = os.urandom(1 << 20)
                h.update(b)
                f.write(b)
        digest, size = "sha256:" + h.hexdigest(), MIB << 20

        servers = {}
        zenv = dict(os.environ, ZOLL_SCAN_ON_PUSH="false")
        zenv.pop("ZOLL_LOG", None)
        for kv in os.environ.get("BENCH_ZOLL_ENV", "").split():
            k, v = kv.split("=", 1)
            zenv[k] = v

        def start_zoll(name, env):
            port = free_port()
            lg = os.path.join(work, f"{name}.log")
            p = subprocess.Popen(
                [zoll_bin, "serve", "--no-auth", "--listen", f"127.0.0.1:{port}",
                 "--data", os.path.join(work, f"{name}-data")],
                env=env, stdout=open(lg, "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            servers[name] = (f"http://127.0.0.1:{port}", p, lg)

        start_zoll("zoll", zenv)

        rport = free_port()
        cfg = os.path.join(work, "registry.yml")
        with open(cfg, "w") as f:
            f.write(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {work}/registry-data
http:
  addr: 127.0.0.1:{rport}
""")
        rlog = os.path.join(work, "registry.log")
        r = subprocess.Popen(["docker-registry", "serve", cfg],
                             stdout=open(rlog, "w"), stderr=subprocess.STDOUT)
        procs.append(r)
        servers["registry"] = (f"http://127.0.0.1:{rport}", r, rlog)

        if os.environ.get("BENCH_S3") == "1":
            pg = os.path.join(work, "pg")
            s3 = os.path.join(work, "s3")
            pg_url = subprocess.check_output(
                [f"{ROOT}/scripts/postgres.sh", "start", pg, str(free_port())], text=True).strip()
            s3_url = subprocess.check_output(
                [f"{ROOT}/scripts/s3.sh", "start", s3, str(free_port())], text=True).strip()
            curl("-X", "PUT", "-o", "/dev/null", f"{s3_url}/bench")
            senv = dict(zenv, ZOLL_METADATA_URL=pg_url, ZOLL_S3_BUCKET="bench",
                        ZOLL_S3_ENDPOINT=s3_url, ZOLL_S3_REGION="us-east-1",
                        ZOLL_S3_ACCESS_KEY_ID="bench", ZOLL_S3_SECRET_ACCESS_KEY="bench",
                        ZOLL_S3_PATH_STYLE="true", ZOLL_S3_DANGER_ALLOW_HTTP="true")
            start_zoll("zoll_s3", senv)

        for name, (base, p, lg) in servers.items():
            wait_ready(f"{base}/v2/", p, name, lg)
        result = {}
        bench_pushes(servers, blob, digest, result)
        for name, (base, p, _) in servers.items():
            bench_reads(name, base, p.pid, size, digest, result)
        log("floor: http.server and cat")
        floor(work, blob, size, result)
        table(list(servers), result)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if pg:
            subprocess.run([f"{ROOT}/scripts/postgres.sh", "stop", pg], capture_output=True)
        if s3:
            subprocess.run([f"{ROOT}/scripts/s3.sh", "stop", s3], capture_output=True)
        if os.environ.get("BENCH_KEEP") == "1":
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
