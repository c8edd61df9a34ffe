# mqtt2pg — every task a developer or CI runs. `make test` is the README's test command and what .ci/run calls.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# Node 24 comes from the `node` npm package (node_modules/.bin/node) where the system's Node is older.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NPM_STAMP := node_modules/.package-lock.json

.PHONY: help demo demo-worker bench interop e2e-kind deps build crds crds-check lint typecheck test test-unit test-integration test-env test-env-down clean e2e-local

help:
	@echo "make bench          measure throughput, latency, drain and memory against the machine's own limits"
	@echo "make interop        the worker's kill -9 ledger test against Mosquitto, Comqtt (single and 2-node cluster), Mochi and HiveMQ CE at full size (docs/brokers.md)"
	@echo "make e2e-kind       the end-to-end suite on a kind cluster (needs Docker): image, chart, pipeline, load, kill a worker"
	@echo "make demo           run a pipeline end to end on local PostgreSQL, PgBouncer, Mosquitto, MinIO and print what landed"
	@echo "make soak           1M QoS 1 messages, two workers, 20 kill -9: prints acknowledged, stored, lost, duplicates (docs/reliability.md)"
	@echo "make test           install what the tests need, start the services, run every suite, stop what it started"
	@echo "make test-unit      fast tests of pure logic (no services)"
	@echo "make test-env       start PostgreSQL, PgBouncer, Mosquitto, MinIO, etcd, kube-apiserver on 127.0.0.1"
	@echo "make test-env-down  stop them"
	@echo "make build          compile TypeScript to dist/"
	@echo "make crds           regenerate crds/ingestpipelines.mqtt2pg.io.yaml from api/schema.ts"
	@echo "make lint           formatting, lint, type check, import layers, shellcheck, CRD drift"

# npm ci only when package-lock.json changed since the last install.
$(NPM_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

deps: $(NPM_STAMP)
	@node -e 'const [M]=process.versions.node.split("."); if (+M < 24) { console.error("Node " + process.version + " is on PATH; the project needs Node 24 (npm ci installs it into node_modules/.bin)"); process.exit(1) }'

build: deps
	tsc -p tsconfig.build.json

crds: deps
	node crds/generate.ts

crds-check: deps
	node crds/generate.ts --check

typecheck: deps
	tsc -p tsconfig.json

lint: deps crds-check typecheck
	biome check .
	node scripts/check-layers.ts
	scripts/shellcheck.sh
	scripts/check-packaging.sh

test-unit: deps
	scripts/run-tests.sh unit

test-integration: deps
	scripts/run-tests.sh integration

test-env:
	test/env/up.sh

test-env-down:
	test/env/down.sh

test: deps
	scripts/test.sh

demo: deps
	scripts/demo.sh

demo-worker: deps
	scripts/demo-worker.sh

# Needs Docker (kind); the same scenarios run without Docker in make test (test/integration/e2e/local-cluster-*.test.ts).
e2e-kind: deps
	test/kind/run.sh

# Benchmarks against same-run limits (about 20 minutes: 3 rounds, the operator at 1,000 pipelines); results in
# bench/results, plots in docs/benchmarks.
bench: deps
	test/env/up.sh --only postgres,pgbouncer,mosquitto,minio,etcd,kube-apiserver
	set -a; . .test-env/env; set +a; node bench/run.ts

# The interop suite at the issue's size (100k QoS 1 messages at 5,000/s per broker; make test runs 3,000).
interop: deps
	test/env/up.sh --only postgres,pgbouncer,mosquitto,minio --interop
	set -a; . .test-env/env; set +a; \
	  MQTT2PG_INTEROP_COUNT=$${MQTT2PG_INTEROP_COUNT:-100000} MQTT2PG_INTEROP_RATE=$${MQTT2PG_INTEROP_RATE:-5000} \
	  node --test --test-concurrency=1 --test-reporter=spec --test-timeout=3600000 test/integration/brokers/interop.test.ts test/integration/brokers/comqtt-cluster.interop.ts

clean:
	rm -rf dist

# The e2e scenarios on a local cluster without Docker: the test environment's kube-apiserver, the operator as a
# process and test/local-cluster/pod-runner.ts as kubelet and controllers (also part of make test).
e2e-local: deps
	scripts/e2e-local.sh

# 1M messages with 20 kill -9 of two workers (about 2 minutes here); not part of make test, which runs its short form.
.PHONY: soak
soak: deps
	test/env/up.sh --only postgres,pgbouncer,mosquitto,minio
	set -a; . $${MQTT2PG_TEST_ENV_DIR:-.test-env}/env; set +a; node bench/soak.ts
