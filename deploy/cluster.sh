#!/usr/bin/env bash
# Three Fjord brokers as local processes on loopback, forming one cluster over Raft — the same
# cluster deploy/docker-compose.yml runs in containers.
#
#   deploy/cluster.sh start   # nodes 1-3: Kafka 127.0.0.1:9092/9192/9292, Raft 9093/9193/9293,
#                             # HTTP 9644/9645/9646; data and logs in ./data/cluster/node-N
#   deploy/cluster.sh stop    # SIGTERM to each node, waiting for a clean stop
#
# FJORD_BIN names the binary (default: the debug build); FJORD_CLUSTER_DIR the data directory.
set -euo pipefail
bin="${FJORD_BIN:-${CARGO_TARGET_DIR:-target}/debug/fjord}"
dir="${FJORD_CLUSTER_DIR:-data/cluster}"
voters="1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"

start() {
  [ -x "$bin" ] || { echo "no fjord binary at $bin (run 'cargo build --bins')" >&2; exit 1; }
  for id in 1 2 3; do
    local node="$dir/node-$id"
    mkdir -p "$node"
    if [ -f "$node/pid" ] && kill -0 "$(cat "$node/pid")" 2>/dev/null; then
      echo "node $id is already running (pid $(cat "$node/pid"))"
      continue
    fi
    local kafka=$((9092 + (id - 1) * 100)) raft=$((9093 + (id - 1) * 100)) http=$((9643 + id))
    # The script's own FJORD_* variables would read as broker properties: not passed on.
    nohup env -u FJORD_BIN -u FJORD_CLUSTER_DIR "$bin" serve \
      --override "node.id=$id" \
      --override "listeners=PLAINTEXT://127.0.0.1:$kafka,CONTROLLER://127.0.0.1:$raft" \
      --override "controller.quorum.voters=$voters" \
      --override "http.listener=127.0.0.1:$http" \
      --override "log.dirs=$node/data" \
      --override "default.replication.factor=3" \
      --override "min.insync.replicas=2" \
      >"$node/stdout.log" 2>"$node/fjord.log" </dev/null &
    echo $! >"$node/pid"
  done
  # Each node serves once a quorum is up; wait for all three (bounded).
  for id in 1 2 3; do
    local node="$dir/node-$id" waited=0
    until grep -q '^fjord listening on' "$node/stdout.log" 2>/dev/null; do
      if ! kill -0 "$(cat "$node/pid")" 2>/dev/null; then
        echo "node $id exited; its log:" >&2
        tail -n 20 "$node/fjord.log" >&2
        exit 1
      fi
      if [ "$waited" -ge 600 ]; then
        echo "node $id did not start within 60 s; see $node/fjord.log" >&2
        exit 1
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    echo "node $id: $(grep '^fjord listening on' "$node/stdout.log" | tail -n 1)"
  done
  echo "bootstrap: 127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292   (stop with: make cluster-stop)"
}

stop() {
  for id in 1 2 3; do
    local pidfile="$dir/node-$id/pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
      local waited=0
      while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
        sleep 0.1
        waited=$((waited + 1))
      done
      echo "node $id stopped"
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
