#!/usr/bin/env bash
# Packaging checks of `make lint` (no services needed): generated chart/install/Argo CD files not drifted
# from their sources, `helm lint --strict` with the defaults and every charts/mqtt2pg/ci/*.yaml, the
# Dockerfile and rendered-chart checks of test/packaging/*.check.ts (with `promtool test rules` of the chart's
# alerts: test/alerts/rules.test.yaml), and the Argo CD health check's cases on
# Lua 5.4. Server-side validation against a real API server is in test/integration/e2e/packaging.test.ts (integration).
#   scripts/check-packaging.sh            check
#   scripts/check-packaging.sh --update   regenerate the generated files first (then commit them)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH
# shellcheck source=test/env/versions.sh
. test/env/versions.sh
t0=$SECONDS

case "${1:-}" in
  '') update= ;;
  --update) update=1 ;;
  *) echo "usage: scripts/check-packaging.sh [--update]" >&2; exit 2 ;;
esac

# helm is built once from its Go module (like kube-apiserver): no registry here serves a helm binary.
test/env/build-go-tool.sh helm
helm=$TOOLS_BIN/helm-$HELM_VERSION
# promtool evaluates the chart's alerts (test/packaging/alerts.check.ts), built the same way.
test/env/build-go-tool.sh promtool
promtool=$TOOLS_BIN/promtool-$PROMETHEUS_VERSION

if ! command -v lua5.4 >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.4 >/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.4 >/dev/null
    }
  else
    echo "lua5.4 is missing: install the Debian package 'lua5.4' (sudo apt-get install -y lua5.4)" >&2
    exit 1
  fi
fi

if [ -n "$update" ]; then
  node scripts/packaging/generate.ts --helm "$helm"
fi
node scripts/packaging/generate.ts --helm "$helm" --check

"$helm" lint --strict --quiet charts/mqtt2pg >/dev/null
for values in charts/mqtt2pg/ci/*.yaml; do
  "$helm" lint --strict --quiet charts/mqtt2pg -f "$values" >/dev/null
done
echo "helm lint: charts/mqtt2pg clean with the defaults and $(find charts/mqtt2pg/ci -name '*.yaml' | wc -l) ci values files"

HELM=$helm PROMTOOL=$promtool node --test --test-reporter=dot test/packaging/*.check.ts

cases=$(mktemp)
trap 'rm -f "$cases"' EXIT
node test/packaging/health-cases.ts >"$cases"
lua5.4 manifests/argocd/run-health-tests.lua manifests/argocd/health.lua "$cases" | tail -n 1

echo "packaging checks passed in $((SECONDS - t0))s"
