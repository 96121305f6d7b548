#!/usr/bin/env bash
# Builds the browser side (web/: TypeScript, Vidstack, lit, Connect-ES,
# bundled by esbuild) into web/dist, which is committed and embedded in
# archived, so that `cargo run` needs no Node: the embeddable player and the
# web console, whose client (web/src/gen, committed too) protoc-gen-es
# generates from proto/. With --check, generates and builds into a scratch
# directory and fails if the committed files differ from what the sources
# make (scripts/test.sh runs it so).
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

out="$WEB/dist"
base="$WEB" # buf generate writes into $base/src/gen (web/buf.gen.yaml)
if $check; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  out="$scratch/dist"
  base="$scratch"
fi
gen="$base/src/gen"
# The console's client from proto/.
(cd "$WEB" && ./node_modules/.bin/buf generate --output "$base" --template buf.gen.yaml)
(cd "$WEB" && ./node_modules/.bin/tsc -p .)

bundle() { # entry, output
  (cd "$WEB" && ./node_modules/.bin/esbuild "$1" --bundle --format=esm --minify --target=es2022 \
    --legal-comments=linked --outfile="$out/$2" --log-level=warning)
}
mkdir -p "$out"
bundle src/embed.ts player.js
bundle src/console/main.ts console.js
cp "$WEB/src/console/console.html" "$WEB/src/console/console.css" "$out/"
# A gzip copy beside each file archived serves (no name or time inside, so
# the same bytes every build).
for file in "$out"/*.js "$out"/*.css "$out"/*.html "$out"/*.txt; do
  gzip -9 -n -c "$file" > "$file.gz"
done

if $check; then
  if ! diff -r "$WEB/src/gen" "$gen" >/dev/null; then
    echo "web/src/gen differs from what proto/ generates: run scripts/build-web.sh and commit web/src/gen" >&2
    diff -r "$WEB/src/gen" "$gen" | head -n 5 >&2 || true
    exit 1
  fi
  if ! diff -r "$WEB/dist" "$out" >/dev/null; then
    echo "web/dist differs from what web/src builds: run scripts/build-web.sh and commit web/dist" >&2
    diff -r "$WEB/dist" "$out" | head -n 5 >&2 || true
    exit 1
  fi
  echo "web/src/gen matches proto/, web/dist matches web/src"
else
  echo "built $(cd "$out" && ls | tr '\n' ' ')into web/dist"
fi
