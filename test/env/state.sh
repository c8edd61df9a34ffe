# shellcheck shell=bash
# State of the test environment in $ENV_DIR: service users, directories, credentials, pid files and the
# environment lock (sourced by lib.sh).

# PostgreSQL and PgBouncer refuse to run as root: as root they run as the 'postgres' OS user.
svc_user() {
  if ! is_root; then id -un; return; fi
  case "$1" in postgres | pgbouncer) printf postgres ;; *) id -un ;; esac
}
# run_as USER CMD...: exec CMD as USER (for one-off commands; call it in a subshell).
run_as() {
  local user=$1; shift
  if [ "$user" = "$(id -un)" ]; then exec "$@"; fi
  exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
}
own() { # own USER PATH...: hand PATH to USER when running as root
  local user=$1; shift
  if is_root && [ "$user" != root ]; then chown -R "$user:$(id -gn "$user")" "$@"; fi
}

ensure_env_dir() {
  mkdir -p "$ENV_DIR"/{logs,run,credentials,secrets}
  chmod 0755 "$ENV_DIR" "$ENV_DIR/logs" "$ENV_DIR/run"
  chmod 0700 "$ENV_DIR/credentials"
  # The directory keeps itself out of git, and marks itself as ours (down.sh --purge checks the mark).
  [ -f "$ENV_DIR/.gitignore" ] || printf '*\n' >"$ENV_DIR/.gitignore"
  [ -f "$ENV_DIR/.mqtt2pg-test-env" ] || printf 'state of test/env/up.sh; remove with test/env/down.sh --purge\n' >"$ENV_DIR/.mqtt2pg-test-env"
}

# Service users must reach files under $ENV_DIR: every ancestor needs search (x) permission for them.
check_traversable() {
  local user=$1 d=$ENV_DIR
  [ "$user" = "$(id -un)" ] && return 0
  if ( run_as "$user" test -x "$ENV_DIR" ) 2>/dev/null; then return 0; fi
  while [ "$d" != / ]; do
    if ! ( run_as "$user" test -x "$d" ) 2>/dev/null; then
      die "the '$user' OS user cannot enter $d (needed for $ENV_DIR): run 'chmod o+x $d' or set MQTT2PG_TEST_ENV_DIR to a directory under a world-searchable path"
    fi
    d=$(dirname "$d")
  done
  die "the '$user' OS user cannot enter $ENV_DIR"
}

# cred NAME: a random secret generated on first use, stable across runs (hex: safe in URLs and shells).
cred() {
  local f=$ENV_DIR/credentials/$1
  if [ ! -s "$f" ]; then
    mkdir -p "$ENV_DIR/credentials"
    (umask 077; openssl rand -hex 16 >"$f.tmp" && mv "$f.tmp" "$f")
  fi
  cat "$f"
}

pid_file() { printf '%s' "$ENV_DIR/run/$1.pid"; }

# lock_env: one up/service run at a time per environment (held on fd 9 until the script exits).
lock_env() {
  exec 9>"$ENV_DIR/run/.lock"
  if ! flock -n 9; then
    log "test-env: waiting for another test/env script working on $ENV_DIR"
    flock -w "${ENV_TIMEOUT:-600}" 9 || die "timed out waiting for the lock $ENV_DIR/run/.lock"
  fi
}
