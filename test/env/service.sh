#!/usr/bin/env bash
# Stops or starts one service of the test environment, e.g. to simulate a PostgreSQL outage:
#   test/env/service.sh stop|start|restart|kill|status <postgres|pgbouncer|mosquitto|minio|etcd|kube-apiserver>
# stop: graceful (SIGTERM; SIGINT = fast shutdown for PostgreSQL), SIGKILL after the timeout.
# kill: SIGKILL at once (crash). start: waits until healthy. status: exit 0 if ours and healthy.
set -euo pipefail
# shellcheck source=test/env/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

usage() { die "usage: service.sh stop|start|restart|kill|status <${SERVICES[*]}>"; }
[ $# -eq 2 ] || usage
action=$1 svc=$2
is_service "$svc" || usage

case "$action" in
  status)
    if pid=$(svc_pid "$svc") && health "$svc"; then echo "$svc up (pid $pid)"; else echo "$svc down"; exit 1; fi
    ;;
  stop | kill | start | restart)
    need_common
    ensure_env_dir
    lock_env
    case "$action" in
      stop) stop_service "$svc" ;;
      kill) stop_service "$svc" KILL ;;
      start) ensure_service "$svc" ;;
      restart) stop_service "$svc"; ensure_service "$svc" ;;
    esac
    ;;
  *) usage ;;
esac
