#!/usr/bin/env bash
# Starts the local test environment on 127.0.0.1: PostgreSQL 15 (:55432), PgBouncer (:56432), Mosquitto 2
# (:51883), MinIO (:59000), etcd (:52379) and kube-apiserver (:56443). Idempotent: services of a previous
# run that are still healthy are kept. Installs missing Debian packages (as root) and builds the pinned
# Go tools once. State in $MQTT2PG_TEST_ENV_DIR (default <repo>/.test-env; as root, when other users cannot
# enter it, PostgreSQL, PgBouncer and Mosquitto keep their files under /var/tmp: state.sh); tests read its 'env' file:
#   set -a; . .test-env/env; set +a
# The interop suite's brokers (Comqtt, Mochi, HiveMQ CE, Moquette, Redis) come with the whole environment
# (make test) or with --interop (make interop); make demo and make bench start services --only and skip them.
set -euo pipefail
# shellcheck source=test/env/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

only=("${SERVICES[@]}")
interop=1
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ -n "${2:-}" ] || die "usage: up.sh [--only svc,svc,...] [--interop] (services: ${SERVICES[*]})"
      IFS=, read -r -a only <<<"$2"
      for svc in "${only[@]}"; do is_service "$svc" || die "unknown service '$svc' (services: ${SERVICES[*]})"; done
      [ "$interop" = force ] || interop=
      shift 2
      ;;
    --interop) interop=force; shift ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      echo "--only svc,svc,... starts only those services (of: ${SERVICES[*]}); --interop also readies the interop brokers"
      exit 0
      ;;
    *) die "usage: up.sh [--only svc,svc,...] [--interop] (unknown argument '$1')" ;;
  esac
done
wanted() { local s; for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

t_all=$(now)
need_common
ensure_env_dir
lock_env

# Everything that may have to be installed or built comes first, so a missing prerequisite fails before
# anything is started.
for tool in etcd kube-apiserver minio; do if wanted "$tool"; then need_tool "$tool"; fi; done
# The other brokers of the interop suite (test/integration/brokers/) come with Mosquitto; the tests start them.
if wanted mosquitto && [ -n "$interop" ]; then for tool in comqtt comqtt-cluster mochi hivemq moquette; do need_tool "$tool"; done; need_pkg redis-server redis-server; fi
if wanted kube-apiserver; then command -v kubectl >/dev/null 2>&1 || need_tool kubectl; fi

for svc in "${only[@]}"; do ensure_service "$svc"; done
write_outputs

printf 'test environment ready in %s: set -a; . %s/env; set +a\n' "$(elapsed "$t_all")" "$ENV_DIR"
