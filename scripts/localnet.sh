#!/usr/bin/env bash
# Runs a small dave network on loopback: N nodes (default 3) on 127.0.0.1,
# ports PORT, PORT+1, ... (default 1618), each bootstrapping from the first,
# and checks that every one is up. Logs go to $DAVE_LOGS (default
# ./localnet-logs). Ctrl-C stops them all.
#
#   scripts/localnet.sh [N] [--bin PATH] [--port PORT]
#
#   N            nodes to run (default 3)
#   --bin PATH   the daved to run (default: cargo build --release, then
#                target/release/daved; with --bin nothing is built)
#   --port PORT  the first node's UDP port (default 1618)
#
# Exit status: 0 after Ctrl-C (or SIGTERM) with every node up until then;
# 1 when a node failed to start or stopped (its log's last lines say why);
# 2 bad usage.
set -euo pipefail
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "localnet.sh: $1" >&2; echo >&2; usage >&2; exit 2; }

n=3; bin=""; port=1618
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) [ $# -ge 2 ] || bad "--bin needs a path"; bin=$2; shift 2;;
    --bin=*) bin=${1#--bin=}; shift;;
    --port) [ $# -ge 2 ] || bad "--port needs a number"; port=$2; shift 2;;
    --port=*) port=${1#--port=}; shift;;
    -h|--help) usage; exit 0;;
    ''|*[!0-9]*) bad "unknown argument \`$1\`";;
    *) n=$1; shift;;
  esac
done
case "$n" in ''|*[!0-9]*) bad "NODES must be a number, not \`$n\`";; esac
[ "$n" -ge 1 ] || bad "NODES must be at least 1"
case "$port" in ''|*[!0-9]*) bad "--port wants a number, not \`$port\`";; esac
[ "$port" -ge 1 ] && [ $((port + n - 1)) -le 65535 ] || bad "ports $port..$((port + n - 1)) are not all valid UDP ports"

if [ -n "$bin" ]; then
  # Given a binary: resolve it from here, build nothing.
  case "$bin" in /*) ;; *) bin="$PWD/$bin";; esac
  [ -x "$bin" ] || { echo "localnet.sh: $bin is not an executable" >&2; exit 1; }
  cd "$(dirname "$0")/.."
else
  cd "$(dirname "$0")/.."
  cargo build --release --quiet --bin daved
  bin=$PWD/target/release/daved
fi
logs=${DAVE_LOGS:-localnet-logs}
mkdir -p "$logs"

pids=()
cleanup() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

for i in $(seq 0 $((n - 1))); do
  edge=()
  [ "$i" -gt 0 ] && edge=(-e "127.0.0.1:$port")
  "$bin" -l "127.0.0.1:$((port + i))" "${edge[@]}" >"$logs/node$i.log" 2>&1 &
  pids+=($!)
done

# Why node I failed: its exit status and its log's last lines.
why() {
  local i=$1 rc=0
  wait "${pids[i]}" 2>/dev/null || rc=$?
  echo "node $i (127.0.0.1:$((port + i))) exited with status $rc; the end of $logs/node$i.log:"
  tail -n 3 "$logs/node$i.log" | sed 's/^/    /'
}

# Every node must log /d/up within 10 s and still be running.
failed=0
for i in $(seq 0 $((n - 1))); do
  deadline=$((SECONDS + 10))
  until grep -q '/d/up' "$logs/node$i.log" 2>/dev/null; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then break; fi
    if [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.05
  done
  if ! kill -0 "${pids[i]}" 2>/dev/null; then
    why "$i" >&2
    failed=$((failed + 1))
  elif ! grep -q '/d/up' "$logs/node$i.log"; then
    echo "node $i (127.0.0.1:$((port + i))) did not log /d/up within 10 s; see $logs/node$i.log" >&2
    failed=$((failed + 1))
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "localnet.sh: $failed of $n nodes failed to start; stopping the others" >&2
  if grep -qs 'Address already in use' "$logs"/node*.log; then
    echo "localnet.sh: another program holds a port: choose others with --port PORT" >&2
  fi
  exit 1
fi

last=$((port + n - 1))
echo "$n nodes on 127.0.0.1:$port..$last, all up; logs in $logs/. Try, in another shell:"
echo "  $bin keygen"
echo "  $bin -e 127.0.0.1:$port set 'hello dave'"
echo "  $bin -e 127.0.0.1:$last get <work hash printed by set>"
echo "  $bin status -p $port"
echo "Ctrl-C stops the network."

# Runs until Ctrl-C. A node exits 0 only when stopped by SIGINT or SIGTERM
# (Ctrl-C reaches the nodes too); any other end is reported.
while :; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      rc=0
      wait "${pids[i]}" 2>/dev/null || rc=$?
      if [ "$rc" -eq 0 ]; then
        echo "node $i was stopped; stopping the others"
        exit 0
      fi
      echo "node $i (127.0.0.1:$((port + i))) exited with status $rc; the end of $logs/node$i.log:" >&2
      tail -n 3 "$logs/node$i.log" | sed 's/^/    /' >&2
      echo "localnet.sh: node $i stopped; stopping the others" >&2
      exit 1
    fi
  done
  sleep 0.5
done
