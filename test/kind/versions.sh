# shellcheck shell=bash disable=SC2034  # sourced by test/kind/run.sh
# Pinned tools and images of the kind e2e. kubectl and helm come from test/env/versions.sh (built from their
# Go modules like the local test environment's); the node image is the one kind v0.33.0 was released with
# for Kubernetes 1.34 (digest from its release notes: kind only guarantees images built for its version).
KIND_VERSION=v0.33.0
KIND_NODE_IMAGE=kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d
KIND_CLUSTER=${KIND_CLUSTER:-mqtt2pg-e2e}
# The image test/kind/manifests/jobs.yaml and the chart install name (kind-loaded, never pulled).
E2E_IMAGE=mqtt2pg:e2e
