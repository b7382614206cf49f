#!/usr/bin/env bash
# Amplification with truly forged source addresses: a daved node, an
# attacker, a victim and an honest client, each in its own network
# namespace on a private bridge (10.77.0.0/24). The attacker sends datagrams
# from a raw socket with the victim's address as their source; the victim
# stays silent and counts what the node sends it. Then the ARP case: forged
# sources on the node's own subnet that do not exist (10.77.0.200-250, never
# answering ARP), while an honest client asks the node for a dat.
#
# Everything runs inside namespaces this script creates, and is torn down
# on exit, error, Ctrl-C or SIGTERM. Needs root and iproute2; exits 77
# ("skipped") where network namespaces cannot be made. Run with -h for usage.
set -euo pipefail
export LC_ALL=C

prog=amplify-netns
usage() {
  cat <<'EOF'
usage: scripts/amplify-netns.sh [options]

Namespaces (all created here, joined by veths to a bridge in a namespace of
its own): node 10.77.0.1 (daved on port 1618), attacker 10.77.0.2, victim
10.77.0.3, honest client 10.77.0.4.

1. Spoofed sources. For each case, the attacker sends datagrams with source
   10.77.0.3:PORT (a fresh port per case) from a raw socket (`dave-amp
   forge`), every MS for SECS; the victim (`dave-amp count`, a UDP socket
   that never sends) counts what arrives until AFTER s later. Cases:
   a one GETPEER, b GETPEERs, c GETs of a dat the node holds, d empty
   datagrams, e GETPEERs quoting the node's cookie for the attacker's own
   address, f GETPEERs quoting a random token. The bound: received bytes <=
   sent bytes + 20 x sent datagrams.
2. ARP. The attacker sends a GETPEER from every address of
   10.77.0.200-250:1618 (none exists, so the node's answers wait for ARP
   that never comes) every ARP_MS for ARP_SECS; after 2 s of it an honest
   client in its own namespace does the handshake and asks 20 GETs for the
   held dat, one every 250 ms, each answered if its PUT arrives within 1 s.

options:
  --secs S        seconds of sending per case (default 10)
  --every MS      period of the spoofed datagrams (default 80)
  --after S       seconds of counting after the sending ends (default 3)
  --cases LIST    the spoofed cases to run (default abcdef; "" for none)
  --arp-every MS  period of a round of forged GETPEERs from .200-.250
                  (default 10; 0 skips the ARP case)
  --arp-secs S    seconds of the ARP flood (default 30: the client's 20 GETs
                  end before it does)
  --unres-qlen-bytes N
                  set net.ipv4.neigh.eth0.unres_qlen_bytes in the node's
                  namespace (bytes of datagrams the kernel holds for one
                  address it is still resolving; default: the kernel's, 212992)
  --bin DIR       the directory holding daved and dave-amp (default: cargo
                  build --release, then its target/release)
  -h, --help      this help

exit status: 0 the bound held in every case, no victim entered the peer
table, and the honest client got at least 19 of 20 answers; 1 otherwise;
2 bad usage; 77 skipped (not root, or no network namespaces).
EOF
}

die_usage() {
  echo "$prog: $*" >&2
  echo "Try \`scripts/amplify-netns.sh -h\`." >&2
  exit 2
}

secs=10
every=80
after=3
cases=abcdef
arp_every=10
arp_secs=30
unres=
bin=
while [ $# -gt 0 ]; do
  case "$1" in
  -h | --help)
    usage
    exit 0
    ;;
  --secs | --every | --after | --cases | --arp-every | --arp-secs | --unres-qlen-bytes | --bin)
    [ $# -ge 2 ] || die_usage "$1 needs a value"
    case "$1" in
    --secs) secs=$2 ;;
    --every) every=$2 ;;
    --after) after=$2 ;;
    --cases) cases=$2 ;;
    --arp-every) arp_every=$2 ;;
    --arp-secs) arp_secs=$2 ;;
    --unres-qlen-bytes) unres=$2 ;;
    --bin) bin=$2 ;;
    esac
    shift 2
    ;;
  *) die_usage "unknown argument $1" ;;
  esac
done
is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }
for v in secs every after arp_every arp_secs; do
  is_uint "${!v}" || die_usage "--${v//_/-} wants a whole number, got '${!v}'"
  [ "${!v}" -le 600 ] || die_usage "--${v//_/-} must be at most 600"
done
[ "$every" -ge 1 ] || die_usage "--every must be at least 1"
[[ "$cases" =~ ^[a-f]*$ ]] || die_usage "--cases wants letters among abcdef, got '$cases'"
[ -z "$unres" ] || is_uint "$unres" || die_usage "--unres-qlen-bytes wants a whole number, got '$unres'"

say() { echo "$prog: $*" >&2; }
skip() {
  say "skipped: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"

cd "$(dirname "$0")/.."
if [ -z "$bin" ]; then
  say "building: cargo build --release --bin daved --bin dave-amp"
  cargo build --release --quiet --bin daved --bin dave-amp
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
for b in daved dave-amp; do
  [ -x "$bin/$b" ] || die_usage "$bin/$b is missing (build it, or give --bin DIR)"
done
bin=$(cd "$bin" && pwd)

rid=$(printf '%d%04x' "$$" "$((RANDOM ^ (RANDOM << 1)))" | cut -c1-10)
br=dave-amp-br-$rid
ns_node=dave-amp-$rid-node
ns_att=dave-amp-$rid-att
ns_vic=dave-amp-$rid-vic
ns_cli=dave-amp-$rid-cli
all_ns=("$ns_node" "$ns_att" "$ns_vic" "$ns_cli" "$br")
node=10.77.0.1:1618
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dave-amp-netns.XXXXXX")

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
  for ns in "${all_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
  left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -F -- "-$rid" || true)
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

err=$(ip netns add "$br" 2>&1) || skip "cannot create a network namespace ($err)"
err=$(ip -n "$br" link add br0 type bridge 2>&1) || skip "cannot create a bridge ($err)"
ip -n "$br" link set lo up
ip -n "$br" link set br0 up
i=0
for ns in "$ns_node" "$ns_att" "$ns_vic" "$ns_cli"; do
  i=$((i + 1))
  ip netns add "$ns"
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
  ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns"
  ip -n "$br" link set "v$i" master br0 up
  ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
say "run $rid: node 10.77.0.1, attacker .2, victim .3, client .4 on a bridge in $br"

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

if [ -n "$unres" ]; then
  in_ns "$ns_node" sh -c "echo $unres > /proc/sys/net/ipv4/neigh/eth0/unres_qlen_bytes" ||
    die_usage "cannot set unres_qlen_bytes in the node's namespace"
fi
in_ns "$ns_node" "$bin/daved" --status 0 -l "$node" >"$tmp/node.log" 2>&1 </dev/null &
node_pid=$!

# The dat of case c and of the ARP case (this also waits for the node).
work=$(in_ns "$ns_cli" "$bin/dave-amp" put --node "$node" 2>"$tmp/put.err") || {
  cat "$tmp/put.err" "$tmp/node.log" >&2
  say "FAILED: the node did not take a dat"
  exit 1
}
say "node up; it holds dat $work (written by the client, 10.77.0.4)"

status() { in_ns "$ns_node" "$bin/daved" status --json -p 1618; }
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }

# ---- 1. spoofed sources -------------------------------------------------------------

describe() {
  case "$1" in
  a) echo "one GETPEER" ;;
  b) echo "GETPEER every $every ms" ;;
  c) echo "GET of a held dat every $every ms" ;;
  d) echo "empty datagram every $every ms" ;;
  e) echo "GETPEER with another address's cookie as token, every $every ms" ;;
  f) echo "GETPEER with a random token, every $every ms" ;;
  esac
}

datagrams() { if [ "$1" = 1 ]; then echo "1 datagram"; else echo "$1 datagrams"; fi; }

ok=1
rows=()
port=4000
for c in $(grep -o . <<<"$cases"); do
  port=$((port + 1))
  in_ns "$ns_vic" "$bin/dave-amp" count --bind "10.77.0.3:$port" --secs $((secs + after + 1)) >"$tmp/count.$c" 2>&1 &
  counter=$!
  sleep 0.5
  in_ns "$ns_att" "$bin/dave-amp" forge --src "10.77.0.3:$port" --dst "$node" --case "$c" \
    --secs "$secs" --every "$every" --work "$work" >"$tmp/forge.$c" 2>&1 || {
    cat "$tmp/forge.$c" >&2
    say "FAILED: forging case $c"
    exit 1
  }
  wait "$counter" || {
    cat "$tmp/count.$c" >&2
    say "FAILED: counting case $c"
    exit 1
  }
  read -r sn sb < <(awk '/^sent/ {print $2, $4}' "$tmp/forge.$c") || true
  read -r rn rb < <(awk '/^received/ {print $2, $4}' "$tmp/count.$c") || true
  [ -n "${sn:-}" ] && [ -n "${rn:-}" ] || {
    cat "$tmp/forge.$c" "$tmp/count.$c" >&2
    say "FAILED: case $c printed no counts"
    exit 1
  }
  bound=$((sb + 20 * sn))
  if [ "$rn" -le "$sn" ] && [ "$rb" -le "$bound" ]; then holds=yes; else
    holds="**no**"
    ok=0
  fi
  if [ "$sb" -gt 0 ]; then ratio=$(awk -v r="$rb" -v s="$sb" 'BEGIN { printf "%.2fx", r / s }'); else ratio="0 B for 0 B"; fi
  [ "$sb" -gt 0 ] || [ "$rb" = 0 ] || ratio="$rb B for 0 B"
  rows+=("| ($c) $(describe "$c") | $(datagrams "$sn"), $sb B | $(datagrams "$rn"), $rb B | $ratio | $bound B | $holds |")
  say "case $c: sent $sn datagrams $sb B, the victim received $rn datagrams $rb B ($holds)"
done

st=$(status)
added=$(json_num peers_added "$st")
kill -0 "$node_pid" 2>/dev/null || {
  say "FAILED: the node exited"
  exit 1
}

if [ -n "$cases" ]; then
  echo
  echo "## Spoofed sources from a raw socket, in network namespaces ($secs s of sending every $every ms, counted until $after s after)"
  echo
  echo "| case | sent in the victim's name | the victim received | bytes received / sent | bound: sent + 20 B a datagram | holds |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  who="the honest client that wrote the dat"
  [ "${added:-0}" -le 1 ] || who="$who, and $((added - 1)) more"
  echo "Addresses added to the node's peer table (\`peers_added\` in \`daved status --json\`): $added ($who)."
  [ "$added" = 1 ] || ok=0
fi

# ---- 2. ARP ------------------------------------------------------------------------

if [ "$arp_every" -gt 0 ]; then
  out0=$(json_num packets_out "$st")
  err0=$(json_num send_errors "$st")
  full0=$(json_num outbox_full "$st")
  in_ns "$ns_att" "$bin/dave-amp" forge --src 10.77.0.200-250:1618 --dst "$node" --case b \
    --secs "$arp_secs" --every "$arp_every" >"$tmp/forge.arp" 2>&1 &
  flood=$!
  sleep 2
  in_ns "$ns_cli" "$bin/dave-amp" client --node "$node" --work "$work" --count 20 --every 250 --wait 1000 \
    >"$tmp/client.arp" 2>&1 || true
  wait "$flood" || {
    cat "$tmp/forge.arp" >&2
    say "FAILED: the ARP flood"
    exit 1
  }
  st=$(status)
  read -r fn fb < <(awk '/^sent/ {print $2, $4}' "$tmp/forge.arp") || true
  got=$(sed -n 's/^answered \([0-9]*\) of.*/\1/p' "$tmp/client.arp")
  hs=$(sed -n 's/^handshake in \([0-9]*\) ms/\1/p' "$tmp/client.arp")
  slow=$(sed -n 's/.*(slowest answer \([0-9.]*\) ms).*/\1/p' "$tmp/client.arp")
  neigh=$(in_ns "$ns_node" ip neigh show dev eth0 | grep -c -E 'FAILED|INCOMPLETE' || true)
  echo
  echo "## Forged sources on the node's subnet that never answer ARP"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| forged GETPEERs | $fn datagrams ($fb B) from 10.77.0.200-250 in $arp_secs s (a round of 51 every $arp_every ms) |"
  if [ -n "$hs" ]; then
    echo "| honest client's handshake (during the flood) | $hs ms |"
  else
    echo "| honest client's handshake (during the flood) | none: $(sed -n 's/^handshake failed: //p' "$tmp/client.arp") |"
  fi
  echo "| honest GETs answered | ${got:-0} of 20 (slowest ${slow:-?} ms) |"
  echo "| node's datagrams sent meanwhile | $(($(json_num packets_out "$st") - out0)), send errors $(($(json_num send_errors "$st") - err0)), dropped with the outbox full $(($(json_num outbox_full "$st") - full0)) |"
  echo "| neighbour entries unresolved at the end | $neigh |"
  echo "| the node's unres_qlen_bytes | $(in_ns "$ns_node" cat /proc/sys/net/ipv4/neigh/eth0/unres_qlen_bytes) |"
  say "the client's GETs:"
  grep '^GET' "$tmp/client.arp" | sed "s/^/$prog:   /" >&2 || true
  [ "${got:-0}" -ge 19 ] || ok=0
fi

echo
echo "Reproduce: \`scripts/amplify-netns.sh --secs $secs --every $every --after $after --cases '$cases' --arp-every $arp_every --arp-secs $arp_secs${unres:+ --unres-qlen-bytes $unres}\` (as root)"
if [ "$ok" = 1 ]; then
  say "ok"
else
  say "FAILED: see the tables"
  exit 1
fi
