#!/usr/bin/env bash
# A real dave network on one machine: N daved nodes, each in its own Linux
# network namespace with its own address on a private bridge, links impaired
# with tc netem (delay, jitter, loss). Bootstraps every node from node 1,
# writes a value through the last node, reads it back through another, and
# reports how long the value took to reach every node. Everything is torn
# down on exit, error, Ctrl-C or SIGTERM (unless --keep).
#
# Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2; exits 77
# ("skipped") where network namespaces cannot be made. Run with -h for usage.
#
# Isolation: the bridge lives in its own namespace (dave-br-ID) and every
# node's veth goes from there into the node's namespace (dave-ID-I), so no
# interface, address or route is added to the namespace the script runs in,
# and no packet can leave the run's private 10.77.0.0/16. Run IDs make the
# names of two concurrent runs distinct.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and printf must use '.' as the decimal point

prog=testnet
usage() {
  cat <<'EOF'
usage: scripts/testnet.sh [N] [options]
       scripts/testnet.sh --down ID

Starts N daved nodes (default 5, at most 250), each in its own network
namespace with address 10.77.I.1 (a /24 of its own, so each node is its
own address group) on a private bridge, node 1 the edge the others
bootstrap from. Writes a value through node N, reads it back through
node 2 (node 1 when N is 2), and reports when each node held it.

options:
  --delay MS      one-way delay added to every packet a node sends (default 20)
  --jitter MS     delay jitter (default DELAY/4)
  --loss PCT      packet loss per link, e.g. 1 or 0.5 (default 1)
  --timeout SECS  give up on nodes the value has not reached by then (default 30)
  --rate RATE     every node's --rate (e.g. 200: dats a second; default the
                  daemon's EPOCH); many nodes on few cores need a low one
  --bin PATH      the daved binary (default: cargo build --release, then
                  target/release/daved)
  --keep          leave the network running at the end and print how to use
                  it and tear it down
  --json          print the results as one JSON object on stdout (progress
                  goes to stderr)
  --down ID       tear down a network left by --keep (or by a killed run)
  -h, --help      this help

Reach times are in ms from the moment `set` sent the value (the end of set
minus the confirmation time set reports). A node counts as reached when a
client inside its namespace, bound to 127.0.0.1 so it can reach that node
only, gets the value from it; the client re-sends its GET about every 14 ms,
which bounds the resolution.

Delay and loss come from tc netem on each node's egress. On a kernel without
netem (CONFIG_NET_SCH_NETEM) the script says so and goes on with loss alone,
through a classic-BPF tc filter, and no added delay.

Needs root. Nothing is added to the namespace the script runs in; every name
carries the run id, so runs never collide; everything is torn down on exit,
error, Ctrl-C or SIGTERM.

exit status: 0 ok; 1 a node failed, the value did not reach every node, or
reading it back failed (logs are then kept and their place printed); 2 bad
usage; 77 skipped (not root, or network namespaces unavailable); 130/143
interrupted.
EOF
}

die_usage() {
  echo "$prog: $*" >&2
  echo "Try \`scripts/testnet.sh -h\`." >&2
  exit 2
}

# ---- arguments -------------------------------------------------------------

n=5
delay=20
jitter=
loss=1
timeout=30
rate=
bin=
keep=0
json=0
down=
have_n=0
while [ $# -gt 0 ]; do
  case "$1" in
  -h | --help)
    usage
    exit 0
    ;;
  --delay | --jitter | --loss | --timeout | --rate | --bin | --down)
    [ $# -ge 2 ] || die_usage "$1 needs a value"
    case "$1" in
    --delay) delay=$2 ;;
    --jitter) jitter=$2 ;;
    --loss) loss=$2 ;;
    --timeout) timeout=$2 ;;
    --rate) rate=$2 ;;
    --bin) bin=$2 ;;
    --down) down=$2 ;;
    esac
    shift 2
    ;;
  --keep)
    keep=1
    shift
    ;;
  --json)
    json=1
    shift
    ;;
  -*) die_usage "unknown option $1" ;;
  *)
    [ "$have_n" = 0 ] || die_usage "one node count only (got $n and $1)"
    n=$1
    have_n=1
    shift
    ;;
  esac
done

is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }
is_decimal() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

if [ -n "$down" ]; then
  [[ "$down" =~ ^[0-9a-z]{1,20}$ ]] || die_usage "--down takes a run id (letters and digits), got '$down'"
  [ "$have_n" = 0 ] || die_usage "--down takes no node count"
else
  is_uint "$n" || die_usage "N must be a whole number of nodes, got '$n'"
  n=$((10#$n))
  { [ "$n" -ge 2 ] && [ "$n" -le 250 ]; } || die_usage "N must be between 2 and 250, got $n"
  is_uint "$delay" || die_usage "--delay must be whole milliseconds, got '$delay'"
  delay=$((10#$delay))
  [ "$delay" -le 10000 ] || die_usage "--delay must be at most 10000 ms"
  if [ -z "$jitter" ]; then jitter=$((delay / 4)); fi
  is_uint "$jitter" || die_usage "--jitter must be whole milliseconds, got '$jitter'"
  jitter=$((10#$jitter))
  [ "$jitter" -le 10000 ] || die_usage "--jitter must be at most 10000 ms"
  is_decimal "$loss" || die_usage "--loss must be a percentage like 1 or 0.5, got '$loss'"
  awk -v l="$loss" 'BEGIN { exit !(l <= 100) }' || die_usage "--loss must be at most 100"
  loss=$(awk -v l="$loss" 'BEGIN { printf "%g", l }') # 01 -> 1, 0.50 -> 0.5
  is_uint "$timeout" || die_usage "--timeout must be whole seconds, got '$timeout'"
  timeout=$((10#$timeout))
  { [ "$timeout" -ge 1 ] && [ "$timeout" -le 3600 ]; } || die_usage "--timeout must be between 1 and 3600 s"
  if [ -n "$bin" ]; then
    { [ -f "$bin" ] && [ -x "$bin" ]; } || die_usage "--bin $bin is not an executable file"
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  fi
fi

# ---- output ----------------------------------------------------------------

# Progress goes to stdout, or to stderr when stdout carries the JSON.
if [ "$json" = 1 ]; then exec 3>&2; else exec 3>&1; fi
say() { echo "$prog: $*" >&3; }
warn() { echo "$prog: warning: $*" >&2; }
fail() {
  echo "$prog: FAILED: $*" >&2
  exit 1
}
skip() {
  echo "$prog: skipped: $*" >&2
  exit 77
}

# ---- skip where namespaces are unavailable -----------------------------------

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces (run as root, e.g. with sudo)"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"

# ---- teardown ----------------------------------------------------------------

# The namespaces of run $1: dave-br-ID and dave-ID-1 .. dave-ID-N.
run_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^dave-(br-)?$1(-[0-9]+)?\$" || true
}

# Tears down run $1: kills every process inside its namespaces (all of them
# are ours; TERM, then KILL after 3 s), then deletes the namespaces, which
# takes the veths and the bridge with them. Safe to run twice.
teardown_run() {
  local rid=$1 ns pids try left
  for try in $(seq 1 20); do
    pids=$(for ns in $(run_namespaces "$rid"); do ip netns pids "$ns" 2>/dev/null || true; done)
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # a list of pids
    if [ "$try" -le 15 ]; then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 0.2
  done
  for ns in $(run_namespaces "$rid"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  left=$(run_namespaces "$rid")
  if [ -n "$left" ]; then
    echo "$prog: teardown: namespaces left behind:" "$left" >&2
    return 1
  fi
  return 0
}

if [ -n "$down" ]; then
  found=$(run_namespaces "$down" | wc -l)
  teardown_run "$down" || exit 1
  rm -rf "${TMPDIR:-/tmp}/dave-testnet-$down"
  echo "$prog: run $down torn down ($found namespaces removed)"
  exit 0
fi

# A run id: short, so names stay readable; pid plus randomness, so two runs
# never collide.
rid=$(printf '%d%04x' "$$" "$((RANDOM ^ (RANDOM << 1)))" | cut -c1-12)
brns=dave-br-$rid
nsname() { echo "dave-$rid-$1"; }
addr() { echo "10.77.$1.1"; }
port=1618
tmp=${TMPDIR:-/tmp}/dave-testnet-$rid

# ---- the run: a worker subshell ---------------------------------------------
#
# The script's own process only ever waits (for the build, then for this
# worker) in the `wait` builtin, which a trapped signal always interrupts.
# (Bash skips an INT trap when the signal arrives during a foreground command
# that then exits normally, so a `kill -INT` could otherwise go unnoticed.)
# On any exit the script's EXIT trap stops the worker and tears down by run
# id, whatever the worker was doing.

worker() {
  worker_pid=$BASHPID
  pollers=()
  # The parent's cleanup sends TERM; the namespace sweep ends whatever
  # foreground command the worker is waiting for.
  trap 'kill -TERM "${pollers[@]}" 2>/dev/null; exit 143' TERM

  # ---- network -----------------------------------------------------------------

  say "run $rid: $n nodes on 10.77.0.0/16, bridge in namespace $brns, nodes in $(nsname 1) .. $(nsname "$n")"
  # The bridge namespace doubles as the probe for namespace support.
  if ! err=$(ip netns add "$brns" 2>&1); then
    skip "cannot create a network namespace (ip netns add: $err)"
  fi
  if ! err=$(ip netns exec "$brns" true 2>&1); then
    skip "cannot run a command in a network namespace (ip netns exec: $err)"
  fi
  if ! err=$(ip -n "$brns" link add br0 type bridge 2>&1); then
    skip "cannot create a bridge in a namespace ($err)"
  fi
  ip -n "$brns" link set lo up
  ip -n "$brns" link set br0 up

  # Writes sysctl $2=$3 inside namespace $1 (/proc/sys/net is per namespace).
  ns_sysctl() {
    ip netns exec "$1" sh -c "echo $3 > /proc/sys/${2//.//}" 2>/dev/null || true
  }

  impair=none
  has_loss=0
  awk -v l="$loss" 'BEGIN { exit !(l > 0) }' && has_loss=1
  loss_bpf() {
    # Classic BPF on the clsact egress hook: ld rand; drop when rand < loss*2^32.
    local ns=$1 thr
    thr=$(awk -v l="$loss" 'BEGIN { t = l / 100 * 4294967296; if (t > 4294967295) t = 4294967295; printf "%.0f", t }')
    ip netns exec "$ns" tc qdisc add dev eth0 clsact &&
      ip netns exec "$ns" tc filter add dev eth0 egress protocol ip bpf da \
        bytecode "4,32 0 0 4294963256,53 0 1 $thr,6 0 0 0,6 0 0 2"
  }

  for i in $(seq 1 "$n"); do
    ns=$(nsname "$i")
    if ! err=$(ip netns add "$ns" 2>&1); then
      skip "cannot create a network namespace (ip netns add: $err)"
    fi
    # IPv4 only: no router solicitations or other IPv6 chatter on the bridge.
    ns_sysctl "$ns" net.ipv6.conf.all.disable_ipv6 1
    ns_sysctl "$ns" net.ipv6.conf.default.disable_ipv6 1
    if ! err=$(ip -n "$brns" link add "v$i" type veth peer name eth0 netns "$ns" 2>&1); then
      skip "cannot create a veth pair ($err)"
    fi
    ip -n "$brns" link set "v$i" master br0 up
    ip -n "$ns" addr add "$(addr "$i")/16" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
  done

  # Impairment on each node's egress: every packet a node sends is delayed
  # and may be lost, so one hop costs DELAY ms one way. Where the kernel has
  # no netem (CONFIG_NET_SCH_NETEM), loss alone goes through a classic-BPF
  # tc filter; where that fails too, the links stay clean (with a warning).
  want=0
  { [ "$delay" -gt 0 ] || [ "$has_loss" = 1 ]; } && want=1
  spec=(limit 100000) # the default 1000 packets could overflow under a long delay
  if [ "$delay" -gt 0 ]; then
    spec+=(delay "${delay}ms")
    [ "$jitter" = 0 ] || spec+=("${jitter}ms")
  fi
  [ "$has_loss" = 0 ] || spec+=(loss "${loss}%")
  netem() { ip netns exec "$1" tc qdisc add dev eth0 root netem "${spec[@]}"; }
  if [ "$want" = 1 ]; then
    if ! command -v tc >/dev/null 2>&1; then
      warn "tc (iproute2) not found: links get no delay and no loss"
    elif err=$(netem "$(nsname 1)" 2>&1); then
      impair=netem
    else
      warn "tc netem is not available: $err (the kernel lacks sch_netem, CONFIG_NET_SCH_NETEM)"
      if [ "$delay" -gt 0 ]; then warn "links get NO added delay"; fi
      if [ "$has_loss" = 1 ]; then
        if err=$(loss_bpf "$(nsname 1)" 2>&1); then
          impair=bpf
          warn "loss (${loss}%) goes through a classic-BPF tc filter instead"
        else
          warn "a tc bpf filter failed too ($err): links get no loss either"
        fi
      fi
    fi
    for i in $(seq 2 "$n"); do
      case "$impair" in
      netem) err=$(netem "$(nsname "$i")" 2>&1) || fail "tc netem worked on node 1 but not on node $i: $err" ;;
      bpf) err=$(loss_bpf "$(nsname "$i")" 2>&1) || fail "tc bpf worked on node 1 but not on node $i: $err" ;;
      esac
    done
  fi

  case "$impair" in
  netem) links="delay ${delay} ms ±${jitter} ms, loss ${loss}% (tc netem on each node's egress)" ;;
  bpf) links="NO added delay (no tc netem here), loss ${loss}% (tc bpf filter on each node's egress)" ;;
  *) if [ "$want" = 1 ]; then links="NOT impaired (see the warnings)"; else links="no delay, no loss"; fi ;;
  esac
  say "links: $links"

  # ---- nodes -------------------------------------------------------------------

  start_bg() {
    if command -v setsid >/dev/null 2>&1; then
      setsid "$@" &
    else
      "$@" &
    fi
  }

  nodepid=()
  rate_args=()
  [ -z "$rate" ] || rate_args=(--rate "$rate")
  nodes_t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    edge=()
    [ "$i" -gt 1 ] && edge=(-e "$(addr 1):$port")
    start_bg ip netns exec "$(nsname "$i")" "$bin" -l "$(addr "$i"):$port" "${edge[@]}" "${rate_args[@]}" --status 1 \
      >"$tmp/node$i.log" 2>&1 </dev/null 3>&-
    nodepid[i]=$!
  done

  node_alive() { kill -0 "${nodepid[$1]}" 2>/dev/null; }
  show_log() {
    echo "--- $tmp/node$1.log (last lines) ---" >&2
    tail -n 5 "$tmp/node$1.log" >&2 || true
  }

  # Every node must log /d/up within 10 s.
  deadline=$((SECONDS + 10))
  for i in $(seq 1 "$n"); do
    until grep -q '/d/up' "$tmp/node$i.log" 2>/dev/null; do
      if ! node_alive "$i"; then
        show_log "$i"
        fail "node $i exited at start"
      fi
      [ "$SECONDS" -lt "$deadline" ] || {
        show_log "$i"
        fail "node $i did not start within 10 s"
      }
      sleep 0.1
    done
  done
  say "started $n nodes (logs in $tmp)"

  # The mesh: wait (at most 20 s) until every node's latest /d/st line counts
  # N-1 live peers (peers= on versions without live=).
  live_peers() {
    local line v
    line=$(grep '/d/st ' "$tmp/node$1.log" 2>/dev/null | tail -n 1)
    v=$(sed -n 's/.* live=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$v" ] || v=$(sed -n 's/.* peers=\([0-9]*\).*/\1/p' <<<"$line")
    echo "${v:-0}"
  }
  t_mesh0=$EPOCHREALTIME
  deadline=$((SECONDS + 20))
  while :; do
    short=0
    for i in $(seq 1 "$n"); do
      node_alive "$i" || {
        show_log "$i"
        fail "node $i exited"
      }
      [ "$(live_peers "$i")" -ge $((n - 1)) ] || short=$((short + 1))
    done
    [ "$short" -gt 0 ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
      warn "after 20 s, $short nodes see fewer than $((n - 1)) live peers; going on (gossip needs no full mesh)"
      break
    fi
    sleep 0.25
  done
  us() { echo "${1/./}"; }
  mesh_ms=$((($(us "$EPOCHREALTIME") - $(us "$t_mesh0") + 500) / 1000))
  [ "$short" -gt 0 ] || say "mesh: every node sees $((n - 1)) live peers (waited $mesh_ms ms)"

  # ---- write, read back, reach ----------------------------------------------

  export XDG_CONFIG_HOME=$tmp/cfg # the key stays in the run's temp dir
  "$bin" keygen >/dev/null 2>"$tmp/keygen.err" || {
    cat "$tmp/keygen.err" >&2
    fail "daved keygen failed"
  }
  pubkey=$("$bin" pubkey) || fail "daved pubkey failed"
  name=testnet
  value="hello from testnet run $rid at $EPOCHREALTIME"
  writer=$n
  reader=2
  [ "$n" -gt 2 ] || reader=1

  # A client inside node I's namespace, bound to 127.0.0.1 so that it can talk
  # to node I only (the kernel refuses to send from 127.0.0.1 to the bridge).
  client() {
    local i=$1
    shift
    ip netns exec "$(nsname "$i")" "$bin" -l 127.0.0.1:0 -e "$(addr "$i"):$port" "$@"
  }

  # Poller I: asks node I for PUBKEY NAME until it answers with the value, then
  # writes the time to reach.I. Started before the set, so no arrival is
  # missed; one client for the whole wait (it re-sends its GET every 4 PULL
  # periods, about 14 ms), so there is no gap between clients either.
  poll_until=$((SECONDS + 15 + timeout)) # the set below takes at most 10 s
  poll() {
    local i=$1 got
    trap - INT TERM HUP EXIT
    while [ "$SECONDS" -lt "$poll_until" ]; do
      if got=$(client "$i" -t "$((poll_until - SECONDS))" get "$pubkey" "$name" 2>/dev/null) &&
        [ "$got" = "$value" ]; then
        echo "$EPOCHREALTIME" >"$tmp/reach.$i"
        return 0
      fi
      [ ! -e "$tmp/stop" ] || return 1
      kill -0 "$worker_pid" 2>/dev/null || return 1
      sleep 0.01
    done
    return 1
  }
  for i in $(seq 1 "$n"); do
    poll "$i" &
    pollers+=($!)
    echo "$!" >>"$tmp/pollers"
  done
  sleep 0.5 # let every poller's client reach its node first

  say "set through node $writer ($(addr "$writer")): daved set -d 16 --key $name '$value'"
  t_set0=$EPOCHREALTIME
  if ! client "$writer" -t 10 set -d 16 --key "$name" "$value" >"$tmp/set.out" 2>"$tmp/set.err"; then
    cat "$tmp/set.err" >&2
    fail "set through node $writer failed"
  fi
  t_set1=$EPOCHREALTIME
  reach_deadline=$((SECONDS + timeout))
  work=$(sed -n 's/^work  *//p' "$tmp/set.out")
  [ -n "$work" ] || fail "set printed no work hash: $(cat "$tmp/set.out")"
  # t0 is when set sent the dat: set's end minus the confirmation time it reports.
  confirm=$(sed -n 's/.*confirmed by .* in \([0-9.]*\) s.*/\1/p' "$tmp/set.err" | head -n 1)
  if [ -n "$confirm" ]; then
    t0=$(($(us "$t_set1") - $(awk -v c="$confirm" 'BEGIN { printf "%.0f", c * 1000000 }')))
    t0_desc="when set sent the value (set returned at +$((($(us "$t_set1") - t0 + 500) / 1000)) ms, after $((($(us "$t_set1") - $(us "$t_set0") + 500) / 1000)) ms of work and confirmation)"
  else
    t0=$(us "$t_set1")
    t0_desc="when set returned"
  fi
  say "work $work"

  readback=0
  if ! got=$(client "$reader" -t "$timeout" get "$pubkey" "$name" 2>"$tmp/get.err"); then
    warn "read back through node $reader ($(addr "$reader")) failed: $(grep '^daved:' "$tmp/get.err" || tail -n 1 "$tmp/get.err")"
  elif [ "$got" != "$value" ]; then
    warn "read back through node $reader returned '$got', expected '$value'"
  else
    readback=1
    say "read back through node $reader ($(addr "$reader")): value matches: ok"
  fi

  # Wait for the pollers, at most TIMEOUT s after the set.
  while [ "$SECONDS" -lt "$reach_deadline" ]; do
    done_n=$(find "$tmp" -maxdepth 1 -name 'reach.*' | wc -l)
    [ "$done_n" -lt "$n" ] || break
    sleep 0.05
  done
  touch "$tmp/stop"
  kill -TERM "${pollers[@]}" 2>/dev/null || true
  wait "${pollers[@]}" 2>/dev/null || true
  pollers=()
  : >"$tmp/pollers" # all reaped: nothing for the cleanup to signal
  # Their clients, if any still wait: every process in a node's namespace
  # other than the node is a client of ours.
  for i in $(seq 1 "$n"); do
    for p in $(ip netns pids "$(nsname "$i")" 2>/dev/null); do
      [ "$p" = "${nodepid[i]}" ] || kill -TERM "$p" 2>/dev/null || true
    done
  done

  # ---- report ----------------------------------------------------------------

  say "reach, ms from $t0_desc:"
  times=()
  missing=()
  for i in $(seq 1 "$n"); do
    role=
    [ "$i" = 1 ] && role=" (edge)"
    [ "$i" = "$writer" ] && role="$role (writer)"
    if [ -e "$tmp/reach.$i" ]; then
      ms=$((($(us "$(cat "$tmp/reach.$i")") - t0 + 500) / 1000))
      [ "$ms" -ge 0 ] || ms=0
      times[i]=$ms
      say "$(printf '  node %3d %-12s %6d ms%s' "$i" "$(addr "$i")" "$ms" "$role")"
    else
      missing+=("$i")
      say "$(printf '  node %3d %-12s  never%s' "$i" "$(addr "$i")" "$role")"
    fi
  done

  # Nearest-rank percentile over all N nodes; a node never reached ranks last.
  sorted=$(for i in $(seq 1 "$n"); do echo "${times[i]:-999999999}"; done | sort -n)
  pct() {
    local rank v
    rank=$((($1 * n + 99) / 100))
    v=$(sed -n "${rank}p" <<<"$sorted")
    if [ "$v" = 999999999 ]; then echo never; else echo "$v"; fi
  }
  p50=$(pct 50)
  p90=$(pct 90)
  p100=$(pct 100)
  max=0
  for i in $(seq 1 "$n"); do
    [ -z "${times[i]:-}" ] || [ "${times[i]}" -le "$max" ] || max=${times[i]}
  done
  reached=$((n - ${#missing[@]}))
  unit() { if [ "$1" = never ]; then echo "never"; else echo "at $1 ms"; fi; }
  say "reached $reached/$n nodes: 50% $(unit "$p50"), 90% $(unit "$p90"), 100% $(unit "$p100"), max $max ms"

  for i in $(seq 1 "$n"); do
    node_alive "$i" || {
      show_log "$i"
      fail "node $i exited during the run"
    }
  done

  # What the nodes cost: CPU time since they started over the time since
  # then, and resident memory, from /proc.
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  secs=$(awk -v a="$nodes_t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  res=$(for i in $(seq 1 "$n"); do
    p=${nodepid[i]}
    ticks=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
    echo "${ticks:-0} ${rss:-0}"
  done | awk -v hz="$hz" -v s="$secs" '
    { c = 100 * $1 / hz / s; sc += c; if (c > mc) mc = c; sr += $2; if ($2 > mr) mr = $2; k++ }
    END { printf "%.1f %.1f %.1f %d %d %.1f", sc / k, mc, sc, sr / k, mr, s }')
  read -r cpu_mean cpu_max cpu_all rss_mean rss_max run_secs <<<"$res"
  say "cost per node over ${run_secs} s: CPU ${cpu_mean}% on average, ${cpu_max}% at most (${cpu_all}% for all $n together); resident memory $((rss_mean / 1024)) MiB on average, $((rss_max / 1024)) MiB at most${rate:+ (--rate $rate)}"

  if [ "$json" = 1 ]; then
    jnum() { if [ "$1" = never ]; then echo null; else echo "$1"; fi; }
    arr=
    for i in $(seq 1 "$n"); do arr="$arr${arr:+,}${times[i]:-null}"; done
    printf '{"run":"%s","nodes":%d,"delay_ms":%d,"jitter_ms":%d,"loss_pct":%s,"impairment":"%s","applied_delay_ms":%d,"mesh_ms":%d,"writer":%d,"reader":%d,"work":"%s","readback_ok":%s,"reach_ms":[%s],"reached":%d,"p50_ms":%s,"p90_ms":%s,"p100_ms":%s,"max_ms":%d,"rate":"%s","cpu_pct_mean":%s,"cpu_pct_max":%s,"rss_kb_mean":%d,"rss_kb_max":%d}\n' \
      "$rid" "$n" "$delay" "$jitter" "$loss" "$impair" "$([ "$impair" = netem ] && echo "$delay" || echo 0)" "$mesh_ms" "$writer" "$reader" "$work" \
      "$([ "$readback" = 1 ] && echo true || echo false)" "$arr" "$reached" \
      "$(jnum "$p50")" "$(jnum "$p90")" "$(jnum "$p100")" "$max" "$rate" "$cpu_mean" "$cpu_max" "$rss_mean" "$rss_max"
  fi

  problems=()
  [ "$readback" = 1 ] || problems+=("reading the value back through node $reader failed")
  [ "${#missing[@]}" = 0 ] || problems+=("the value did not reach node(s) ${missing[*]} within $timeout s")
  if [ "${#problems[@]}" -gt 0 ]; then
    fail "$(printf '%s; ' "${problems[@]}" | sed 's/; $//')"
  fi

  if [ "$keep" = 1 ]; then
    rm -f "$tmp/stop" "$tmp"/reach.*
    say "--keep: the network stays up (run $rid). To use it:"
    say "  ip netns exec $(nsname 1) bash        # a shell inside node 1 (10.77.1.1)"
    say "  XDG_CONFIG_HOME=$tmp/cfg ip netns exec $(nsname 2) $bin -l 127.0.0.1:0 -e $(addr 2):$port set 'hi'"
    say "  ip netns exec $(nsname "$n") $bin -l 127.0.0.1:0 -e $(addr "$n"):$port get $pubkey $name"
    say "  logs: $tmp/node*.log"
    say "the nodes keep gossiping (and using CPU) until you tear them down:"
    say "  scripts/testnet.sh --down $rid"
  else
    say "ok"
  fi
}

keep_up=0
worker=
builder=
torn=0

# shellcheck disable=SC2317 # used by cleanup, reached through the EXIT trap
# True while process $1 exists and is not a zombie.
pid_running() {
  local st
  st=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# Signals the pollers the worker recorded that still run. They are the
# worker's children, so once it is gone their pids could in principle be
# reused: a pid is signalled only while its command line is still this script.
# shellcheck disable=SC2317 # used by cleanup
kill_pollers() {
  local p
  [ -s "$tmp/pollers" ] || return 0
  while read -r p; do
    if grep -qa 'testnet\.sh' "/proc/$p/cmdline" 2>/dev/null; then
      kill "-$1" "$p" 2>/dev/null
    fi
  done <"$tmp/pollers"
}

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local rc=$? p
  set +e
  # Teardown must not be cut short: a second Ctrl-C (or the INT a terminal
  # sends to the whole process group) is ignored until it is done.
  trap '' INT TERM HUP
  trap - EXIT
  [ "$torn" = 0 ] || return 0
  torn=1
  if [ "$keep_up" = 1 ]; then
    exit "$rc"
  fi
  [ -z "$builder" ] || kill -TERM "$builder" 2>/dev/null
  touch "$tmp/stop" 2>/dev/null
  [ -z "$worker" ] || kill -TERM "$worker" 2>/dev/null
  kill_pollers TERM
  # First pass: ends the nodes and any client the worker is waiting for.
  teardown_run "$rid" 2>/dev/null
  # The worker (and a build) end at once now; bound the wait regardless.
  for p in $worker $builder; do
    for _ in $(seq 1 150); do
      pid_running "$p" || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  kill_pollers KILL
  # Second pass, now that nothing of ours can create a namespace or start a
  # process: this is the one that must leave nothing behind.
  if teardown_run "$rid"; then
    [ "$rc" = 77 ] || echo "$prog: torn down: no namespace of run $rid remains" >&3
  else
    rc=1
  fi
  # Logs are kept only when the run failed.
  if [ "$rc" = 1 ] && [ -d "$tmp" ]; then
    echo "$prog: logs kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
# A reader that goes away (`| head`) must not kill the script before or
# during its teardown: writes then fail instead.
trap '' PIPE
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'echo "$prog: terminated" >&2; exit 143' TERM
trap 'exit 129' HUP

cd "$(dirname "$0")/.."
if [ -z "$bin" ]; then
  say "building: cargo build --release"
  cargo build --release --quiet >&3 &
  builder=$!
  wait "$builder" || fail "cargo build --release failed"
  builder=
  bin=$PWD/target/release/daved
fi
"$bin" --version >/dev/null 2>&1 || fail "$bin does not run (--version failed)"
mkdir -p "$tmp"
chmod 700 "$tmp"

worker &
worker=$!
rc=0
wait "$worker" || rc=$?
worker= # reaped
if [ "$rc" = 0 ] && [ "$keep" = 1 ]; then keep_up=1; fi
exit "$rc"
