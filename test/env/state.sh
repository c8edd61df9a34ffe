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

# Where PostgreSQL, PgBouncer and Mosquitto keep their files. As root they run as the 'postgres' and 'mosquitto'
# OS users, who must enter every folder above their files: a clone under a 0700 home (/root) cannot hold them.
# Then they live in a folder of their own under /var/tmp (named for $ENV_DIR, owned by the caller, mode 0755),
# chosen once and recorded in $ENV_DIR/services-dir, so a later chmod never moves a database; everything else
# (env, kubeconfig, secrets, logs) stays in $ENV_DIR, where tests read it.
svc_dir() {
  if [ -s "$ENV_DIR/services-dir" ]; then cat "$ENV_DIR/services-dir"; else printf '%s' "$ENV_DIR"; fi
}
# world_searchable DIR: every folder from / down to DIR lets any user enter it (o+x).
world_searchable() {
  local d=$1 mode
  while [ "$d" != / ] && [ -n "$d" ]; do
    if [ -e "$d" ]; then
      mode=$(stat -c %A "$d") || return 1
      case "${mode:9:1}" in x | t) ;; *) return 1 ;; esac
    fi
    d=$(dirname "$d")
  done
}
resolve_svc_dir() {
  if [ ! -s "$ENV_DIR/services-dir" ]; then
    local dir=$ENV_DIR
    if is_root && ! world_searchable "$ENV_DIR"; then
      dir=${MQTT2PG_TEST_SERVICES_ROOT:-/var/tmp}/mqtt2pg-test-env-$(printf '%s' "$ENV_DIR" | sha256sum | cut -c1-12)
      log "test-env: other users cannot enter $ENV_DIR; PostgreSQL, PgBouncer and Mosquitto keep their files in $dir"
    fi
    printf '%s\n' "$dir" >"$ENV_DIR/services-dir.tmp" && mv "$ENV_DIR/services-dir.tmp" "$ENV_DIR/services-dir"
  fi
  SVC_DIR=$(svc_dir)
  if [ "$SVC_DIR" != "$ENV_DIR" ]; then
    mkdir -p "$SVC_DIR"
    # A name under /var/tmp is guessable: refuse a folder someone else made (or a symlink) before using it.
    if [ -L "$SVC_DIR" ] || [ "$(stat -c %u "$SVC_DIR")" != "$(id -u)" ]; then
      die "$SVC_DIR is a symlink or belongs to another user: remove it (or set MQTT2PG_TEST_SERVICES_ROOT to another folder, and remove $ENV_DIR/services-dir)"
    fi
    chmod 0755 "$SVC_DIR"
    [ -f "$SVC_DIR/.mqtt2pg-test-env" ] || printf 'service files of the test environment in %s; down.sh --purge removes both\n' "$ENV_DIR" >"$SVC_DIR/.mqtt2pg-test-env"
  fi
}

ensure_env_dir() {
  mkdir -p "$ENV_DIR"/{logs,run,credentials,secrets}
  chmod 0755 "$ENV_DIR" "$ENV_DIR/logs" "$ENV_DIR/run"
  chmod 0700 "$ENV_DIR/credentials"
  # The directory keeps itself out of git, and marks itself as ours (down.sh --purge checks the mark).
  [ -f "$ENV_DIR/.gitignore" ] || printf '*\n' >"$ENV_DIR/.gitignore"
  [ -f "$ENV_DIR/.mqtt2pg-test-env" ] || printf 'state of test/env/up.sh; remove with test/env/down.sh --purge\n' >"$ENV_DIR/.mqtt2pg-test-env"
  resolve_svc_dir
}

# Service users must reach their files under $SVC_DIR: every ancestor needs search (x) permission for them.
check_traversable() {
  local user=$1 d=$SVC_DIR
  [ "$user" = "$(id -un)" ] && return 0
  if ( run_as "$user" test -x "$SVC_DIR" ) 2>/dev/null; then return 0; fi
  while [ "$d" != / ]; do
    if ! ( run_as "$user" test -x "$d" ) 2>/dev/null; then
      die "the '$user' OS user cannot enter $d (needed for $SVC_DIR, recorded in $ENV_DIR/services-dir): run 'chmod o+x $d', or remove that record to let up.sh choose a folder under /var/tmp"
    fi
    d=$(dirname "$d")
  done
  die "the '$user' OS user cannot enter $SVC_DIR"
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
