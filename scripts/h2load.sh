#!/usr/bin/env bash
# GetArticle (basic view) from outside, with a client that is not ours:
# h2load against release `archived` binaries on the embedded defaults
# (SQLite + file system), one imported article. Variants run in turn, for
# several rounds; the medians of each are printed side by side.
# `--rpc import` measures ImportArticle instead (the seed export, a new
# article each call): the cost of what a write does; `--rpc check`
# grpc.health.v1.Health/Check: what the shared layers and the transport
# cost, with no work behind them.
#
#   scripts/h2load.sh [--rounds N] [--rpc get|import|check] VARIANT...
#
# A VARIANT is NAME=DIR[:auth]: DIR holds `archived` (a release build);
# `:auth` runs it with a tokens file and sends a bearer token. The article
# is imported with this checkout's target/release/archivectl. Needs h2load
# (Debian's nghttp2-client).
#
# Example (HEAD against an older build copied to /tmp/base):
#   cargo build --release --bins
#   scripts/h2load.sh base=/tmp/base head=target/release head-auth=target/release:auth
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=3
RPC=get
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --rpc) RPC="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$RPC" == get || "$RPC" == import || "$RPC" == check ]] || { echo "--rpc is get, import or check" >&2; exit 2; }
(( $# )) || { sed -n '2,20p' "$0"; exit 2; }
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 1; }
CTL="$ROOT/target/release/archivectl"
[[ -x "$CTL" ]] || { echo "$CTL missing: cargo build --release --bins" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The request: gRPC's 5-byte prefix, then GetArticleRequest{name, view
# BASIC}, or ImportArticleRequest{export_text} (no id: a new article each).
python3 - "$WORK/request.bin" "$RPC" "$ROOT/tests/fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt" <<'EOF'
import sys
def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n: return out
if sys.argv[2] == "get":
    name = b"articles/hot"
    message = b"\x0a" + varint(len(name)) + name + b"\x10\x01"
elif sys.argv[2] == "check":
    message = b""
else:
    text = open(sys.argv[3], "rb").read()
    message = b"\x0a" + varint(len(text)) + text
open(sys.argv[1], "wb").write(b"\x00" + len(message).to_bytes(4, "big") + message)
EOF
TOKEN="arc_h2load-bench-token-not-secret"
python3 - "$WORK/tokens.toml" "$TOKEN" <<'EOF'
import hashlib, sys
digest = hashlib.sha256(sys.argv[2].encode()).hexdigest()
open(sys.argv[1], "w").write(f'[[tokens]]\nname = "bench"\nscopes = ["read", "write"]\nsha256 = "{digest}"\n')
EOF

# The server's CPU time so far, in clock ticks (user + system).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Runs one variant once; prints "calls/s at 1 stream, calls/s at 16, the
# server's CPU µs per call at 16".
run_once() {
  local dir="$1" auth="$2" data="$WORK/data-$RANDOM"
  mkdir -p "$data"
  local env=(ARCHIVE__SERVER__GRPC_ADDR=127.0.0.1:0 ARCHIVE__SERVER__GATEWAY_ADDR=127.0.0.1:0 ARCHIVE__SERVER__ADMIN_ADDR=127.0.0.1:0 RUST_LOG=info)
  local headers=(-H 'content-type: application/grpc' -H 'te: trailers')
  if [[ "$auth" == auth ]]; then
    env+=(ARCHIVE__AUTH__TOKENS_FILE="$WORK/tokens.toml")
    headers+=(-H "authorization: Bearer $TOKEN")
  fi
  # Its stdout must not hold the caller's pipe open.
  cd "$data"
  env "${env[@]}" "$dir/archived" >/dev/null 2>"$data/log" &
  local pid=$!
  local addr=""
  for _ in $(seq 100); do
    addr="$(grep -o 'grpc=[0-9.:]*' "$data/log" 2>/dev/null | head -n 1 | cut -d= -f2)" && [[ -n "$addr" ]] && break
    sleep 0.1
  done
  [[ -n "$addr" ]] || { cat "$data/log" >&2; exit 1; }
  ARCHIVE_TOKEN="$TOKEN" "$CTL" --server "http://$addr" import \
    "$ROOT/tests/fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt" --id hot >/dev/null
  local method=GetArticle small=5000 large=40000
  [[ "$RPC" == import ]] && method=ImportArticle small=1000 large=4000
  local url="http://$addr/archive.v1.ArticleService/$method" rates=()
  [[ "$RPC" == check ]] && url="http://$addr/grpc.health.v1.Health/Check" small=10000 large=80000
  local cpu=0
  for streams in 1 16; do
    local n=$(( streams == 1 ? small : large ))
    local out before
    before="$(ticks "$pid")"
    out="$(h2load -n "$n" -c 1 -m "$streams" "${headers[@]}" -d "$WORK/request.bin" "$url")"
    grep -q " 0 failed, 0 errored" <<<"$out" || { echo "$out" >&2; exit 1; }
    rates+=("$(awk '/^finished in/ { print int($4) }' <<<"$out")")
    cpu=$(( ($(ticks "$pid") - before) * 1000000 / $(getconf CLK_TCK) / n ))
  done
  rates+=("$cpu")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "${rates[*]}"
}

declare -A ONE SIXTEEN CPU
for round in $(seq "$ROUNDS"); do
  for variant in "$@"; do
    name="${variant%%=*}" rest="${variant#*=}"
    dir="${rest%%:*}" auth=""
    [[ "$rest" == *:auth ]] && auth=auth
    result="$(run_once "$(cd "$dir" && pwd)" "$auth")" || exit 1
    read -r one sixteen cpu <<<"$result"
    ONE[$name]+="$one " SIXTEEN[$name]+="$sixteen " CPU[$name]+="$cpu "
    echo "round $round $name: $one calls/s at 1 stream, $sixteen at 16 ($cpu µs of server CPU a call)" >&2
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
label="GetArticle basic"; [[ "$RPC" == import ]] && label="ImportArticle"; [[ "$RPC" == check ]] && label="Health Check"
printf '| %s, calls/s (median of %s) |' "$label" "$ROUNDS"
for variant in "$@"; do printf ' %s |' "${variant%%=*}"; done
printf '\n| --- |'; for _ in "$@"; do printf ' --- |'; done
printf '\n| 1 stream |'; for v in "$@"; do printf ' %s |' "$(median <<<"${ONE[${v%%=*}]}")"; done
printf '\n| 16 streams |'; for v in "$@"; do printf ' %s |' "$(median <<<"${SIXTEEN[${v%%=*}]}")"; done
printf '\n| server CPU µs a call, 16 streams |'; for v in "$@"; do printf ' %s |' "$(median <<<"${CPU[${v%%=*}]}")"; done
echo
