# Peers of the admission tests (sourced by scripts/install-peers.sh; $SUDO is set there):
# - kubernetes-validate (PyPI): the Kubernetes JSON schemas, bundled, for validating
#   deploy/kubernetes offline (it brings PyYAML and jsonschema, which validate.py also uses);
# - openssl (installed by install-peers.sh itself): gen-certs.sh.
# Idempotent: skips what is present.
if ! python3 -c "import kubernetes_validate, yaml, jsonschema" >/dev/null 2>&1; then
  echo "install-peers: pip install kubernetes-validate"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore kubernetes-validate
fi
