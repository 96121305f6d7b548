# Sourced by scripts/test.sh and scripts/bench.sh (after services.sh, whose
# now/since/die it uses): a real browser for the tests and benches that
# drive one. Debian's Chromium (apt, when missing and root), and from npm
# into .tools/npm: playwright-core (which must not download a browser of
# its own), tus-js-client (the tus client pages use) and axe-core (the
# accessibility checks). Exports ARCHIVE_TEST_CHROMIUM and
# ARCHIVE_TEST_NODE_PATH for the scripts in tests/browser and benches.
NPM_PREFIX="${NPM_PREFIX:-$ROOT/.tools/npm}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.64.1}"
TUS_JS_CLIENT_VERSION="${TUS_JS_CLIENT_VERSION:-4.3.1}"
AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"

setup_browser() {
  local t0 chromium package
  t0=$(now)
  chromium="${ARCHIVE_TEST_CHROMIUM:-/usr/bin/chromium}"
  if [[ ! -x "$chromium" ]]; then
    if (( EUID == 0 )); then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    [[ -x "$chromium" ]] || die "$chromium missing: install Debian's chromium (apt-get install chromium)"
  fi
  for package in "playwright-core@$PLAYWRIGHT_VERSION" "tus-js-client@$TUS_JS_CLIENT_VERSION" "axe-core@$AXE_CORE_VERSION"; do
    if [[ "$(node -p "require('$NPM_PREFIX/node_modules/${package%@*}/package.json').version" 2>/dev/null)" != "${package##*@}" ]]; then
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "$package" >/dev/null
    fi
  done
  export ARCHIVE_TEST_CHROMIUM="$chromium"
  export ARCHIVE_TEST_NODE_PATH="$NPM_PREFIX/node_modules"
  echo "$("$chromium" --version 2>/dev/null | head -n 1), playwright-core $PLAYWRIGHT_VERSION, tus-js-client $TUS_JS_CLIENT_VERSION, axe-core $AXE_CORE_VERSION ready ($(since "$t0"))"
}
