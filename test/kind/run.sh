#!/usr/bin/env bash
# make e2e-kind: the whole loop on a real cluster. Creates a kind cluster, builds the image and loads it,
# installs the chart, runs Mosquitto, PostgreSQL and MinIO in the cluster, applies a pipeline, publishes
# COUNT messages with `mqtt2pg loadgen` (a Job on the same image), kills a worker pod mid-load without
# grace, and asserts every message of the run is in PostgreSQL. Dumps state, logs and events on failure.
# Needs Docker (and Go once, to build kind, kubectl and helm into the tool cache).
#   E2E_COUNT (default 60000)  E2E_RATE (default 2000/s)  KEEP_CLUSTER=1 keeps the cluster afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=test/env/versions.sh
. test/env/versions.sh
# shellcheck source=test/kind/versions.sh
. test/kind/versions.sh

count=${E2E_COUNT:-60000}
rate=${E2E_RATE:-2000}
ns=e2e
run_id=kind-$(date +%s)
t0=$SECONDS

log() { printf '== [%4ss] %s\n' "$((SECONDS - t0))" "$*"; }
die() { printf 'e2e-kind: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed: the kind e2e needs a Docker engine (the local suites of 'make test' do not)"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable ('docker info' fails): start it, or run 'make test' for the suites that need no Docker"

# Pinned tools, built once into the same cache as the test environment's.
test/env/build-go-tool.sh kubectl
test/env/build-go-tool.sh helm
kind=$TOOLS_BIN/kind-$KIND_VERSION
if [ ! -x "$kind" ]; then
  command -v go >/dev/null 2>&1 || die "'go' is needed once to build kind $KIND_VERSION (go install sigs.k8s.io/kind@$KIND_VERSION)"
  log "building kind $KIND_VERSION"
  gobin=$(mktemp -d)
  GOBIN=$gobin CGO_ENABLED=0 go install "sigs.k8s.io/kind@$KIND_VERSION"
  mv "$gobin/kind" "$kind"
  rmdir "$gobin"
fi
kubectl() { "$TOOLS_BIN/kubectl-$KUBERNETES_VERSION" --context "kind-$KIND_CLUSTER" "$@"; }
helm() { "$TOOLS_BIN/helm-$HELM_VERSION" --kube-context "kind-$KIND_CLUSTER" "$@"; }

dump() {
  log "FAILED: state, events and logs of the cluster follow"
  kubectl get nodes -o wide || true
  kubectl get all,ingp,pvc,leases -A -o wide || true
  kubectl describe ingp -n "$ns" || true
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 100 || true
  kubectl logs -n mqtt2pg-system -l app.kubernetes.io/component=operator --all-containers --prefix --tail=300 || true
  for sel in app.kubernetes.io/component=worker app.kubernetes.io/component=pgbouncer app.kubernetes.io/name=loadgen \
    app.kubernetes.io/name=mosquitto app.kubernetes.io/name=postgres job-name=create-bucket; do
    kubectl logs -n "$ns" -l "$sel" --all-containers --prefix --tail=300 || true
    kubectl logs -n "$ns" -l "$sel" --all-containers --prefix --tail=100 --previous 2>/dev/null || true
  done
}
finish() {
  local rc=$?
  [ "$rc" -eq 0 ] || dump
  if [ -n "${KEEP_CLUSTER:-}" ]; then
    log "cluster kept: kubectl --context kind-$KIND_CLUSTER ...; delete with: $kind delete cluster --name $KIND_CLUSTER"
  else
    "$kind" delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}

log "kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
if ! "$kind" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  "$kind" create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" --config test/kind/kind-config.yaml --wait 180s
fi
trap finish EXIT

log "image $E2E_IMAGE"
docker build -t "$E2E_IMAGE" "$repo"
"$kind" load docker-image "$E2E_IMAGE" --name "$KIND_CLUSTER"

log "chart"
helm upgrade --install mqtt2pg charts/mqtt2pg --namespace mqtt2pg-system --create-namespace \
  --set image.repository="${E2E_IMAGE%%:*}" --set image.tag="${E2E_IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout 180s
kubectl wait --for=condition=Established --timeout=60s crd/ingestpipelines.mqtt2pg.io

log "services: Mosquitto, PostgreSQL, MinIO"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
secret() { kubectl create secret generic "$1" -n "$ns" "${@:2}" --dry-run=client -o yaml | kubectl apply -f -; }
pw() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
secret mqtt-credentials --from-literal=username=mqtt2pg --from-literal=password="$(pw)"
secret pg-credentials --from-literal=username=mqtt2pg --from-literal=password="$(pw)"
secret dlq-s3 --from-literal=accessKeyId=mqtt2pg --from-literal=secretAccessKey="$(pw)"
kubectl apply -n "$ns" -f test/kind/manifests/services.yaml
for d in mosquitto postgres minio; do kubectl rollout status -n "$ns" "deployment/$d" --timeout=180s; done
kubectl delete job -n "$ns" create-bucket loadgen --ignore-not-found --wait
kubectl apply -n "$ns" -f test/kind/manifests/bucket-job.yaml
kubectl wait -n "$ns" --for=condition=Complete --timeout=180s job/create-bucket

log "pipeline"
kubectl apply -n "$ns" -f test/kind/manifests/pipeline.yaml
kubectl wait -n "$ns" --for=condition=Ready --timeout=300s ingestpipeline/e2e
kubectl get ingp -n "$ns"

psql() {
  # shellcheck disable=SC2016  # expanded by the shell in the postgres container, where the Secret is in env
  kubectl exec -n "$ns" deploy/postgres -- sh -c 'psql -U "$POSTGRES_USER" -d telemetry -tAc "$1"' _ "$1"
}
landed() {
  psql "select count(distinct payload->>'id') from public.telemetry where payload->>'run' = '$run_id'"
}

log "loadgen: $count messages at $rate/s, run $run_id"
kubectl create configmap loadgen-params -n "$ns" --from-literal=RUN_ID="$run_id" --from-literal=COUNT="$count" \
  --from-literal=RATE="$rate" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$ns" -f test/kind/manifests/loadgen-job.yaml

# Kill a worker once a quarter of the run has landed: mid-load, with acknowledged messages in its WAL.
deadline=$((SECONDS + 300))
until [ "$(landed)" -ge $((count / 4)) ]; do
  [ "$SECONDS" -lt "$deadline" ] || die "fewer than $((count / 4)) rows landed within 300s"
  sleep 1
done
victim=$(kubectl get pods -n "$ns" -l app.kubernetes.io/instance=e2e,app.kubernetes.io/component=worker \
  -o jsonpath='{.items[0].metadata.name}')
log "killing worker $victim without grace at $(landed) rows"
kubectl delete pod -n "$ns" "$victim" --grace-period=0 --force --wait=false

kubectl wait -n "$ns" --for=condition=Complete --timeout=600s job/loadgen
kubectl logs -n "$ns" job/loadgen | tail -n 1

log "waiting for all $count messages of the run in PostgreSQL"
deadline=$((SECONDS + 300))
until [ "$(landed)" -eq "$count" ]; do
  [ "$SECONDS" -lt "$deadline" ] || die "only $(landed) of $count messages of run $run_id landed within 300s after loadgen finished: messages were lost"
  sleep 2
done
unparseable=$(psql "select count(*) from public.telemetry_unparseable")
[ "$unparseable" -eq 0 ] || die "$unparseable rows in telemetry_unparseable: loadgen sends only valid traffic"
duplicates=$(psql "select count(*) - count(distinct payload->>'id') from public.telemetry where payload->>'run' = '$run_id'")
kubectl wait -n "$ns" --for=condition=Ready --timeout=300s ingestpipeline/e2e
log "PASS: $count of $count messages landed ($duplicates redelivered duplicates) across a worker killed mid-load"
