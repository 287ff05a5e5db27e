#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a free loopback port, for the tests and the demo.
#
#   scripts/services/postgres.sh start    # initdb + start; prints the URL
#   scripts/services/postgres.sh url      # the superuser URL of the running cluster
#   scripts/services/postgres.sh stop     # stops the cluster this script started (by its PID) and deletes it
#
# The server comes from Debian's `postgresql` package (installed with apt-get when missing and
# running as root). The URL, with a password generated for this cluster, is written to
# $CIVICLAKE_SERVICES_DIR/postgres/url (default .services/postgres/url); tests read it from there or
# from $CIVICLAKE_TEST_POSTGRES_URL.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
state="${CIVICLAKE_SERVICES_DIR:-$root/.services}/postgres"

bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$dir" ] || [ ! -x "$dir/postgres" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "postgres.sh: installing Debian's postgresql package" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    else
      echo "postgres.sh: no PostgreSQL server found; install it: sudo apt-get install postgresql" >&2
      exit 1
    fi
  fi
  echo "$dir"
}

# Run a command as the cluster's owner: postgres refuses to run as root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
  if running; then cat "$state/url"; return; fi
  local bin port password data
  bin="$(bindir)"
  rm -rf "$state"
  mkdir -p "$state"
  data="$(mktemp -d /tmp/civiclake-postgres.XXXXXX)"
  echo "$data" >"$state/data_dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  printf '%s\n' "$password" >"$data/.pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$data"; fi
  chmod 700 "$data"
  as_owner "$bin/initdb" -D "$data/cluster" -U postgres --pwfile="$data/.pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$state/initdb.log"
  rm -f "$data/.pwfile"
  as_owner "$bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >"$state/pg_ctl.log"
  head -1 "$data/cluster/postmaster.pid" >"$state/pid"
  echo "$port" >"$state/port"
  echo "postgresql://postgres:$password@127.0.0.1:$port/postgres" >"$state/url"
  chmod 600 "$state/url"
  echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (pid $(cat "$state/pid"))" >&2
  cat "$state/url"
}

stop() {
  if running; then
    local pid data
    pid="$(cat "$state/pid")"
    data="$(cat "$state/data_dir")"
    kill -INT "$pid"  # fast shutdown of the server this script started
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$data"
  fi
  rm -rf "$state"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) running && cat "$state/url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
