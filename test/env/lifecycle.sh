# shellcheck shell=bash
# Service processes: which binary each one runs, start, health, stop (sourced by lib.sh). Each service's
# own file provides prepare_<svc> and start_<svc> (postgres.sh, mosquitto.sh, minio.sh, kube.sh).

# The binary a service's pid must be running, to tell our process from a recycled pid.
svc_exe() {
  case "$1" in
    postgres) printf '%s' "$PG_BIN/postgres" ;;
    pgbouncer) command -v pgbouncer || printf /usr/sbin/pgbouncer ;;
    mosquitto) command -v mosquitto || printf /usr/sbin/mosquitto ;;
    minio | etcd | kube-apiserver) tool_path "$1" ;;
    *) return 1 ;;
  esac
}

# svc_pid NAME: print the pid of the service's process if it is alive and runs the expected binary.
svc_pid() {
  local f pid exe want
  f=$(pid_file "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  proc_alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  want=$(readlink -f "$(svc_exe "$1")")
  [ "$exe" = "$want" ] || return 1
  printf '%s' "$pid"
}

# launch NAME USER CMD...: start CMD in its own session, detached, logging to logs/NAME.log; records the pid.
launch() {
  local name=$1 user=$2; shift 2
  local logf=$ENV_DIR/logs/$name.log
  local -a as=()
  if [ "$user" != "$(id -un)" ]; then as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --); fi
  printf '\n==== %s start %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$logf"
  # Without job control a background job is not a process-group leader, so setsid (and setpriv, env) exec
  # in place: $! is the daemon itself, and it leads its own process group (stop can reach its children).
  # fd 9 is the environment lock (lock_env): the daemon must not inherit it.
  setsid "${as[@]}" "$@" </dev/null >>"$logf" 2>&1 9>&- &
  printf '%s\n' "$!" >"$(pid_file "$name")"
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_healthy NAME TIMEOUT: poll the service's health check; on timeout print its log tail and fail.
wait_healthy() {
  local name=$1 timeout=${ENV_TIMEOUT:-$2} deadline
  deadline=$(( $(date +%s) + timeout ))
  while true; do
    if health "$name"; then return 0; fi
    if ! svc_pid "$name" >/dev/null; then
      log "test-env: $name exited during startup; last 30 lines of $ENV_DIR/logs/$name.log:"
      tail -n 30 "$ENV_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "test-env: $name not healthy after ${timeout}s; last 30 lines of $ENV_DIR/logs/$name.log:"
      tail -n 30 "$ENV_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# proc_alive PID: running and not a zombie (an unreaped zombie keeps its pid until init collects it).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

stop_signal() { case "$1" in postgres) echo INT ;; *) echo TERM ;; esac; } # postgres: TERM = wait for clients

# stop_service NAME [KILL]: signal our process (only if the pid still runs the expected binary), await its exit,
# SIGKILL its process group after the timeout; removes the pid file. Prints one line; silent if not running.
stop_service() {
  local name=$1 sig pid t0 deadline
  sig=$(stop_signal "$name")
  [ "${2:-}" = KILL ] && sig=KILL
  if ! pid=$(svc_pid "$name"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  t0=$(now)
  kill -s "$sig" "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + ${ENV_TIMEOUT:-30} ))
  while proc_alive "$pid"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "test-env: $name (pid $pid) did not exit after SIG$sig; sending SIGKILL"
      kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null || true
      deadline=$(( $(date +%s) + 10 ))
      sig=KILL
    fi
    sleep 0.1
  done
  # Children of a killed leader (e.g. PostgreSQL backends after SIGKILL) go with it.
  if [ "$sig" = KILL ]; then kill -s KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$(pid_file "$name")"
  printf '%-15s stopped (pid %s, SIG%s, %s)\n' "$name" "$pid" "$sig" "$(elapsed "$t0")"
}

health() {
  case "$1" in
    postgres) "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -t 2 ;;
    pgbouncer)
      PGPASSWORD=$(cred pg-mqtt2pg) PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -w -h 127.0.0.1 -p "$PGBOUNCER_PORT" \
        -U "$APP_USER" -d pgbouncer -tAc 'SHOW VERSION' >/dev/null 2>&1 ;;
    mosquitto)
      # shellcheck disable=SC2016 # $SYS is a topic, not a variable
      mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$MQTT_PORT" -u "$APP_USER" -P "$(cred mqtt-mqtt2pg)" \
        -t '$SYS/broker/version' -C 1 -W 2 >/dev/null 2>&1 ;;
    minio) curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready" 2>/dev/null ;;
    etcd) curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kube-apiserver)
      [ -f "$ENV_DIR/kube/pki/ca.crt" ] || return 1
      [ "$(curl -sS -m 3 --cacert "$ENV_DIR/kube/pki/ca.crt" -H "Authorization: Bearer $(cred kube-admin-token)" \
        "https://127.0.0.1:$KUBE_PORT/readyz" 2>/dev/null)" = ok ] ;;
    *) return 1 ;;
  esac
}

# ensure_service NAME: prepare the service's files, start it unless ours is already running, await health.
# Prints one progress line.
ensure_service() {
  local name=$1 t0 pid port timeout
  t0=$(now)
  port=$(svc_port "$name")
  case "$name" in kube-apiserver) timeout=180 ;; minio | etcd | postgres) timeout=60 ;; *) timeout=30 ;; esac
  "prepare_$name"
  if pid=$(svc_pid "$name"); then
    wait_healthy "$name" "$timeout"
    after_start "$name"
    printf '%-15s already running on 127.0.0.1:%s  (pid %s)\n' "$name" "$port" "$pid"
    return 0
  fi
  rm -f "$(pid_file "$name")"
  if port_in_use "$port"; then
    die "$name: port $port is already taken by a process this environment did not start: $(ss -Hltnp "sport = :$port" 2>/dev/null | head -1)"
  fi
  "start_$name"
  wait_healthy "$name" "$timeout"
  after_start "$name"
  printf '%-15s started on 127.0.0.1:%s  (%s)\n' "$name" "$port" "$(elapsed "$t0")"
}
after_start() {
  case "$1" in
    postgres) bootstrap_postgres ;;
    minio) bootstrap_minio ;;
  esac
}

is_service() {
  local s
  for s in "${SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}
