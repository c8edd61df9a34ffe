#!/usr/bin/env bash
# `make test`: lint, unit tests, then the integration suites against real services. Starts the test
# environment if it is not already running and stops it afterwards only if this run started it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH

started=
cleanup() {
  local rc=$?
  if [ -n "$started" ]; then
    echo "== stopping the test environment this run started"
    test/env/down.sh || true
  fi
  exit "$rc"
}
trap cleanup EXIT

t0=$SECONDS
echo "== lint"
make --no-print-directory lint
echo "== unit"
scripts/run-tests.sh unit

if test/env/status.sh >/dev/null 2>&1; then
  echo "== test environment already running: using it (left running afterwards)"
else
  started=1
  echo "== starting the test environment"
  test/env/up.sh
fi
echo "== integration"
scripts/run-tests.sh integration
echo "== make test passed in $((SECONDS - t0))s"
