# Peers of the encryption tests (crates/crypt): skopeo (installed by the core script) checks
# ocicrypt interoperability; SoftHSM2 is the HSM and OpenSC's pkcs11-tool makes its keys;
# openssl makes test keys and certificates; python3 runs the test key provider.
# Sourced by scripts/install-peers.sh; idempotent.
crypt_pkgs=()
command -v softhsm2-util >/dev/null 2>&1 || crypt_pkgs+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || crypt_pkgs+=(opensc)
command -v openssl >/dev/null 2>&1 || crypt_pkgs+=(openssl)
command -v python3 >/dev/null 2>&1 || crypt_pkgs+=(python3)
command -v gzip >/dev/null 2>&1 || crypt_pkgs+=(gzip)
if [ ${#crypt_pkgs[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${crypt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${crypt_pkgs[@]}" >/dev/null
fi
echo "install-peers: softhsm2 $(softhsm2-util --version), opensc $(dpkg-query -W -f='${Version}' opensc 2>/dev/null)"
unset crypt_pkgs
