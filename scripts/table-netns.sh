#!/usr/bin/env bash
# The peer table's address groups with real addresses (docs/protocol.md
# 5.4): a daved node, a crowd of many addresses in one /16 that all finish
# the handshake and keep alive, a writer, and an honest newcomer from
# another group, each in its own network namespace on a private bridge.
# The node's table must hold at most GROUP_MAX entries of the crowd's /16
# at any moment, while the newcomer is admitted and is sent every dat.
#
# Everything runs inside namespaces this script creates, and is torn down
# on exit, error, Ctrl-C or SIGTERM. Needs root and iproute2; exits 77
# ("skipped") where network namespaces cannot be made. Run with -h for usage.
set -euo pipefail
export LC_ALL=C

prog=table-netns
usage() {
  cat <<'EOF'
usage: scripts/table-netns.sh [options]

Namespaces (all created here, joined by veths to a bridge in a namespace of
its own; every address is a global-scope one, so the /16 rule applies):
node 192.0.2.1 (daved -v on port 1618), writer 192.0.2.2, newcomer
203.0.113.2, and the crowd: COUNT addresses from FROM, STEP apart (by
default 198.18.0.1, 198.18.1.1, ... 198.18.199.1: 200 addresses, each in
a /24 of its own, all in the /16 198.18/16).

1. The writer writes 5 dats through the node (`dave-crowd put`).
2. The crowd (`dave-crowd crowd`) does the handshake from every address and
   keeps each alive for SECS: a GETPEER quoting its token every EVERY ms,
   and an answer to every ping.
3. JOIN seconds into it, the newcomer (`dave-crowd newcomer`) does the same
   from its own address until the crowd stops, and counts the dats the
   node seeds it.

The node's table is followed from its log (`/d/pi/add` and `/d/pi/drop`
name every entry that comes and goes), and checked against `daved status
--json` at the end.

options:
  --count N    addresses in the crowd (default 200)
  --from IP    the crowd's first address (default 198.18.0.1)
  --step K     between two crowd addresses (default 256: one per /24)
  --secs S     seconds the crowd keeps alive (default 30)
  --every MS   period of each crowd address's GETPEER (default 50, about
               the node's own PING; 1 for a crowd 50 times as fast)
  --join S     seconds into the crowd's run the newcomer joins (default 5)
  --keep DIR   copy the node's log and the tools' output into DIR
  --bin DIR    the directory holding daved and dave-crowd (default: cargo
               build --release, then its target/release)
  -h, --help   this help

exit status: 0 every crowd address finished the handshake, the table held
at least one and at most GROUP_MAX entries of any one /16 of the crowd at
every moment, the newcomer got every dat and kept its entry, and the log
and the node agree on the table's size at the end; 1 otherwise; 2 bad
usage; 77 skipped (not root, or no network namespaces).
EOF
}

die_usage() {
  echo "$prog: $*" >&2
  echo "Try \`scripts/table-netns.sh -h\`." >&2
  exit 2
}

count=200
from=198.18.0.1
step=256
secs=30
every=50
join=5
bin=
keep=
while [ $# -gt 0 ]; do
  case "$1" in
  -h | --help)
    usage
    exit 0
    ;;
  --count | --from | --step | --secs | --every | --join | --bin | --keep)
    [ $# -ge 2 ] || die_usage "$1 needs a value"
    case "$1" in
    --count) count=$2 ;;
    --from) from=$2 ;;
    --step) step=$2 ;;
    --secs) secs=$2 ;;
    --every) every=$2 ;;
    --join) join=$2 ;;
    --bin) bin=$2 ;;
    --keep) keep=$2 ;;
    esac
    shift 2
    ;;
  *) die_usage "unknown argument $1" ;;
  esac
done
is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }
for v in count step secs every join; do
  is_uint "${!v}" || die_usage "--$v wants a whole number, got '${!v}'"
done
[ "$count" -ge 1 ] && [ "$count" -le 4000 ] || die_usage "--count must be 1..4000"
[ "$step" -ge 1 ] || die_usage "--step must be at least 1"
[ "$secs" -ge 1 ] && [ "$secs" -le 600 ] || die_usage "--secs must be 1..600"
[ "$every" -ge 1 ] && [ "$every" -le 10000 ] || die_usage "--every must be 1..10000"
[ "$join" -lt "$secs" ] || die_usage "--join must be below --secs"
[[ "$from" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die_usage "--from wants an IPv4 address, got '$from'"

say() { echo "$prog: $*" >&2; }
skip() {
  say "skipped: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"

cd "$(dirname "$0")/.."
group_max=$(sed -n 's/^pub const GROUP_MAX: usize = \([0-9]*\);/\1/p' crates/dave-core/src/peers.rs)
is_uint "$group_max" || die_usage "cannot read GROUP_MAX from crates/dave-core/src/peers.rs"
if [ -z "$bin" ]; then
  say "building: cargo build --release --bin daved --bin dave-crowd"
  cargo build --release --quiet --bin daved --bin dave-crowd
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
for b in daved dave-crowd; do
  [ -x "$bin/$b" ] || die_usage "$bin/$b is missing (build it, or give --bin DIR)"
done
bin=$(cd "$bin" && pwd)
crowd_args=(--from "$from" --count "$count" --step "$step")
addrs=$("$bin/dave-crowd" addrs "${crowd_args[@]}") || die_usage "bad crowd addresses"
case "$addrs" in
192.0.2.* | *$'\n'192.0.2.* | 203.0.113.* | *$'\n'203.0.113.*)
  die_usage "the crowd may not use 192.0.2/24 or 203.0.113/24 (the node's, the writer's, the newcomer's)"
  ;;
esac

rid=$(printf '%d%04x' "$$" "$((RANDOM ^ (RANDOM << 1)))" | cut -c1-10)
ns_br=dave-tbl-$rid-br
ns_node=dave-tbl-$rid-node
ns_crowd=dave-tbl-$rid-crowd
ns_new=dave-tbl-$rid-new
ns_wr=dave-tbl-$rid-wr
all_ns=("$ns_node" "$ns_crowd" "$ns_new" "$ns_wr" "$ns_br")
node=192.0.2.1:1618
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dave-table-netns.XXXXXX")

# Teardown: every process in our namespaces is ours (TERM, then KILL), then
# the namespaces go, taking the veths and the bridge with them.
teardown() {
  local rc=$? ns pids try
  set +e
  trap '' INT TERM HUP
  trap - EXIT
  for try in $(seq 1 20); do
    pids=$(for ns in "${all_ns[@]}"; do ip netns pids "$ns" 2>/dev/null; done)
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # a list of pids
    if [ "$try" -le 10 ]; then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
    sleep 0.2
  done
  wait 2>/dev/null
  if [ -n "$keep" ]; then
    mkdir -p "$keep" && cp "$tmp"/* "$keep"/ && say "kept the node's log and the tools' output in $keep"
  fi
  for ns in "${all_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
  left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -F -- "-$rid-" || true)
  if [ -n "$left" ]; then
    say "teardown: namespaces left behind: $left"
    rc=1
  else
    say "torn down: no namespace of run $rid remains"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap teardown EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM
trap 'exit 129' HUP

# ---- network ------------------------------------------------------------------
# One bridge; each namespace's eth0 holds its addresses as /32s, and every
# other address of the run is on-link through eth0 (ARP crosses subnets on
# one segment).

err=$(ip netns add "$ns_br" 2>&1) || skip "cannot create a network namespace ($err)"
err=$(ip -n "$ns_br" link add br0 type bridge 2>&1) || skip "cannot create a bridge ($err)"
ip -n "$ns_br" link set lo up
ip -n "$ns_br" link set br0 up
i=0
for ns in "$ns_node" "$ns_crowd" "$ns_new" "$ns_wr"; do
  i=$((i + 1))
  ip netns add "$ns"
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
  ip -n "$ns_br" link add "v$i" type veth peer name eth0 netns "$ns"
  ip -n "$ns_br" link set "v$i" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
ip -n "$ns_node" addr add 192.0.2.1/32 dev eth0
ip -n "$ns_wr" addr add 192.0.2.2/32 dev eth0
ip -n "$ns_new" addr add 203.0.113.2/32 dev eth0
sed 's|^\(.*\)$|addr add \1/32 dev eth0|' <<<"$addrs" | ip -n "$ns_crowd" -batch -
for ns in "$ns_node" "$ns_crowd" "$ns_new" "$ns_wr"; do
  ip -n "$ns" route add 0.0.0.0/0 dev eth0
done
say "run $rid: node 192.0.2.1, writer .2, newcomer 203.0.113.2, a crowd of $count addresses from $from ($step apart) on a bridge in $ns_br"

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}
status() { in_ns "$ns_node" "$bin/daved" status --json -p 1618; }
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }

in_ns "$ns_node" "$bin/daved" -v --status 0 -l "$node" >"$tmp/node.log" 2>&1 </dev/null &
node_pid=$!

# ---- 1. the writer --------------------------------------------------------------

works=$(in_ns "$ns_wr" "$bin/dave-crowd" put --node "$node" --count 5 2>"$tmp/put.err") || {
  cat "$tmp/put.err" "$tmp/node.log" >&2
  say "FAILED: the node did not take the writer's dats"
  exit 1
}
say "node up; the writer (192.0.2.2) wrote $(wc -l <<<"$works") dats"

# ---- 2. the crowd, 3. the newcomer ------------------------------------------------

t0=$(date +%s.%N)
in_ns "$ns_crowd" "$bin/dave-crowd" crowd --node "$node" "${crowd_args[@]}" \
  --secs "$secs" --every "$every" >"$tmp/crowd.out" 2>&1 &
crowd_pid=$!
sleep "$join"
say "the newcomer joins, $join s into the crowd's $secs s"
newcomer_ok=1
in_ns "$ns_new" "$bin/dave-crowd" newcomer --node "$node" --bind 203.0.113.2 \
  --works "$(paste -sd, <<<"$works")" --secs $((secs - join)) --stay >"$tmp/new.out" 2>&1 || newcomer_ok=0
wait "$crowd_pid" || {
  cat "$tmp/crowd.out" >&2
  say "FAILED: the crowd"
  exit 1
}
st=$(status)
kill -0 "$node_pid" 2>/dev/null || {
  say "FAILED: the node exited"
  exit 1
}
cat "$tmp/crowd.out" "$tmp/new.out" | sed "s/^/$prog: /" >&2

# ---- the table, from the node's log ------------------------------------------------
# Replays every add and drop: entries per /16 now, the most at any moment,
# and the addresses ever admitted. Only the crowd's /16s are of interest.

# A slot won from its occupant logs the add, then the occupant's drop with
# "silent 0 epochs": the two are one change, counted after the drop.
grep -oE '/d/pi/(add [0-9.]+:[0-9]+|drop [0-9.]+:[0-9]+ silent [0-9]+)' "$tmp/node.log" >"$tmp/table.ev" || true
read -r crowd_max crowd_end crowd_ever crowd_groups other_end crowd_all_max new_end < <(
  awk -v crowd="$(tr '\n' ' ' <<<"$addrs")" '
    function look() {
      for (k in g) if (now[k] > max) max = now[k]
      if (all > amax) amax = all
    }
    BEGIN { n = split(crowd, c, " "); for (i = 1; i <= n; i++) { split(c[i], o, "."); g[o[1] "." o[2]] = 1 } }
    {
      add = ($1 == "/d/pi/add")
      if (pending && !(!add && $4 == 0)) look()
      split($2, ap, ":"); split(ap[1], o, "."); k = o[1] "." o[2]
      d = add ? 1 : -1
      now[k] += d
      if (k in g) { all += d; if (add) ever[ap[1]] = 1 }
      pending = add
      if (!add) look()
    }
    END {
      if (pending) look()
      e = 0; o2 = 0; ng = 0
      for (k in g) { ng++; if (now[k] > e) e = now[k] }
      for (k in now) if (!(k in g)) o2 += now[k]
      ne = 0; for (a in ever) ne++
      print max + 0, e + 0, ne, ng, o2 + 0, amax + 0, now["203.0"] + 0
    }' "$tmp/table.ev"
)
peers=$(($(json_num peers "$st") + $(json_num clients "$st")))
full=$(json_num peers_full "$st")
read -r cn ch cg cp cd < <(awk '/^crowd/ {print $2, $4, $6, $8, $10}' "$tmp/crowd.out") || true
got=$(sed -n 's/^newcomer got \([0-9]*\) of.*/\1/p' "$tmp/new.out")
first_ms=$(sed -n 's/.*first after \([0-9-]*\) ms.*/\1/p' "$tmp/new.out")
all_ms=$(sed -n 's/.*all after \([0-9-]*\) ms.*/\1/p' "$tmp/new.out")
adds=$(grep -c '^/d/pi/add' "$tmp/table.ev" || true)

ok=1
[ "${ch:-0}" = "$count" ] || ok=0
[ "$crowd_max" -ge 1 ] && [ "$crowd_max" -le "$group_max" ] || ok=0
[ "$newcomer_ok" = 1 ] && [ "$new_end" = 1 ] || ok=0
# The log and the node's own count agree on the table at the end.
[ "$((crowd_end + other_end))" = "$peers" ] || ok=0

echo
echo "## $count addresses in $crowd_groups /16 against a node's peer table, in network namespaces ($secs s, a GETPEER from each every $every ms)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| crowd handshakes finished | ${ch:-?} of $count addresses (${cg:-?} GETPEERs quoting their tokens, ${cp:-?} of the node's pings answered, ${cd:-?} distinct dats seeded to the crowd) |"
echo "| crowd entries of one /16, at most at any moment (GROUP_MAX $group_max) | $crowd_max |"
echo "| crowd entries at the end | $crowd_end (of one /16 at most; $crowd_all_max in all at most at any moment) |"
echo "| crowd addresses ever admitted | $crowd_ever (entries turn over: $adds adds in all) |"
echo "| validated newcomers refused (\`peers_full\`) | ${full:-?} |"
if [ "$new_end" = 1 ]; then held="still in the table at the end"; else held="**not in the table at the end**"; fi
echo "| the newcomer (203.0.113.2), joining $join s in | got ${got:-0} of 5 dats, the first after ${first_ms:--} ms, all after ${all_ms:--} ms; $held |"
echo "| the node's table at the end (\`daved status --json\`: peers and clients) | $peers entries; by the log the crowd's $crowd_end and $other_end others (the writer, the newcomer) |"
echo
echo "Reproduce: \`scripts/table-netns.sh --count $count --from $from --step $step --secs $secs --every $every --join $join\` (as root)"
if [ "$ok" = 1 ]; then
  say "ok"
else
  say "FAILED: see the table"
  cat "$tmp/new.out" >&2
  exit 1
fi
