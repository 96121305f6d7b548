#!/usr/bin/env bash
# Every cargo-fuzz target for a budget each (outside CI):
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     default 60 s, every target
# Targets: mp4 (scanner, probe, faststart plan), export (the importer),
# signed_url (the gateway's verifier), range (the gateway's Range header),
# page_token (page tokens cannot be made up or changed). Seeds are committed in fuzz/seeds/T;
# what the fuzzer finds grows fuzz/corpus/T, and a crash lands in
# fuzz/artifacts/T (both ignored by git). cargo-fuzz is built from
# crates.io into .tools/cargo once; it needs nightly features, taken from
# `+nightly` when that toolchain exists and from RUSTC_BOOTSTRAP otherwise.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUDGET="${1:-60}"
shift $(( $# > 0 ? 1 : 0 ))
TARGETS=("$@")
(( ${#TARGETS[@]} )) || TARGETS=(mp4 export signed_url range page_token)
FUZZ="$ROOT/.tools/cargo/bin/cargo-fuzz"
[[ -x "$FUZZ" ]] || cargo install --quiet --locked --root "$ROOT/.tools/cargo" cargo-fuzz
export PATH="$ROOT/.tools/cargo/bin:$PATH"
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
cd "$ROOT"
status=0
for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log="fuzz/last-$target.log"
  echo "== $target, ${BUDGET}s"
  if ! cargo "${toolchain[@]}" fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$BUDGET" -print_final_stats=1 >"$log" 2>&1; then
    status=1
    echo "$target: a crash or a build failure, see $log and fuzz/artifacts/$target"
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
  echo "corpus: $(ls "fuzz/corpus/$target" | wc -l) inputs"
done
exit "$status"
