#!/usr/bin/env bash
# Prints each test-environment service as up, unhealthy or down; exits 0 only if all are up and healthy.
set -euo pipefail
# shellcheck source=test/env/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

rc=0
for svc in "${SERVICES[@]}"; do
  if pid=$(svc_pid "$svc"); then
    if health "$svc"; then
      printf '%-15s up         127.0.0.1:%s  pid %s\n' "$svc" "$(svc_port "$svc")" "$pid"
    else
      printf '%-15s unhealthy  127.0.0.1:%s  pid %s  (log: %s)\n' "$svc" "$(svc_port "$svc")" "$pid" "$ENV_DIR/logs/$svc.log"
      rc=1
    fi
  else
    printf '%-15s down\n' "$svc"
    rc=1
  fi
done
exit "$rc"
