# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the scripts that source it
# Pinned versions of the test services built from source, and where they are cached.
# Sourced by the test-env scripts; change a version here and the next run rebuilds it.
KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
# helm is a packaging-check tool (scripts/check-packaging.sh), built like the services.
HELM_VERSION=v3.22.0
# promtool checks the chart's PrometheusRule (`promtool test rules`, test/alerts/), built from the Prometheus module.
PROMETHEUS_VERSION=v0.316.0
# MQTT brokers of the interop suite (test/integration/brokers/), Go modules built like the services.
COMQTT_VERSION=v2.6.5
MOCHI_VERSION=v2.7.9
# JVM brokers of the interop suite, fetched from Maven Central (test/env/fetch-jvm-tool.sh).
HIVEMQ_VERSION=2025.5
MOQUETTE_VERSION=0.17
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TOOLS_BIN=${MQTT2PG_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mqtt2pg/tools}
