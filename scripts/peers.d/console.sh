# Peers of the console's browser test (crates/cli/tests/it/console.rs, sourced by
# scripts/install-peers.sh; $SUDO is set there): Debian's chromium and chromium-driver (the
# test uses /usr/bin/chromium and /usr/bin/chromedriver; no browser is downloaded) and
# Selenium from PyPI, which drives them, and axe-selenium-python, which bundles axe-core
# (accessibility checks, offline). skopeo (the push) comes from the main list.
# Idempotent: skips what is present.
console_pkgs=()
[ -x /usr/bin/chromium ] || console_pkgs+=(chromium)
[ -x /usr/bin/chromedriver ] || console_pkgs+=(chromium-driver)
if [ ${#console_pkgs[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${console_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${console_pkgs[@]}" >/dev/null
fi
if ! python3 -c "import selenium, axe_selenium_python" >/dev/null 2>&1; then
  echo "install-peers: pip install selenium axe-selenium-python"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore selenium axe-selenium-python
fi
echo "install-peers: $(/usr/bin/chromium --version 2>/dev/null | head -1), selenium $(python3 -c 'import selenium; print(selenium.__version__)')"
unset console_pkgs
