#!/usr/bin/env python3
"""Builds the starting corpus of every fuzz target in fuzz/seeds/<target>/ from real files:
the Debian system this runs on (dpkg status, os-release, a Java archive, an ELF binary,
Python and npm package metadata), an rpm database written by rpm itself
(crates/scan/tests/rootfs/rpm.sh), the Notary Project's test vectors (../shared/vectors),
the project's own fixtures (OSV records, AdmissionReviews, policies), and wraps, envelopes
and tokens made by the `zoll` binary and openssl. The committed seeds are what afl-cmin kept
of these after the long runs (`run.sh`); this script says where they came from.

Usage: python3 fuzz/make_seeds.py [OUT]   (needs target/debug/zoll: cargo build -p zoll)
"""

import base64
import glob
import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "seeds")
ZOLL = os.path.join(ROOT, "target", "debug", "zoll")
KEYS = os.path.join(ROOT, "fuzz", "keys")
MAX = 64 * 1024  # AFL works best on small inputs


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data[:MAX] if target not in ("scan_layer", "scan_packages") else data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw).stdout


def stanzas(path, n):
    text = read(path).decode("utf-8", "replace")
    return "\n\n".join(text.split("\n\n")[:n]) + "\n"


def tar_of(files, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        wh = tarfile.TarInfo("usr/share/doc/.wh.gone")
        t.addfile(wh, io.BytesIO(b""))
        link = tarfile.TarInfo("usr/bin/alias")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../bin/true"
        t.addfile(link)
    data = buf.getvalue()
    return gzip.compress(data) if gz else data


def oci_layout(dir_, layer):
    """A one-layer OCI layout for `zoll encrypt`."""
    blobs = os.path.join(dir_, "blobs", "sha256")
    os.makedirs(blobs)

    def blob(data):
        import hashlib

        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + h, "size": len(data)}

    cfg = blob(b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    lay = blob(layer)
    m = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **lay}],
    }).encode()
    md = blob(m)
    with open(os.path.join(dir_, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(dir_, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **md,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)
    return m


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    vectors = os.path.join(ROOT, "..", "shared", "vectors", "notation")

    # Manifests: real ones from the Notary vectors' layout and what the tests push.
    layout = os.path.join(vectors, "oci-layout")
    for i, p in enumerate([os.path.join(layout, "manifest.json"), os.path.join(layout, "index.json")]
                          + sorted(glob.glob(os.path.join(layout, "blobs", "sha256", "*")))):
        data = read(p)
        if data.lstrip().startswith(b"{") and b"schemaVersion" in data:
            put("oci_manifest", f"notation-{i}", data)
    put("oci_manifest", "index", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7,
                       "digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "arm64"}}]}))
    put("oci_names", "names", "library/ubuntu\nteam/app/sub-1.x\nv1.2.3-rc_1\nsha256:" + "b" * 64
        + "\nsha512:" + "c" * 128 + "\nUPPER\na//b\n")

    put("registry_request", "range", "/v2/team/app/blobs/sha256:" + "d" * 64
        + "\nBasic YWRtaW46cGFzc3dvcmQ=\nbytes=0-99\nbytes 100-199/*\n100\n")
    put("registry_request", "upload", "/v2/a/b/blobs/uploads/0123abcd\nBearer x.y.z\nbytes=-500\n0-1023\n1024\n")

    # Notary envelopes.
    put("trust_jws", "jws", read(os.path.join(vectors, "envelopes", "jws_signature.sig")))
    put("trust_cose", "cose", read(os.path.join(vectors, "envelopes", "cose_signature.sig")))

    # Keys and certificates in every encoding the parsers take.
    ec, rsa, crt = (os.path.join(KEYS, n) for n in ("ec.pem", "rsa.pem", "rsa.crt"))
    keys = {
        "ec-pkcs8.pem": read(ec),
        "rsa-pkcs8.pem": read(rsa),
        "rsa.crt": read(crt),
        "rsa-pkcs1.pem": run("openssl", "rsa", "-in", rsa, "-traditional"),
        "ec-sec1.pem": run("openssl", "ec", "-in", ec),
        "ec-enc.pem": run("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", ec, "-passout", "pass:password"),
        "crt.der": run("openssl", "x509", "-in", crt, "-outform", "DER"),
        "ec.pub": read(os.path.join(KEYS, "ec.pub")),
        "pkcs11-keyfile.yaml": b"pkcs11:\n  uri: pkcs11:token=t;object=k;type=private?module-name=softhsm2&pin-value=1234\nmodule:\n  env:\n    SOFTHSM2_CONF: /etc/softhsm2.conf\n",
        "pkcs11-uri.txt": b"pkcs11:token=My%20Token;object=k;id=%01%a2;type=private;slot-id=0;library-version=2.6?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:///run/pin&x-vendor=1",
    }
    for name, data in keys.items():
        put("pkcs11_specs" if name.startswith("pkcs11") else "der_keys", name, data)
    # An ECDSA P-256 signature in DER (r and s with the high bit set, so both carry a zero).
    put("der_keys", "ecdsa-p256.sig", bytes([0x30, 0x46, 0x02, 0x21, 0x00]) + b"\x91" * 32
        + bytes([0x02, 0x21, 0x00]) + b"\xa2" * 32)

    # DSSE: an in-toto statement in an envelope as `zoll attest` writes them.
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "subject": [{"name": "app", "digest": {"sha256": "e" * 64}}],
                            "predicateType": "https://spdx.dev/Document", "predicate": {"spdxVersion": "SPDX-2.3"}}).encode()
    put("trust_dsse", "envelope", json.dumps({"payloadType": "application/vnd.in-toto+json",
        "payload": base64.b64encode(statement).decode(), "signatures": [{"keyid": "", "sig": base64.b64encode(b"x" * 64).decode()}]}))
    put("trust_dsse", "statement", statement)

    # Layers from real system files.
    site = glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/*.dist-info/METADATA") + \
        glob.glob("/usr/lib/python3/dist-packages/*.dist-info/METADATA")
    files = {
        "etc/os-release": read("/etc/os-release"),
        "var/lib/dpkg/status": stanzas("/var/lib/dpkg/status", 6).encode(),
    }
    if site:
        files["usr/lib/python3/site-packages/pkg-1.0.dist-info/METADATA"] = read(site[0])[:4096]
    npm = glob.glob("/usr/lib/node_modules/npm/package.json") + glob.glob("/usr/share/nodejs/*/package.json")
    if npm:
        files["usr/lib/node_modules/npm/package.json"] = read(npm[0])
    put("scan_layer", "debian.tar", tar_of(files))
    put("scan_layer", "debian.tar.gz", tar_of(files, gz=True))
    put("scan_packages", "dpkg", b"\x00" + files["var/lib/dpkg/status"])
    put("scan_packages", "apk", b"\x02" + b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox\nV:1.36.1-r5\no:busybox\n\n")
    if site:
        put("scan_packages", "python", b"\x03" + read(site[0])[:4096])
    if npm:
        put("scan_packages", "npm", b"\x04" + read(npm[0]))
    put("scan_packages", "elf", b"\x06" + read("/usr/bin/true"))
    jars = sorted(glob.glob("/usr/share/java/*.jar"), key=os.path.getsize)
    if jars:
        put("scan_packages", "jar", b"\x07" + read(jars[0]))
    put("scan_packages", "os-release", b"\x08" + read("/etc/os-release"))

    # rpm headers as rpm itself writes them into rpmdb.sqlite.
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["bash", os.path.join(ROOT, "crates", "scan", "tests", "rootfs", "rpm.sh"), os.path.join(d, "root")],
                       check=True, capture_output=True)
        db = sqlite3.connect(os.path.join(d, "root", "var", "lib", "rpm", "rpmdb.sqlite"))
        for i, (blob,) in enumerate(db.execute("SELECT blob FROM Packages LIMIT 4")):
            put("scan_rpm_header", f"header-{i}", blob)

    # OSV records, a VEX document, an allowlist, a CycloneDX SBOM zoll writes.
    for p in sorted(glob.glob(os.path.join(ROOT, "crates", "scan", "tests", "fixtures", "osv", "*.json"))):
        put("scan_osv", os.path.basename(p), read(p))
    put("scan_osv", "allowlist.toml", '[[allow]]\nid = "CVE-2024-1234"\npackage = "openssl"\nreason = "r"\nauthor = "a@example.com"\nexpires = "2099-12-31"\n')
    put("scan_osv", "openvex.json", json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "x", "author": "a",
        "timestamp": "2024-01-01T00:00:00Z", "version": 1, "statements": [{"vulnerability": {"name": "CVE-2024-1234"},
        "products": [{"@id": "pkg:deb/debian/openssl@3.0.0"}], "status": "not_affected", "justification": "component_not_present"}]}))
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        for name, data in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        put("scan_osv", "sbom.cdx.json", run(ZOLL, "scan", "dir:" + root, "--skip-db", "--format", "cyclonedx"))

    # Key wraps made by `zoll encrypt` (the formats skopeo reads).
    with tempfile.TemporaryDirectory() as d:
        oci_layout(os.path.join(d, "plain"), tar_of(files, gz=True))
        run(ZOLL, "encrypt", f"oci:{d}/plain:v1", f"oci:{d}/enc:v1",
            "--recipient", "jwe:" + os.path.join(KEYS, "ec.pub"),
            "--recipient", "jwe:" + os.path.join(KEYS, "rsa.pub"),
            "--recipient", "pkcs7:" + crt)
        put("oci_manifest", "encrypted", read(os.path.join(d, "plain", "index.json")))
        index = json.load(open(os.path.join(d, "enc", "index.json")))
        digest = index["manifests"][0]["digest"].split(":")[1]
        raw = read(os.path.join(d, "enc", "blobs", "sha256", digest))
        put("oci_manifest", "encrypted-manifest", raw)
        manifest = json.loads(raw)
        notes = manifest["layers"][0]["annotations"]
        for kind, target in (("jwe", "crypt_jwe"), ("pkcs7", "crypt_pkcs7")):
            for i, part in enumerate(notes["org.opencontainers.image.enc.keys." + kind].split(",")):
                put(target, f"{kind}-{i}", base64.b64decode(part))

    # Tokens from a real `zoll serve`.
    put("registry_token", "token", "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0."
        + base64.urlsafe_b64encode(json.dumps({"iss": "zoll", "sub": "admin", "aud": "zoll-registry", "exp": 1900000000,
          "nbf": 1, "iat": 1, "jti": "j", "access": [{"type": "repository", "name": "a/b", "actions": ["pull"]}]}).encode()).decode().rstrip("=")
        + "." + base64.urlsafe_b64encode(b"s" * 64).decode().rstrip("="))

    # AdmissionReviews and policies from the project's fixtures and docs.
    for p in sorted(glob.glob(os.path.join(ROOT, "crates", "admission", "tests", "fixtures", "*.json"))):
        obj = json.load(open(p))
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u", "kind": {"group": "apps" if obj.get("apiVersion", "").startswith("apps") else
                                 ("batch" if obj.get("apiVersion", "").startswith("batch") else ""),
                                 "version": "v1", "kind": obj.get("kind", "Pod")},
            "namespace": "default", "operation": "CREATE", "object": obj}}
        put("admission_review", os.path.basename(p), json.dumps(review))
    doc = read(os.path.join(ROOT, "docs", "policy.md")).decode()
    start = doc.index("```toml\nversion = 1")
    put("policy_toml", "docs-example.toml", doc[start + 8:doc.index("```", start + 8)])
    for p in sorted(glob.glob(os.path.join(ROOT, "crates", "policy", "tests", "**", "*.toml"), recursive=True))[:8]:
        put("policy_toml", os.path.basename(p), read(p))


if __name__ == "__main__":
    main()
