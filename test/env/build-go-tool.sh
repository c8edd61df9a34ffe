#!/usr/bin/env bash
# Builds one pinned test binary from its Go module into the tool cache, once.
# Usage: build-go-tool.sh kube-apiserver|kubectl|etcd|minio|helm|promtool|comqtt|comqtt-cluster|mochi
# Why a script: no Debian package ships kube-apiserver, helm or the Go MQTT brokers (Comqtt, Mochi), Debian's etcd is too old for
# Kubernetes >= 1.31 health checks, and MinIO is only published as a Go module here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/env/versions.sh
. "$here/versions.sh"

tool=${1:?usage: build-go-tool.sh kube-apiserver|kubectl|etcd|minio|helm|promtool|comqtt|comqtt-cluster|mochi}
mkdir -p "$TOOLS_BIN"

case "$tool" in
  kube-apiserver) version=$KUBERNETES_VERSION; module=k8s.io/kubernetes; pkg=k8s.io/kubernetes/cmd/kube-apiserver ;;
  kubectl) version=$KUBERNETES_VERSION; module=k8s.io/kubernetes; pkg=k8s.io/kubernetes/cmd/kubectl ;;
  etcd) version=$ETCD_VERSION; module=go.etcd.io/etcd/server/v3; pkg=go.etcd.io/etcd/server/v3 ;;
  minio) version=$MINIO_VERSION; module=github.com/minio/minio; pkg=github.com/minio/minio ;;
  helm) version=$HELM_VERSION; module=helm.sh/helm/v3; pkg=helm.sh/helm/v3/cmd/helm ;;
  promtool) version=$PROMETHEUS_VERSION; module=github.com/prometheus/prometheus; pkg=github.com/prometheus/prometheus/cmd/promtool ;;
  comqtt) version=$COMQTT_VERSION; module=github.com/wind-c/comqtt/v2; pkg=github.com/wind-c/comqtt/v2/cmd/single ;;
  # The same module's clustered broker (gossip membership, Raft, sessions in Redis).
  comqtt-cluster) version=$COMQTT_VERSION; module=github.com/wind-c/comqtt/v2; pkg=github.com/wind-c/comqtt/v2/cmd/cluster ;;
  mochi) version=$MOCHI_VERSION; module=github.com/mochi-mqtt/server/v2; pkg=github.com/mochi-mqtt/server/v2/cmd ;;
  *) echo "build-go-tool.sh: unknown tool '$tool' (expected kube-apiserver, kubectl, etcd, minio, helm, promtool, comqtt, comqtt-cluster or mochi)" >&2; exit 2 ;;
esac

out="$TOOLS_BIN/$tool-$version"
if [ -x "$out" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-go-tool.sh: 'go' is not installed; it is needed once to build $tool $version (install Go >= 1.24 from https://go.dev/dl and put its bin directory on PATH; Debian 12's golang package is too old)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "building $tool $version from $module (first run only; cached in $TOOLS_BIN)" >&2
go mod init mqtt2pg-tools >/dev/null 2>&1
go mod edit -require="$module@$version"
if [ "$module" = k8s.io/kubernetes ]; then
  # k8s.io/kubernetes lists its staging modules at v0.0.0; map each to its published release.
  gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod
  go mod download "k8s.io/kubernetes@$version"
  staging=v0.${version#v1.}
  grep -E '^\s*k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | while read -r m; do
    go mod edit -replace="$m=$m@$staging"
  done
fi
printf 'package main\nimport _ "%s"\n' "$pkg" > tools.go
tags=
if [ "$tool" = promtool ]; then
  # Prometheus's own build tag: without its ~25 service-discovery plugins (cloud SDKs promtool's rule tests never
  # use) the build compiles a fraction of the module graph. No `go mod tidy` either: it would download every
  # plugin's dependencies, which -mod=mod fetches only for the packages actually built.
  tags=remove_all_sd
else
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
fi
ldflags='-s -w'
if [ "$tool" = helm ]; then
  # As helm's own Makefile does: without these, helm reports v3.x and templates/lints against Kubernetes
  # v1.20, failing every chart whose kubeVersion asks for a current cluster.
  k8s_minor=$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
  for p in pkg/chartutil pkg/lint/rules; do
    ldflags+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$k8s_minor"
  done
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=$version"
fi
t0=$SECONDS
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags="$tags" -ldflags="$ldflags" -o "$out.tmp" "$pkg"
mv "$out.tmp" "$out"
echo "built $out in $((SECONDS - t0))s" >&2
