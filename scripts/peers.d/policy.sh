# Peers for crates/policy and crates/approval (trust policy, pull gate, quorum signing),
# sourced by scripts/install-peers.sh:
# - softhsm2 + opensc: the stage key of the pull-gate test, the quorum key and an approver
#   key of the quorum test live on a SoftHSM2 token made by softhsm2-util and pkcs11-tool;
# - openssl: makes and forges approver votes, verifies the quorum key's cosign signatures;
# - skopeo (installed by install-peers.sh itself): pulls through the gate.
# Idempotent: skips what is present.
_policy_apt=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || _policy_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || _policy_apt+=(opensc)
command -v openssl >/dev/null 2>&1 || _policy_apt+=(openssl)
if [ ${#_policy_apt[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${_policy_apt[*]}"
  ${SUDO:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${_policy_apt[@]}" >/dev/null
fi
unset _policy_apt
