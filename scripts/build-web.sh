#!/usr/bin/env bash
# Builds the browser side (web/: TypeScript, Vidstack, bundled by esbuild)
# into web/dist, which is committed and embedded in archived, so that
# `cargo run` needs no Node. With --check, builds into a scratch directory
# and fails if the committed web/dist differs from what the sources make
# (scripts/test.sh runs it so).
#
#   scripts/build-web.sh [--check]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WEB="$ROOT/web"
check=false
[[ "${1:-}" == "--check" ]] && check=true

# The locked versions, installed once into web/node_modules.
if [[ ! -d "$WEB/node_modules" ]] || ! (cd "$WEB" && npm ls --silent >/dev/null 2>&1); then
  (cd "$WEB" && npm ci --silent --no-audit --no-fund >/dev/null)
fi
(cd "$WEB" && ./node_modules/.bin/tsc -p .)

out="$WEB/dist"
if $check; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
(cd "$WEB" && ./node_modules/.bin/esbuild src/embed.ts --bundle --format=esm --minify --target=es2022 \
  --legal-comments=linked --outfile="$out/player.js" --log-level=warning)

if $check; then
  if ! diff -r "$WEB/dist" "$out" >/dev/null; then
    echo "web/dist differs from what web/src builds: run scripts/build-web.sh and commit web/dist" >&2
    diff -r "$WEB/dist" "$out" | head -n 5 >&2 || true
    exit 1
  fi
  echo "web/dist matches web/src"
else
  echo "built $(cd "$out" && ls | tr '\n' ' ')into web/dist"
fi
