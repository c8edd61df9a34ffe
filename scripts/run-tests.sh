#!/usr/bin/env bash
# Runs a test suite with Node's test runner. unit: every *.test.ts outside test/integration/ (pure logic and
# the WAL on a temporary directory; no services). integration: test/integration/**, which needs the services
# of `make test-env` and reads their addresses from .test-env/env.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:?usage: run-tests.sh unit|integration}
case "$suite" in
  unit)
    mapfile -t files < <(git ls-files -co --exclude-standard '*.test.ts' | grep -v -E '^test/integration/' | sort)
    ;;
  integration)
    env_file=${MQTT2PG_TEST_ENV_DIR:-.test-env}/env
    [ -f "$env_file" ] || { echo "run-tests: $env_file is missing; start the services first with 'make test-env'" >&2; exit 1; }
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
    mapfile -t files < <(git ls-files -co --exclude-standard 'test/integration/*.test.ts' | sort)
    ;;
  *) echo "run-tests: unknown suite '$suite' (unit or integration)" >&2; exit 2 ;;
esac
[ "${#files[@]}" -gt 0 ] || { echo "run-tests: no $suite tests found" >&2; exit 1; }
echo "== $suite tests: ${#files[@]} files on Node $(node --version)"
# One file at a time for integration suites: they share the services.
concurrency=$([ "$suite" = unit ] && echo 2 || echo 1)
exec node --test --test-concurrency="$concurrency" --test-reporter=spec --test-timeout=600000 "${files[@]}"
