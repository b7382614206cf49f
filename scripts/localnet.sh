#!/usr/bin/env bash
# Runs a small dave network on loopback: N nodes (default 3) on 127.0.0.1,
# ports 1618, 1619, ..., each bootstrapping from the first. Logs go to
# $DAVE_LOGS (default ./localnet-logs). Ctrl-C stops them all.
set -euo pipefail
n=${1:-3}
case "$n" in ''|*[!0-9]*) echo "usage: $0 [NODES]   (NODES: a number, default 3)" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/daved
logs=${DAVE_LOGS:-localnet-logs}
mkdir -p "$logs"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for i in $(seq 0 $((n - 1))); do
  port=$((1618 + i))
  edge=()
  [ "$i" -gt 0 ] && edge=(-e 127.0.0.1:1618)
  "$bin" -l "127.0.0.1:$port" "${edge[@]}" >"$logs/node$i.log" 2>&1 &
  pids+=($!)
done
echo "$n nodes on 127.0.0.1:1618..$((1618 + n - 1)); logs in $logs/. Try, in another shell:"
echo "  $bin keygen"
echo "  $bin -e 127.0.0.1:1618 set 'hello dave'"
echo "  $bin -e 127.0.0.1:$((1618 + n - 1)) get <work hash printed by set>"
echo "Ctrl-C stops the network."
wait
