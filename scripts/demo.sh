#!/usr/bin/env bash
# `make demo`: the product's front door on this machine, no Docker. Starts the test environment's services
# that are not running (PostgreSQL, PgBouncer, Mosquitto, MinIO, etcd, kube-apiserver: test/env/up.sh), then
# runs the tour (scripts/demo/tour.ts): the operator and a local kubelet, `kubectl apply -f` of a pipeline,
# `kubectl get ingestpipelines -w` going Ready, device load, rows, unparseable reasons, status columns,
# `kubectl describe`, `kubectl delete`. Stops the services it started. (`make demo-worker`: the worker alone.)
#   DEMO_RATE (messages/s, default 2000)  DEMO_DURATION (default 15s)  DEMO_MALFORMED (ratio, default 0.01)
#   DEMO_REPLICAS (worker pods, default 2)  DEMO_NAMESPACE (default mqtt2pg-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH

services=(postgres pgbouncer mosquitto minio etcd kube-apiserver)
started=()
for s in "${services[@]}"; do test/env/service.sh status "$s" >/dev/null 2>&1 || started+=("$s"); done
cleanup() {
  local rc=$?
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do test/env/service.sh stop "${started[$i]}" >/dev/null 2>&1 || true; done
  [ "${#started[@]}" -eq 0 ] || echo "== stopped what the demo started: ${started[*]}"
  exit "$rc"
}
trap cleanup EXIT

t0=$SECONDS
if [ "${#started[@]}" -gt 0 ]; then
  echo "== starting ${started[*]} on 127.0.0.1 (the first run builds etcd, kube-apiserver and MinIO from their Go modules)"
  test/env/up.sh --only "$(IFS=,; echo "${started[*]}")"
fi
set -a
# shellcheck disable=SC1091
. "${MQTT2PG_TEST_ENV_DIR:-.test-env}/env"
set +a
node scripts/demo/tour.ts
echo "== make demo took $((SECONDS - t0))s"
