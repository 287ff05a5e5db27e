#!/usr/bin/env bash
# Run a command with the services the tests need started for it, and stopped afterwards:
#   scripts/services/with-services.sh .venv/bin/pytest
# Each service's script (scripts/services/<name>.sh start|stop) starts it on a free loopback port
# and writes where it listens under .services/<name>/. Services already running are reused and
# left running.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
services=(postgres kafka)
started=()
cleanup() {
  for name in "${started[@]}"; do "$here/$name.sh" stop || true; done
}
trap cleanup EXIT
for name in "${services[@]}"; do
  [ -x "$here/$name.sh" ] || continue
  if ! "$here/$name.sh" url >/dev/null 2>&1; then
    "$here/$name.sh" start >/dev/null
    started+=("$name")
  fi
done
CIVICLAKE_TEST_POSTGRES_URL="$("$here/postgres.sh" url)"
export CIVICLAKE_TEST_POSTGRES_URL
if [ -x "$here/kafka.sh" ]; then
  CIVICLAKE_TEST_KAFKA="$("$here/kafka.sh" url)"
  export CIVICLAKE_TEST_KAFKA
fi
"$@"
