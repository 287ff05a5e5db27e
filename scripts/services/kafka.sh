#!/usr/bin/env bash
# A throwaway Apache Kafka broker (KRaft, single node) on a free loopback port, for the tests,
# the benchmark and the demo.
#
#   scripts/services/kafka.sh start    # fetch the jars once, format storage, start; prints the bootstrap
#   scripts/services/kafka.sh url      # the bootstrap servers of the running broker (127.0.0.1:PORT)
#   scripts/services/kafka.sh stop     # stops the broker this script started (by its PID) and deletes its data
#
# The broker is Apache Kafka's own jars from Maven Central (scripts/services/kafka/pom.xml, fetched
# with `mvn dependency:copy-dependencies`), cached in ${XDG_CACHE_HOME:-~/.cache}/civiclake/kafka-<version>
# so a second start downloads nothing. Java 17+ runs it with a small heap. Where it listens is written
# to $CIVICLAKE_SERVICES_DIR/kafka/url (default .services/kafka/url); tests read it from there or
# from $CIVICLAKE_TEST_KAFKA.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CIVICLAKE_SERVICES_DIR:-$root/.services}/kafka"
pom="$here/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/civiclake/kafka-$version"
heap="${CIVICLAKE_KAFKA_HEAP:-512m}"

libs() {
  if [ ! -f "$cache/libs/.complete" ]; then
    command -v java >/dev/null || { echo "kafka.sh: no java; install it: sudo apt-get install openjdk-17-jre-headless" >&2; exit 1; }
    command -v mvn >/dev/null || { echo "kafka.sh: no mvn; install it: sudo apt-get install maven" >&2; exit 1; }
    echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $cache/libs" >&2
    rm -rf "$cache/libs"
    mkdir -p "$cache"
    mvn -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$cache/libs" >&2
    touch "$cache/libs/.complete"
  fi
  echo "$cache/libs"
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start a broker on the storage and ports already in $state (so `restart` keeps topics and offsets).
launch() {
  local lib data port
  lib="$(libs)"
  data="$(cat "$state/data_dir")"
  port="$(cat "$state/port")"
  : >"$data/broker.log"
  # setsid: the broker has its own process group, so Ctrl-C in the caller's shell does not reach it
  setsid java "-Xmx$heap" -Xms64m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$data/log4j2.yaml" -Dkafka.logs.dir="$data" \
    -cp "$lib/*" kafka.Kafka "$data/server.properties" >>"$data/broker.log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  for _ in $(seq 1 600); do
    if grep -q "Kafka Server started" "$data/broker.log"; then
      echo "kafka.sh: Apache Kafka $version on 127.0.0.1:$port (pid $(cat "$state/pid"))" >&2
      return
    fi
    if ! running; then
      echo "kafka.sh: the broker exited; its log:" >&2
      tail -30 "$data/broker.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "kafka.sh: the broker did not start in 60 s; its log is $data/broker.log" >&2
  exit 1
}

start() {
  if running; then cat "$state/url"; return; fi
  local lib data port cport
  lib="$(libs)"
  rm -rf "$state"
  mkdir -p "$state"
  data="$(mktemp -d /tmp/civiclake-kafka.XXXXXX)"
  echo "$data" >"$state/data_dir"
  port="$(free_port)"
  cport="$(free_port)"
  while [ "$cport" = "$port" ]; do cport="$(free_port)"; done
  echo "$port" >"$state/port"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=268435456
PROPS
  cat >"$data/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
LOG
  java -cp "$lib/*" kafka.tools.StorageTool format --standalone \
    -t "$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid)" \
    -c "$data/server.properties" >"$state/format.log" 2>&1
  echo "127.0.0.1:$port" >"$state/url"
  launch
  cat "$state/url"
}

# Stop the broker (by the PID this script recorded) and wait for it; SIGTERM lets it close cleanly.
halt() {
  if running; then
    local pid
    pid="$(cat "$state/pid")"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$state/pid"
}

stop() {
  halt
  if [ -f "$state/data_dir" ]; then rm -rf "$(cat "$state/data_dir")"; fi
  rm -rf "$state"
}

# Stop and start the same broker, keeping its topics and committed offsets (broker-restart tests).
restart() {
  [ -f "$state/data_dir" ] || { echo "kafka.sh: no broker to restart; run start" >&2; exit 1; }
  halt
  launch
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  url) running && cat "$state/url" ;;
  *) echo "usage: $0 start|stop|restart|url" >&2; exit 2 ;;
esac
