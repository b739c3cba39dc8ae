# Peers for crates/trust (signing and verification), sourced by scripts/install-peers.sh.
# - softhsm2 + opensc: a real PKCS#11 token (libsofthsm2.so) and pkcs11-tool for the HSM tests;
# - openssl: verifies cosign simple-signing signatures with the public key;
# - docker-registry: CNCF distribution 2.8.2, a registry without the referrers API;
# - npm @sigstore/verify (+ @sigstore/bundle, @sigstore/core), installed into the project-local
#   directory .peers/trust-node (gitignored): verifies zoll's cosign bundles v0.3;
# - PyPI securesystemslib: verifies zoll's DSSE envelopes; pynacl (with pyca/cryptography from
#   securesystemslib[crypto]) writes cosign-encrypted keys independently of zoll.
# Idempotent: skips what is present.
_trust_apt=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || _trust_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || _trust_apt+=(opensc)
command -v openssl >/dev/null 2>&1 || _trust_apt+=(openssl)
command -v docker-registry >/dev/null 2>&1 || _trust_apt+=(docker-registry)
command -v node >/dev/null 2>&1 || _trust_apt+=(nodejs npm)
if [ ${#_trust_apt[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${_trust_apt[*]}"
  ${SUDO:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${_trust_apt[@]}" >/dev/null
fi
unset _trust_apt

_trust_node_dir="$(pwd)/.peers/trust-node"
if [ ! -e "$_trust_node_dir/node_modules/@sigstore/verify/package.json" ]; then
  echo "install-peers: npm install @sigstore/verify into .peers/trust-node"
  mkdir -p "$_trust_node_dir"
  [ -e "$_trust_node_dir/package.json" ] || echo '{"name":"zoll-trust-peers","private":true}' >"$_trust_node_dir/package.json"
  npm install --prefix "$_trust_node_dir" --no-audit --no-fund --silent \
    @sigstore/verify@3 @sigstore/bundle@4 @sigstore/core@3 >/dev/null
fi
unset _trust_node_dir

if ! python3 -c "import securesystemslib.signer, nacl.secret" >/dev/null 2>&1; then
  echo "install-peers: pip install securesystemslib[crypto] pynacl"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "securesystemslib[crypto]" pynacl
fi
