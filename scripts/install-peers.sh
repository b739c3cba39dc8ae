#!/usr/bin/env bash
# Installs the real peers the integration tests drive (skopeo, oras, docker-registry, wrk).
# Idempotent: skips what is already present. Runs as root on the CI machines; uses sudo otherwise.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_pkgs=()
command -v skopeo >/dev/null 2>&1 || apt_pkgs+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || apt_pkgs+=(docker-registry)
command -v wrk >/dev/null 2>&1 || apt_pkgs+=(wrk)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

if ! python3 -c "import oras" >/dev/null 2>&1; then
  echo "install-peers: pip install oras"
  python3 -m pip install -q oras
fi
echo "install-peers: skopeo $(skopeo --version | awk '{print $3}'), oras $(python3 -m pip show oras 2>/dev/null | awk '/^Version/{print $2}')"
