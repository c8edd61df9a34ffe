# Shared functions of the local test environment (sourced by up.sh, down.sh, status.sh, service.sh).
# Every service runs on 127.0.0.1 at a non-default port; state lives in $ENV_DIR (default $REPO/.test-env):
#   logs/<svc>.log  run/<svc>.pid  credentials/<name>  secrets/<secret>/<key>  env  kubeconfig  pipeline.yaml
# shellcheck shell=bash

ENV_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=test/env/versions.sh
. "$ENV_LIB_DIR/versions.sh"
REPO=$(cd "$ENV_LIB_DIR/../.." && pwd)
ENV_DIR=${MQTT2PG_TEST_ENV_DIR:-$REPO/.test-env}
case "$ENV_DIR" in /*) ;; *) ENV_DIR=$PWD/$ENV_DIR ;; esac
ENV_DIR=${ENV_DIR%/}

SERVICES=(postgres pgbouncer mosquitto minio etcd kube-apiserver)

PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=55432
PGBOUNCER_PORT=56432
MQTT_PORT=51883
MQTTS_PORT=58883
MINIO_PORT=59000
MINIO_CONSOLE_PORT=59001
ETCD_PORT=52379
ETCD_PEER_PORT=52380
KUBE_PORT=56443
S3_BUCKET=mqtt2pg-dlq
S3_REGION=us-east-1
APP_USER=mqtt2pg
# Seconds to wait for a service to become healthy (or to exit on stop); MQTT2PG_TEST_ENV_TIMEOUT overrides all.
ENV_TIMEOUT=${MQTT2PG_TEST_ENV_TIMEOUT:-}

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=$PATH:/usr/local/go/bin
fi

log() { printf '%s\n' "$*" >&2; }
die() { printf 'test-env: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# ---------------------------------------------------------------- prerequisites

APT_UPDATED=
# need_pkg BINARY PACKAGE: install PACKAGE with apt when BINARY (a name on PATH or an absolute path) is missing.
need_pkg() {
  local bin=$1 pkg=$2
  if [ "${bin#/}" != "$bin" ]; then [ -x "$bin" ] && return 0; else command -v "$bin" >/dev/null 2>&1 && return 0; fi
  if ! is_root; then
    die "'$bin' is missing: install the Debian package '$pkg' (sudo apt-get install -y $pkg) or run this script as root"
  fi
  command -v apt-get >/dev/null 2>&1 || die "'$bin' is missing and apt-get is not available: install '$pkg' by hand"
  log "installing $pkg (provides $bin)"
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed (needed to install $pkg)"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2 \
    || die "apt-get install $pkg failed"
}

# Binary of a Go-built tool (etcd, kube-apiserver, minio, kubectl), built once into $TOOLS_BIN.
tool_path() {
  case "$1" in
    etcd) printf '%s' "$TOOLS_BIN/etcd-$ETCD_VERSION" ;;
    minio) printf '%s' "$TOOLS_BIN/minio-$MINIO_VERSION" ;;
    kube-apiserver | kubectl) printf '%s' "$TOOLS_BIN/$1-$KUBERNETES_VERSION" ;;
  esac
}
need_tool() {
  local tool=$1 bin
  bin=$(tool_path "$tool")
  [ -x "$bin" ] && return 0
  mkdir -p "$TOOLS_BIN"
  # The lock keeps two concurrent runs from building the same tool at once.
  flock "$TOOLS_BIN/.build-$tool.lock" "$ENV_LIB_DIR/build-go-tool.sh" "$tool" \
    || die "building $tool failed (see the output above); it needs Go >= 1.24 ('go' on PATH) and network access to the Go module proxy"
  [ -x "$bin" ] || die "build-go-tool.sh $tool did not produce $bin"
}

# kubectl from PATH, else built from source.
kubectl_path() {
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; else tool_path kubectl; fi
}

need_common() {
  need_pkg curl curl
  need_pkg openssl openssl
  need_pkg setpriv util-linux
  need_pkg flock util-linux
  need_pkg ss iproute2
}

# ---------------------------------------------------------------- users, dirs, credentials

# PostgreSQL and PgBouncer refuse to run as root: as root they run as the 'postgres' OS user.
svc_user() {
  if ! is_root; then id -un; return; fi
  case "$1" in postgres | pgbouncer) printf postgres ;; *) id -un ;; esac
}
# run_as USER CMD...: exec CMD as USER (for one-off commands; call it in a subshell).
run_as() {
  local user=$1; shift
  if [ "$user" = "$(id -un)" ]; then exec "$@"; fi
  exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
}
own() { # own USER PATH...: hand PATH to USER when running as root
  local user=$1; shift
  if is_root && [ "$user" != root ]; then chown -R "$user:$(id -gn "$user")" "$@"; fi
}

ensure_env_dir() {
  mkdir -p "$ENV_DIR"/{logs,run,credentials,secrets}
  chmod 0755 "$ENV_DIR" "$ENV_DIR/logs" "$ENV_DIR/run"
  chmod 0700 "$ENV_DIR/credentials"
  # The directory keeps itself out of git, and marks itself as ours (down.sh --purge checks the mark).
  [ -f "$ENV_DIR/.gitignore" ] || printf '*\n' >"$ENV_DIR/.gitignore"
  [ -f "$ENV_DIR/.mqtt2pg-test-env" ] || printf 'state of test/env/up.sh; remove with test/env/down.sh --purge\n' >"$ENV_DIR/.mqtt2pg-test-env"
}

# Service users must reach files under $ENV_DIR: every ancestor needs search (x) permission for them.
check_traversable() {
  local user=$1 d=$ENV_DIR
  [ "$user" = "$(id -un)" ] && return 0
  if ( run_as "$user" test -x "$ENV_DIR" ) 2>/dev/null; then return 0; fi
  while [ "$d" != / ]; do
    if ! ( run_as "$user" test -x "$d" ) 2>/dev/null; then
      die "the '$user' OS user cannot enter $d (needed for $ENV_DIR): run 'chmod o+x $d' or set MQTT2PG_TEST_ENV_DIR to a directory under a world-searchable path"
    fi
    d=$(dirname "$d")
  done
  die "the '$user' OS user cannot enter $ENV_DIR"
}

# cred NAME: a random secret generated on first use, stable across runs (hex: safe in URLs and shells).
cred() {
  local f=$ENV_DIR/credentials/$1
  if [ ! -s "$f" ]; then
    mkdir -p "$ENV_DIR/credentials"
    (umask 077; openssl rand -hex 16 >"$f.tmp" && mv "$f.tmp" "$f")
  fi
  cat "$f"
}

# ---------------------------------------------------------------- processes

pid_file() { printf '%s' "$ENV_DIR/run/$1.pid"; }

# The binary a service's pid must be running, to tell our process from a recycled pid.
svc_exe() {
  case "$1" in
    postgres) printf '%s' "$PG_BIN/postgres" ;;
    pgbouncer) command -v pgbouncer || printf /usr/sbin/pgbouncer ;;
    mosquitto) command -v mosquitto || printf /usr/sbin/mosquitto ;;
    minio | etcd | kube-apiserver) tool_path "$1" ;;
    *) return 1 ;;
  esac
}

svc_port() {
  case "$1" in
    postgres) echo $PG_PORT ;; pgbouncer) echo $PGBOUNCER_PORT ;; mosquitto) echo $MQTT_PORT ;;
    minio) echo $MINIO_PORT ;; etcd) echo $ETCD_PORT ;; kube-apiserver) echo $KUBE_PORT ;;
  esac
}

# svc_pid NAME: print the pid of the service's process if it is alive and runs the expected binary.
svc_pid() {
  local f pid exe want
  f=$(pid_file "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  proc_alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  want=$(readlink -f "$(svc_exe "$1")")
  [ "$exe" = "$want" ] || return 1
  printf '%s' "$pid"
}

# launch NAME USER CMD...: start CMD in its own session, detached, logging to logs/NAME.log; records the pid.
launch() {
  local name=$1 user=$2; shift 2
  local logf=$ENV_DIR/logs/$name.log
  local -a as=()
  if [ "$user" != "$(id -un)" ]; then as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --); fi
  printf '\n==== %s start %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$logf"
  # Without job control a background job is not a process-group leader, so setsid (and setpriv, env) exec
  # in place: $! is the daemon itself, and it leads its own process group (stop can reach its children).
  # fd 9 is the environment lock (lock_env): the daemon must not inherit it.
  setsid "${as[@]}" "$@" </dev/null >>"$logf" 2>&1 9>&- &
  printf '%s\n' "$!" >"$(pid_file "$name")"
}

# lock_env: one up/service run at a time per environment (held on fd 9 until the script exits).
lock_env() {
  exec 9>"$ENV_DIR/run/.lock"
  if ! flock -n 9; then
    log "test-env: waiting for another test/env script working on $ENV_DIR"
    flock -w "${ENV_TIMEOUT:-600}" 9 || die "timed out waiting for the lock $ENV_DIR/run/.lock"
  fi
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_healthy NAME TIMEOUT: poll the service's health check; on timeout print its log tail and fail.
wait_healthy() {
  local name=$1 timeout=${ENV_TIMEOUT:-$2} deadline
  deadline=$(( $(date +%s) + timeout ))
  while true; do
    if health "$name"; then return 0; fi
    if ! svc_pid "$name" >/dev/null; then
      log "test-env: $name exited during startup; last 30 lines of $ENV_DIR/logs/$name.log:"
      tail -n 30 "$ENV_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "test-env: $name not healthy after ${timeout}s; last 30 lines of $ENV_DIR/logs/$name.log:"
      tail -n 30 "$ENV_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# proc_alive PID: running and not a zombie (an unreaped zombie keeps its pid until init collects it).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

stop_signal() { case "$1" in postgres) echo INT ;; *) echo TERM ;; esac; } # postgres: TERM = wait for clients

# stop_service NAME [KILL]: signal our process (only if the pid still runs the expected binary), await its exit,
# SIGKILL its process group after the timeout; removes the pid file. Prints one line; silent if not running.
stop_service() {
  local name=$1 sig pid t0 deadline
  sig=$(stop_signal "$name")
  [ "${2:-}" = KILL ] && sig=KILL
  if ! pid=$(svc_pid "$name"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  t0=$(now)
  kill -s "$sig" "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + ${ENV_TIMEOUT:-30} ))
  while proc_alive "$pid"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "test-env: $name (pid $pid) did not exit after SIG$sig; sending SIGKILL"
      kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null || true
      deadline=$(( $(date +%s) + 10 ))
      sig=KILL
    fi
    sleep 0.1
  done
  # Children of a killed leader (e.g. PostgreSQL backends after SIGKILL) go with it.
  if [ "$sig" = KILL ]; then kill -s KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$(pid_file "$name")"
  printf '%-15s stopped (pid %s, SIG%s, %s)\n' "$name" "$pid" "$sig" "$(elapsed "$t0")"
}

# ---------------------------------------------------------------- health checks

health() {
  case "$1" in
    postgres) "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -t 2 ;;
    pgbouncer)
      PGPASSWORD=$(cred pg-mqtt2pg) PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -w -h 127.0.0.1 -p "$PGBOUNCER_PORT" \
        -U "$APP_USER" -d pgbouncer -tAc 'SHOW VERSION' >/dev/null 2>&1 ;;
    mosquitto)
      # shellcheck disable=SC2016 # $SYS is a topic, not a variable
      mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$MQTT_PORT" -u "$APP_USER" -P "$(cred mqtt-mqtt2pg)" \
        -t '$SYS/broker/version' -C 1 -W 2 >/dev/null 2>&1 ;;
    minio) curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready" 2>/dev/null ;;
    etcd) curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kube-apiserver)
      [ -f "$ENV_DIR/kube/pki/ca.crt" ] || return 1
      [ "$(curl -sS -m 3 --cacert "$ENV_DIR/kube/pki/ca.crt" -H "Authorization: Bearer $(cred kube-admin-token)" \
        "https://127.0.0.1:$KUBE_PORT/readyz" 2>/dev/null)" = ok ] ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------- per-service preparation and start

prepare_postgres() {
  need_pkg "$PG_BIN/postgres" postgresql-15
  need_pkg "$PG_BIN/psql" postgresql-client-15
  local user data=$ENV_DIR/pg/data sock=$ENV_DIR/pg/sock
  user=$(svc_user postgres)
  mkdir -p "$ENV_DIR/pg" "$sock"
  chmod 0755 "$ENV_DIR/pg" "$sock"
  own "$user" "$sock"
  check_traversable "$user"
  if [ ! -s "$data/PG_VERSION" ]; then
    rm -rf "$data"
    mkdir -p "$data"; chmod 0700 "$data"; own "$user" "$data"
    local pw=$ENV_DIR/pg/.pwfile
    cred pg-postgres >"$pw"; chmod 0600 "$pw"; own "$user" "$pw"
    ( run_as "$user" "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 ) >>"$ENV_DIR/logs/postgres.log" 2>&1 \
      || { tail -n 30 "$ENV_DIR/logs/postgres.log" >&2; die "postgres: initdb failed"; }
    rm -f "$pw"
    cat >>"$data/postgresql.conf" <<EOF

# ---- mqtt2pg test environment (test/env/lib.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sock'
max_connections = 200
password_encryption = 'scram-sha-256'
fsync = on
synchronous_commit = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = -1
EOF
    touch "$ENV_DIR/pg/.needs-bootstrap"
  fi
}
start_postgres() {
  launch postgres "$(svc_user postgres)" "$PG_BIN/postgres" -D "$ENV_DIR/pg/data"
}
# Create the application role and database once (after the first start).
bootstrap_postgres() {
  [ -f "$ENV_DIR/pg/.needs-bootstrap" ] || return 0
  local pw
  pw=$(cred pg-mqtt2pg)
  PGPASSWORD=$(cred pg-postgres) "$PG_BIN/psql" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    >>"$ENV_DIR/logs/postgres.log" 2>&1 <<EOF || die "postgres: creating role/database $APP_USER failed (see $ENV_DIR/logs/postgres.log)"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$pw';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$pw';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $APP_USER OWNER $APP_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$APP_USER')
\gexec
EOF
  rm -f "$ENV_DIR/pg/.needs-bootstrap"
}

prepare_pgbouncer() {
  need_pkg pgbouncer pgbouncer
  need_pkg "$PG_BIN/psql" postgresql-client-15
  local user d=$ENV_DIR/pgbouncer
  user=$(svc_user pgbouncer)
  mkdir -p "$d"; chmod 0700 "$d"
  check_traversable "$user"
  # Plain-text userlist: PgBouncer then does SCRAM both with clients and with PostgreSQL.
  printf '"%s" "%s"\n' "$APP_USER" "$(cred pg-mqtt2pg)" >"$d/userlist.txt"
  chmod 0600 "$d/userlist.txt"
  cat >"$d/pgbouncer.ini" <<EOF
; mqtt2pg test environment (test/env/lib.sh); regenerated by every up.sh
[databases]
$APP_USER = host=127.0.0.1 port=$PG_PORT dbname=$APP_USER

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $ENV_DIR/pg/sock
auth_type = scram-sha-256
auth_file = $d/userlist.txt
admin_users = $APP_USER
stats_users = $APP_USER
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
; retry a failed server login after 1s, not 15s: outage tests restart PostgreSQL and expect a quick recovery
server_login_retry = 1
log_connections = 0
log_disconnections = 0
EOF
  mkdir -p "$ENV_DIR/pg/sock"; chmod 0755 "$ENV_DIR/pg" "$ENV_DIR/pg/sock"; own "$(svc_user postgres)" "$ENV_DIR/pg/sock"
  own "$user" "$d"
}
start_pgbouncer() {
  launch pgbouncer "$(svc_user pgbouncer)" "$(svc_exe pgbouncer)" "$ENV_DIR/pgbouncer/pgbouncer.ini"
}

prepare_mosquitto() {
  need_pkg mosquitto mosquitto
  need_pkg mosquitto_passwd mosquitto
  need_pkg mosquitto_sub mosquitto-clients
  local d=$ENV_DIR/mosquitto pw
  mkdir -p "$d"; chmod 0755 "$d"
  pw=$(cred mqtt-mqtt2pg)
  # Recreate the password file only when the password changed (mosquitto_passwd salts, so compare a stamp).
  if [ ! -s "$d/passwd" ] || [ "$(cat "$d/passwd.stamp" 2>/dev/null)" != "$(printf '%s' "$pw" | openssl dgst -sha256 -r)" ]; then
    rm -f "$d/passwd"
    mosquitto_passwd -b -c "$d/passwd" "$APP_USER" "$pw" >/dev/null 2>&1 || die "mosquitto: mosquitto_passwd failed"
    printf '%s' "$pw" | openssl dgst -sha256 -r >"$d/passwd.stamp"
  fi
  chmod 0600 "$d/passwd"
  ensure_mqtt_pki "$d/tls"
  cat >"$d/mosquitto.conf" <<EOF
# mqtt2pg test environment (test/env/lib.sh); regenerated by every up.sh
per_listener_settings false
listener $MQTT_PORT 127.0.0.1
protocol mqtt
allow_anonymous false
password_file $d/passwd
max_queued_messages 0
max_queued_bytes 0
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
# Mutual TLS (and the same password file): what a production broker asks of the worker.
listener $MQTTS_PORT 127.0.0.1
protocol mqtt
cafile $d/tls/ca.crt
certfile $d/tls/server.crt
keyfile $d/tls/server.key
require_certificate true
EOF
  # As root, mosquitto drops to the 'mosquitto' user (its default) and must still read these files.
  if is_root && id mosquitto >/dev/null 2>&1; then
    check_traversable mosquitto
    own mosquitto "$d"
  fi
}
# ensure_mqtt_pki DIR: a CA, a server certificate for 127.0.0.1 and a client certificate, once.
ensure_mqtt_pki() {
  local p=$1
  mkdir -p "$p"
  [ -s "$p/ca.crt" ] && [ -s "$p/server.crt" ] && [ -s "$p/client.crt" ] && return 0
  (
    set -e
    cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=mqtt2pg-test-mqtt-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
    printf 'subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 \
      -extfile server.ext -out server.crt
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=mqtt2pg-worker
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 \
      -extfile client.ext -out client.crt
    rm -f ./*.csr ./*.ext
  ) >>"$ENV_DIR/logs/mosquitto.log" 2>&1 || die "mosquitto: generating TLS certificates with openssl failed (see $ENV_DIR/logs/mosquitto.log)"
  chmod 0644 "$p"/*.crt
  chmod 0640 "$p"/*.key
}

start_mosquitto() {
  launch mosquitto "$(id -un)" "$(svc_exe mosquitto)" -c "$ENV_DIR/mosquitto/mosquitto.conf"
}

prepare_minio() {
  need_tool minio
  mkdir -p "$ENV_DIR/minio/data"
}
start_minio() {
  launch minio "$(id -un)" env MINIO_ROOT_USER="$APP_USER" MINIO_ROOT_PASSWORD="$(cred s3-secret)" MINIO_UPDATE=off \
    "$(svc_exe minio)" server --quiet --anonymous \
      --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" "$ENV_DIR/minio/data"
}
# Create the dead-letter bucket (idempotent: an existing bucket is fine).
bootstrap_minio() {
  local code out=$ENV_DIR/run/minio-bucket.out
  code=$(curl -sS -m 10 -o "$out" -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$APP_USER:$(cred s3-secret)" -X PUT "http://127.0.0.1:$MINIO_PORT/$S3_BUCKET" 2>&1) || true
  case "$code" in
    200) ;;
    409) grep -q 'BucketAlreadyOwnedByYou' "$out" || die "minio: creating bucket $S3_BUCKET failed: $(cat "$out")" ;;
    *) die "minio: creating bucket $S3_BUCKET failed (HTTP $code): $(cat "$out" 2>/dev/null)" ;;
  esac
  rm -f "$out"
}

prepare_etcd() {
  need_tool etcd
  mkdir -p "$ENV_DIR/etcd"; chmod 0700 "$ENV_DIR/etcd"
}
start_etcd() {
  launch etcd "$(id -un)" "$(svc_exe etcd)" --name test --data-dir "$ENV_DIR/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "test=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --log-level warn --quota-backend-bytes 2147483648
}

# CA, serving certificate (127.0.0.1, localhost, in-cluster names) and service-account key pair, once.
ensure_kube_pki() {
  local p=$ENV_DIR/kube/pki
  mkdir -p "$p"; chmod 0700 "$p"
  [ -s "$p/ca.crt" ] && [ -s "$p/apiserver.crt" ] && [ -s "$p/sa.key" ] && [ -s "$p/sa.pub" ] && return 0
  (
    set -e
    cd "$p"
    openssl genrsa -out ca.key 2048
    cat >ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = mqtt2pg-test-ca
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -new -key ca.key -days 3650 -config ca.cnf -out ca.crt
    openssl genrsa -out apiserver.key 2048
    openssl req -new -key apiserver.key -subj /CN=kube-apiserver -out apiserver.csr
    cat >apiserver.ext <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
      -days 3650 -extfile apiserver.ext -out apiserver.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
    rm -f apiserver.csr
  ) >>"$ENV_DIR/logs/kube-apiserver.log" 2>&1 || die "kube-apiserver: generating certificates with openssl failed (see $ENV_DIR/logs/kube-apiserver.log)"
}

prepare_kube-apiserver() {
  need_tool kube-apiserver
  local k=$ENV_DIR/kube
  mkdir -p "$k"; chmod 0700 "$k"
  ensure_kube_pki
  (umask 077; printf '%s,admin,admin,"system:masters"\n' "$(cred kube-admin-token)" >"$k/tokens.csv")
  write_kubeconfig
}
start_kube-apiserver() {
  local k=$ENV_DIR/kube
  launch kube-apiserver "$(id -un)" "$(svc_exe kube-apiserver)" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KUBE_PORT" \
    --endpoint-reconciler-type=none \
    --cert-dir="$k/pki" --tls-cert-file="$k/pki/apiserver.crt" --tls-private-key-file="$k/pki/apiserver.key" \
    --client-ca-file="$k/pki/ca.crt" \
    --token-auth-file="$k/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --api-audiences=https://kubernetes.default.svc \
    --service-account-key-file="$k/pki/sa.pub" --service-account-signing-key-file="$k/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=false \
    --allow-privileged=true \
    --profiling=false \
    --v=1
}

write_kubeconfig() {
  local f=$ENV_DIR/kubeconfig
  (umask 077; cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mqtt2pg-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 <"$ENV_DIR/kube/pki/ca.crt")
users:
- name: admin
  user:
    token: $(cred kube-admin-token)
contexts:
- name: mqtt2pg-test
  context:
    cluster: mqtt2pg-test
    user: admin
    namespace: default
current-context: mqtt2pg-test
EOF
  mv "$f.tmp" "$f")
}

# ensure_service NAME: prepare the service's files, start it unless ours is already running, await health.
# Prints one progress line.
ensure_service() {
  local name=$1 t0 pid port timeout
  t0=$(now)
  port=$(svc_port "$name")
  case "$name" in kube-apiserver) timeout=180 ;; minio | etcd | postgres) timeout=60 ;; *) timeout=30 ;; esac
  "prepare_$name"
  if pid=$(svc_pid "$name"); then
    wait_healthy "$name" "$timeout"
    after_start "$name"
    printf '%-15s already running on 127.0.0.1:%s  (pid %s)\n' "$name" "$port" "$pid"
    return 0
  fi
  rm -f "$(pid_file "$name")"
  if port_in_use "$port"; then
    die "$name: port $port is already taken by a process this environment did not start: $(ss -Hltnp "sport = :$port" 2>/dev/null | head -1)"
  fi
  "start_$name"
  wait_healthy "$name" "$timeout"
  after_start "$name"
  printf '%-15s started on 127.0.0.1:%s  (%s)\n' "$name" "$port" "$(elapsed "$t0")"
}
after_start() {
  case "$1" in
    postgres) bootstrap_postgres ;;
    minio) bootstrap_minio ;;
  esac
}

is_service() {
  local s
  for s in "${SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# ---------------------------------------------------------------- files tests read

# env_line KEY VALUE: KEY=value, single-quoted only when the value needs it (plain values stay dotenv-friendly).
env_line() {
  if [[ $2 =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
    printf '%s=%s\n' "$1" "$2"
  else
    printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
  fi
}

write_outputs() {
  local pg_pw pg_admin_pw mqtt_pw s3_pw s
  pg_pw=$(cred pg-mqtt2pg); pg_admin_pw=$(cred pg-postgres); mqtt_pw=$(cred mqtt-mqtt2pg); s3_pw=$(cred s3-secret)
  {
    echo "# Written by test/env/up.sh; load with: set -a; . $ENV_DIR/env; set +a"
    env_line TEST_ENV_DIR "$ENV_DIR"
    env_line DATABASE_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PG_PORT/$APP_USER"
    env_line DATABASE_ADMIN_URL "postgresql://postgres:$pg_admin_pw@127.0.0.1:$PG_PORT/postgres"
    env_line PGBOUNCER_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PGBOUNCER_PORT/$APP_USER"
    env_line PGBOUNCER_ADMIN_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PGBOUNCER_PORT/pgbouncer"
    env_line PG_BIN "$PG_BIN"
    env_line MQTT_URL "mqtt://127.0.0.1:$MQTT_PORT"
    env_line MQTTS_URL "mqtts://127.0.0.1:$MQTTS_PORT"
    env_line MQTT_TLS_DIR "$ENV_DIR/mosquitto/tls"
    env_line MQTT_USERNAME "$APP_USER"
    env_line MQTT_PASSWORD "$mqtt_pw"
    env_line S3_ENDPOINT "http://127.0.0.1:$MINIO_PORT"
    env_line S3_BUCKET "$S3_BUCKET"
    env_line S3_REGION "$S3_REGION"
    env_line S3_ACCESS_KEY_ID "$APP_USER"
    env_line S3_SECRET_ACCESS_KEY "$s3_pw"
    env_line KUBECONFIG "$ENV_DIR/kubeconfig"
    env_line KUBE_APISERVER_URL "https://127.0.0.1:$KUBE_PORT"
    env_line KUBECTL "$(kubectl_path)"
    env_line SECRETS_DIR "$ENV_DIR/secrets"
    env_line PIPELINE_FILE "$ENV_DIR/pipeline.yaml"
  } >"$ENV_DIR/env.tmp"
  chmod 0600 "$ENV_DIR/env.tmp"; mv "$ENV_DIR/env.tmp" "$ENV_DIR/env"

  # Laid out like mounted Kubernetes Secrets: secrets/<secret>/<key>, no trailing newline.
  for s in pg-credentials mqtt-credentials s3-credentials; do mkdir -p "$ENV_DIR/secrets/$s"; done
  chmod 0700 "$ENV_DIR/secrets"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/pg-credentials/username"
  printf '%s' "$pg_pw" >"$ENV_DIR/secrets/pg-credentials/password"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/mqtt-credentials/username"
  printf '%s' "$mqtt_pw" >"$ENV_DIR/secrets/mqtt-credentials/password"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/s3-credentials/accessKeyId"
  printf '%s' "$s3_pw" >"$ENV_DIR/secrets/s3-credentials/secretAccessKey"

  cat >"$ENV_DIR/pipeline.yaml" <<EOF
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata:
  name: test
  namespace: default
spec:
  source:
    brokers: ["mqtt://127.0.0.1:$MQTT_PORT"]
    topicFilter: "t/+/d/+/evt/#"
    sharedGroup: mqtt2pg
    auth:
      secretRef: {name: mqtt-credentials}
  sink:
    postgres:
      host: 127.0.0.1
      port: $PGBOUNCER_PORT
      database: $APP_USER
      credentialsSecretRef: {name: pg-credentials}
    pgbouncer:
      enabled: false
  deadLetter:
    s3:
      bucket: $S3_BUCKET
      endpoint: http://127.0.0.1:$MINIO_PORT
      region: $S3_REGION
      forcePathStyle: true
      credentialsSecretRef: {name: s3-credentials}
EOF
}
