#!/usr/bin/env bash
# Builds a Debian bookworm minbase root filesystem into $1 with debootstrap, from the mirror
# apt on this machine already uses (read from /etc/apt), so no host name is written here.
set -euo pipefail
out="$1"
mirror="${ZOLL_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | head -1 | awk '{ print $2 }' || true)
fi
[ -n "$mirror" ] || { echo "debian-minbase.sh: no Debian mirror found in /etc/apt" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap missing: run scripts/install-peers.sh" >&2; exit 1; }
rm -rf "$out.tmp"
debootstrap --variant=minbase bookworm "$out.tmp" "$mirror" >"$out.log" 2>&1 \
  || { tail -20 "$out.log" >&2; exit 1; }
# Device nodes and proc mounts are not part of an image.
rm -rf "$out.tmp/dev"/* "$out.tmp/proc"/* "$out.tmp/sys"/* 2>/dev/null || true
rm -rf "$out"
mv "$out.tmp" "$out"
