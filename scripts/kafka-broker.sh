#!/usr/bin/env bash
# A real Apache Kafka broker for the tests: a single-node KRaft broker+controller on 127.0.0.1,
# from jars Maven fetches (test/kafka/pom.xml) into a cache outside the work tree. Needs a JVM
# (17+) and Maven; nothing else.
#
#   scripts/kafka-broker.sh fetch            fetch the broker's jars once (prints the cache dir)
#   scripts/kafka-broker.sh run [DIR]        format DIR (default: a new temp dir), start the broker on a
#                                            free port, print its bootstrap address (host:port) on stdout
#                                            once it serves, and stay in the foreground until stdin
#                                            closes or SIGTERM/SIGINT; then stop the broker and remove
#                                            a temp DIR. The test helper (test/kafka/broker.ts) uses this.
#   scripts/kafka-broker.sh start DIR        as run, in the background: prints the address and returns
#   scripts/kafka-broker.sh stop DIR         stop a broker `start` left running in DIR
#
# Environment: ASYNCTASK_KAFKA_CACHE (default ~/.cache/asynctask/kafka-<version>),
# ASYNCTASK_KAFKA_START_TIMEOUT seconds (default 90), ASYNCTASK_KAFKA_HEAP (default 512m).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
POM="$ROOT/test/kafka/pom.xml"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
CACHE="${ASYNCTASK_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/asynctask/kafka-$VERSION}"
LIBS="$CACHE/libs"
START_TIMEOUT="${ASYNCTASK_KAFKA_START_TIMEOUT:-90}"

die() {
  echo "kafka-broker: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed ($2)"
}

fetch() {
  # A complete fetch leaves a marker: an interrupted one is redone, not half-used.
  if [[ -f "$CACHE/.complete" ]]; then
    echo "$CACHE"
    return
  fi
  need java "the Kafka broker runs on a JVM, 17 or later"
  need mvn "Maven fetches the broker's jars from Maven Central"
  rm -rf "$LIBS"
  mkdir -p "$CACHE"
  local started=$SECONDS
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2 ||
    die "mvn dependency:copy-dependencies on $POM failed (is Maven Central reachable?)"
  [[ -f "$LIBS/kafka_2.13-$VERSION.jar" ]] || die "the fetch left no kafka_2.13-$VERSION.jar in $LIBS"
  touch "$CACHE/.complete"
  echo "kafka-broker: fetched Apache Kafka $VERSION into $CACHE in $((SECONDS - started)) s" >&2
  echo "$CACHE"
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

java_cmd() {
  # $1: main class; the rest: its arguments. `exec`: run in the background, the job's pid is java's.
  local main=$1
  shift
  exec java "-Xmx${ASYNCTASK_KAFKA_HEAP:-512m}" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$DIR/log4j2.properties" -cp "$LIBS/*" "$main" "$@"
}

# Writes DIR's config and formats its storage; sets PORT.
prepare() {
  need java "the Kafka broker runs on a JVM, 17 or later"
  mkdir -p "$DIR"
  PORT="$(free_port)"
  local controller
  controller="$(free_port)"
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
num.partitions=3
# Tests create their topics: a typo is an error, not a new topic.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$DIR/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = $DIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = warn
EOF
  local id
  id="$(java_cmd kafka.tools.StorageTool random-uuid)"
  (java_cmd kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties") >"$DIR/format.log" 2>&1 ||
    die "formatting KRaft storage in $DIR failed: $(cat "$DIR/format.log")"
}

# Starts the broker in the background (JPID) and waits until it serves.
launch() {
  java_cmd kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 &
  JPID=$!
  echo "$JPID" >"$DIR/broker.pid"
  local deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "Kafka Server started" "$DIR/server.log" 2>/dev/null; do
    if ! kill -0 "$JPID" 2>/dev/null; then
      die "the broker exited during start-up: $(tail -n 20 "$DIR/stdout.log" "$DIR/server.log" 2>/dev/null)"
    fi
    if ((SECONDS > deadline)); then
      kill "$JPID" 2>/dev/null || true
      die "the broker did not start within $START_TIMEOUT s (log: $DIR/server.log)"
    fi
    sleep 0.2
  done
}

stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  fetch)
    fetch
    ;;
  run)
    fetch >/dev/null
    TEMP=""
    if [[ -n "${2:-}" ]]; then DIR="$2"; else
      DIR="$(mktemp -d "${TMPDIR:-/tmp}/asynctask-kafka-XXXXXX")"
      TEMP="$DIR"
    fi
    JPID=""
    cleanup() {
      [[ -n "$JPID" ]] && stop_pid "$JPID"
      [[ -n "$TEMP" ]] && rm -rf "$TEMP"
    }
    trap cleanup EXIT
    trap 'exit 0' TERM INT
    prepare
    launch
    echo "127.0.0.1:$PORT"
    # Until stdin closes (the test process went away) or a signal; or the broker dies. (A background
    # job's stdin is /dev/null unless redirected: the watcher reads the script's own stdin, fd 3.)
    exec 3<&0
    (
      cat <&3 >/dev/null || true
      kill "$JPID" 2>/dev/null || true
    ) &
    wait "$JPID" || true
    ;;
  start)
    [[ -n "${2:-}" ]] || die "start needs a directory: scripts/kafka-broker.sh start DIR"
    fetch >/dev/null
    DIR="$2"
    prepare
    launch
    echo "127.0.0.1:$PORT" >"$DIR/bootstrap"
    echo "127.0.0.1:$PORT"
    ;;
  stop)
    [[ -n "${2:-}" ]] || die "stop needs the directory given to start: scripts/kafka-broker.sh stop DIR"
    [[ -f "$2/broker.pid" ]] || die "no broker.pid in $2 (was a broker started there with 'start'?)"
    stop_pid "$(cat "$2/broker.pid")"
    rm -f "$2/broker.pid"
    ;;
  *)
    die "usage: scripts/kafka-broker.sh fetch | run [DIR] | start DIR | stop DIR (given '${1:-}')"
    ;;
esac
