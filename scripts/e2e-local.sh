#!/usr/bin/env bash
# `make e2e-local`: the end-to-end scenarios on the local cluster (kube-apiserver + etcd of the test
# environment, the operator as a process, test/local-cluster/pod-runner.ts as kubelet and controllers). No
# Docker needed. Starts the test environment (test/env/up.sh is idempotent: running services are reused) and
# leaves it running afterwards, so services another run started are never stopped (make test-env-down stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH

echo "== test environment"
test/env/up.sh
env_file=${MQTT2PG_TEST_ENV_DIR:-.test-env}/env
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
echo "== local cluster e2e on Node $(node --version)"
t0=$SECONDS
rc=0
node --test --test-concurrency=1 --test-reporter=spec --test-timeout=900000 test/local-cluster/*.test.ts test/integration/e2e/local-cluster-*.test.ts || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "== e2e-local FAILED after $((SECONDS - t0))s (pod and operator logs are printed above the failing scenario)" >&2
  exit "$rc"
fi
echo "== e2e-local passed in $((SECONDS - t0))s (test environment left running; make test-env-down stops it)"
