#!/usr/bin/env bash
# Stops the services test/env/up.sh started (only the processes named in <env>/run/*.pid that still run the
# expected binary). Data is kept unless --purge is given, which also removes the whole environment directory
# (and the services' folder under /var/tmp when state.sh chose one).
set -euo pipefail
# shellcheck source=test/env/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "usage: down.sh [--purge] (unknown argument '$arg')" ;;
  esac
done

if [ -d "$ENV_DIR/run" ]; then
  stopped=0
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    svc=${SERVICES[i]}
    if svc_pid "$svc" >/dev/null; then stopped=1; fi
    stop_service "$svc"
  done
  for f in "$ENV_DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    log "test-env: leaving $f alone (not a service of this environment)"
  done
  [ "$stopped" = 1 ] || echo "test environment: nothing was running"
else
  echo "test environment: nothing to stop ($ENV_DIR does not exist)"
fi

if [ "$purge" = 1 ] && [ -d "$ENV_DIR" ]; then
  [ -f "$ENV_DIR/.mqtt2pg-test-env" ] || die "refusing to remove $ENV_DIR: it lacks the .mqtt2pg-test-env mark of a test environment"
  if [ "$SVC_DIR" != "$ENV_DIR" ] && [ -f "$SVC_DIR/.mqtt2pg-test-env" ]; then
    rm -rf "$SVC_DIR"
    echo "removed $SVC_DIR"
  fi
  rm -rf "$ENV_DIR"
  echo "removed $ENV_DIR"
fi
