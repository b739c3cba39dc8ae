# Peers of the governance tests (sourced by scripts/install-peers.sh): Apache's htpasswd
# (apache2-utils) makes the bcrypt hashes the htpasswd import reads. skopeo and oras-py
# (login, --creds) come from the main list.
command -v htpasswd >/dev/null 2>&1 || {
  echo "install-peers: apt-get install apache2-utils"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends apache2-utils >/dev/null
}
