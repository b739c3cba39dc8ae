#!/usr/bin/env bash
# Installs the real peers the integration tests drive: skopeo (containers/image), oras-py,
# curl, openssl, Debian's docker-registry (CNCF distribution 2.8.2: a registry without the
# referrers API), PostgreSQL (the shared metadata backend) and moto (an S3 API server, from
# PyPI). With --bench, also wrk.
# Idempotent: skips what is already present. Root on CI machines; sudo otherwise.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

want=(skopeo:skopeo curl:curl openssl:openssl docker-registry:docker-registry groff:groff-base)
if [ "${1:-}" = "--bench" ]; then
  want+=(wrk:wrk)
fi
apt_pkgs=()
for pair in "${want[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || apt_pkgs+=("${pair#*:}")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

pip_pkgs=()
python3 -c "import oras" >/dev/null 2>&1 || pip_pkgs+=(oras)
# PyYAML reads what `zoll ... -o yaml` prints (a peer for our YAML).
python3 -c "import yaml" >/dev/null 2>&1 || pip_pkgs+=(pyyaml)
python3 -c "import moto.server, flask" >/dev/null 2>&1 || pip_pkgs+=("moto[server]")
if [ ${#pip_pkgs[@]} -gt 0 ]; then
  echo "install-peers: pip install ${pip_pkgs[*]}"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "${pip_pkgs[@]}"
fi
echo "install-peers: skopeo $(skopeo --version | awk '{print $3}'), oras-py $(python3 -c 'import oras.version as v; print(v.__version__)')"

# Each area adds the peers its own tests drive in scripts/peers.d/<area>.sh (sourced here, in
# name order), so that adding one never touches the others.
for extra in scripts/peers.d/*.sh; do
  [ -e "$extra" ] || continue
  # shellcheck source=/dev/null
  . "$extra"
done
