#!/usr/bin/env bash
# Builds a four-layer OCI image layout in $1 from the Alpine root filesystem $2 (tag "v1"):
#   layer 0  the Alpine root filesystem (an uncompressed tar; the others are gzip)
#   layer 1  removes the sudo and scanelf packages the way apk does (rewritten database,
#            whiteouts for their files); adds a Python package and an npm package under opt/app
#   layer 2  deletes the Python package by whiteout; makes opt/app/node_modules opaque and adds a
#            different npm package there
#   layer 3  an unrelated file, so that the last layer touches no package
set -euo pipefail
out="$1"
base="$2"
work="$out.work"
rm -rf "$work" "$out.tmp" "$out"
mkdir -p "$work/l1" "$work/l2" "$work/l3"

# Layer 1.
mkdir -p "$work/l1/lib/apk/db" "$work/l1/usr/bin" "$work/l1/opt/app/site-packages/demo_pkg-1.0.dist-info" \
  "$work/l1/opt/app/node_modules/left-pad"
python3 - "$base/lib/apk/db/installed" "$work/l1/lib/apk/db/installed" <<'PY'
import sys
blocks = open(sys.argv[1]).read().split("\n\n")
keep = [b for b in blocks if not any(l in ("P:sudo", "P:scanelf") for l in b.splitlines())]
open(sys.argv[2], "w").write("\n\n".join(keep))
PY
for f in sudo scanelf; do : > "$work/l1/usr/bin/.wh.$f"; done
printf 'Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n\n' > "$work/l1/opt/app/site-packages/demo_pkg-1.0.dist-info/METADATA"
echo '{"name":"left-pad","version":"1.3.0","license":"WTFPL"}' > "$work/l1/opt/app/node_modules/left-pad/package.json"

# Layer 2.
mkdir -p "$work/l2/opt/app/site-packages" "$work/l2/opt/app/node_modules/is-odd"
: > "$work/l2/opt/app/site-packages/.wh.demo_pkg-1.0.dist-info"
: > "$work/l2/opt/app/node_modules/.wh..wh..opq"
echo '{"name":"is-odd","version":"3.0.1","license":"MIT"}' > "$work/l2/opt/app/node_modules/is-odd/package.json"

# Layer 3.
mkdir -p "$work/l3/etc"
echo "built by zoll's tests" > "$work/l3/etc/motd"

for i in 0 1 2 3; do
  src="$work/l$i"; [ "$i" = 0 ] && src="$base"
  tar --numeric-owner --owner=0 --group=0 -C "$src" -cf "$work/layer$i.tar" .
done

python3 - "$work" "$out.tmp" <<'PY'
import gzip, hashlib, json, os, sys
work, out = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
layers, diff_ids = [], []
for i in range(4):
    raw = open(f"{work}/layer{i}.tar", "rb").read()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    # The base layer stays an uncompressed tar (both layer media types are exercised).
    if i == 0:
        d, n = blob(raw)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})
        continue
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    d, n = blob(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "User": "root"},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created_by": "ADD alpine-rootfs.tar /"},
                {"created_by": "RUN apk del sudo scanelf && pip install demo-pkg && npm install left-pad"},
                {"created_by": "RUN pip uninstall -y demo-pkg && rm -rf /opt/app/node_modules && npm install is-odd"},
                {"created_by": "COPY motd /etc/motd"}],
}
cd, cn = blob(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": layers}
md, mn = blob(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
          open(f"{out}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{out}/oci-layout", "w"))
PY
rm -rf "$work"
mv "$out.tmp" "$out"
