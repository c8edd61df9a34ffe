#!/usr/bin/env bash
# `make demo-worker`: one pipeline end to end without the operator or a cluster. Starts PostgreSQL, PgBouncer,
# Mosquitto (MQTT 5) and MinIO locally (test/env/up.sh --only ...), runs `mqtt2pg worker` on the generated
# pipeline, publishes device traffic with `mqtt2pg loadgen`, and prints what landed. Stops what it started.
# (`make demo` shows the same through the operator and kubectl: scripts/demo.sh.)
#   DEMO_RATE (messages/s, default 5000)  DEMO_DURATION (default 15s)  DEMO_MALFORMED (ratio, default 0.01)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH

services=(postgres pgbouncer mosquitto minio)
started=()
for s in "${services[@]}"; do test/env/service.sh status "$s" >/dev/null 2>&1 || started+=("$s"); done
worker_pid=
cleanup() {
  local rc=$?
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid"
    wait "$worker_pid" || true
  fi
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do test/env/service.sh stop "${started[$i]}" >/dev/null 2>&1 || true; done
  exit "$rc"
}
trap cleanup EXIT

echo "== starting PostgreSQL 15, PgBouncer, Mosquitto and MinIO on 127.0.0.1"
test/env/up.sh --only "$(IFS=,; echo "${services[*]}")"
set -a
# shellcheck disable=SC1091
. .test-env/env
set +a

demo_dir=.test-env/demo
rm -rf "$demo_dir" && mkdir -p "$demo_dir"
echo "== the pipeline (.test-env/pipeline.yaml):"
sed 's/^/   /' "$PIPELINE_FILE"
node cli/main.ts validate -f "$PIPELINE_FILE" --secrets-dir "$SECRETS_DIR"

echo "== starting the worker (log: $demo_dir/worker.log)"
node cli/main.ts worker -f "$PIPELINE_FILE" --secrets-dir "$SECRETS_DIR" --wal-dir "$demo_dir/wal" \
  --metrics-port 0 --health-port 0 --listen-host 127.0.0.1 --instance demo >"$demo_dir/worker.log" 2>&1 &
worker_pid=$!
health_port=
for _ in $(seq 1 300); do
  kill -0 "$worker_pid" 2>/dev/null || { cat "$demo_dir/worker.log" >&2; echo "demo: the worker exited" >&2; exit 1; }
  health_port=$(grep -o '"healthPort":[0-9]*' "$demo_dir/worker.log" | head -1 | cut -d: -f2 || true)
  if [ -n "$health_port" ] && curl -fs "http://127.0.0.1:$health_port/readyz" >/dev/null; then break; fi
  sleep 0.1
done
metrics_port=$(grep -o '"metricsPort":[0-9]*' "$demo_dir/worker.log" | head -1 | cut -d: -f2)
metric() { curl -fs "http://127.0.0.1:$metrics_port/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }

run_id=demo$(date +%s)
echo "== publishing device traffic (QoS 1, ${DEMO_RATE:-5000} msg/s for ${DEMO_DURATION:-15s}, ${DEMO_MALFORMED:-0.01} malformed)"
node cli/main.ts loadgen --rate "${DEMO_RATE:-5000}" --duration "${DEMO_DURATION:-15s}" \
  --malformed-ratio "${DEMO_MALFORMED:-0.01}" --run-id "$run_id" --devices 200 --tenants 5 >"$demo_dir/loadgen.json"
echo "   loadgen: $(cat "$demo_dir/loadgen.json")"

echo "== waiting for the WAL to drain"
for _ in $(seq 1 600); do
  [ "$(metric mqtt2pg_wal_messages)" = 0 ] && break
  printf '\r   WAL backlog: %s messages ' "$(metric mqtt2pg_wal_messages)"
  sleep 0.2
done
echo

q() { psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "== what landed"
q -c "SELECT count(*) AS telemetry_rows,
             round(count(*) / greatest(extract(epoch FROM max(received_at) - min(received_at)), 1)) AS rows_per_s,
             round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - received_at)) * 1000)::numeric, 1) AS p50_ms,
             round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - received_at)) * 1000)::numeric, 1) AS p99_ms
        FROM telemetry WHERE payload->>'run' = '$run_id'"
echo "   (latency: from the worker reading the PUBLISH to the start of the transaction that committed the row)"
q -c "SELECT id, tenant, device_id, path, left(payload::text, 60) AS payload, received_at
        FROM telemetry WHERE payload->>'run' = '$run_id' ORDER BY id DESC LIMIT 3"
q -c "SELECT reason, count(*) AS rows, left(min(topic), 60) AS example_topic
        FROM telemetry_unparseable WHERE convert_from(payload, 'UTF8') LIKE '%$run_id-%' GROUP BY reason ORDER BY reason"
echo "   worker metrics: received $(metric 'mqtt2pg_received_total') acked $(metric mqtt2pg_acked_total) flushed $(metric mqtt2pg_flushed_rows_total) unparseable $(metric mqtt2pg_unparseable_total) dead letters $(metric mqtt2pg_dead_letters_total)"
echo "== done; the worker drains and stops, and the services this demo started are stopped"
