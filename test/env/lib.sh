# Shared variables of the local test environment; sources its functions, one file per concern (this file is
# sourced by up.sh, down.sh, status.sh, service.sh).
# Every service runs on 127.0.0.1 at a non-default port; state lives in $ENV_DIR (default $REPO/.test-env):
#   logs/<svc>.log  run/<svc>.pid  credentials/<name>  secrets/<secret>/<key>  env  kubeconfig  pipeline.yaml
# except the files of services that run as other OS users (pg/, pgbouncer/, mosquitto/): those live in $SVC_DIR,
# which is $ENV_DIR unless those users cannot enter it (state.sh: resolve_svc_dir).
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
# MQTT2PG_TEST_<NAME>_PORT moves a port (a second environment beside the shared one, e.g. test/integration/env/).
PG_PORT=${MQTT2PG_TEST_PG_PORT:-55432}
PGBOUNCER_PORT=${MQTT2PG_TEST_PGBOUNCER_PORT:-56432}
MQTT_PORT=${MQTT2PG_TEST_MQTT_PORT:-51883}
MQTTS_PORT=${MQTT2PG_TEST_MQTTS_PORT:-58883}
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

svc_port() {
  case "$1" in
    postgres) echo "$PG_PORT" ;; pgbouncer) echo "$PGBOUNCER_PORT" ;; mosquitto) echo "$MQTT_PORT" ;;
    minio) echo $MINIO_PORT ;; etcd) echo $ETCD_PORT ;; kube-apiserver) echo $KUBE_PORT ;;
  esac
}

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=$PATH:/usr/local/go/bin
fi

log() { printf '%s\n' "$*" >&2; }
die() { printf 'test-env: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# shellcheck source=test/env/prereqs.sh
. "$ENV_LIB_DIR/prereqs.sh"
# shellcheck source=test/env/state.sh
. "$ENV_LIB_DIR/state.sh"
SVC_DIR=$(svc_dir)
# shellcheck source=test/env/lifecycle.sh
. "$ENV_LIB_DIR/lifecycle.sh"
# shellcheck source=test/env/postgres.sh
. "$ENV_LIB_DIR/postgres.sh"
# shellcheck source=test/env/mosquitto.sh
. "$ENV_LIB_DIR/mosquitto.sh"
# shellcheck source=test/env/minio.sh
. "$ENV_LIB_DIR/minio.sh"
# shellcheck source=test/env/kube.sh
. "$ENV_LIB_DIR/kube.sh"
# shellcheck source=test/env/outputs.sh
. "$ENV_LIB_DIR/outputs.sh"
