#!/usr/bin/env bash
# Fuzzes dave with cargo fuzz (libFuzzer): the packet decoder, a node's whole
# handle_packet path (checking every bound after each input), the backup
# loader, and the HTTP request and JSON parsers. Seeded with the protocol
# vectors in tests/fuzz/seeds.
#
#   scripts/fuzz.sh                 every target for 300 s (the long run)
#   scripts/fuzz.sh 20              every target for 20 s (what CI runs)
#   scripts/fuzz.sh 60 decode http  chosen targets
#
# Needs cargo-fuzz (cargo install cargo-fuzz); stable Rust works through
# RUSTC_BOOTSTRAP=1. Crashes are kept in tests/fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode node handshake table backup http)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 1
fi
export RUSTC_BOOTSTRAP=1
total=0
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)
  log=$(mktemp)
  echo "fuzz: $t for ${secs}s..."
  if ! cargo fuzz run --fuzz-dir tests/fuzz "$t" "$corpus" "tests/fuzz/seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FOUND A CRASH (input saved under tests/fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "fuzz: $t: $runs executions, 0 crashes"
  total=$((total + runs))
  rm -rf "$corpus" "$log"
done
echo "fuzz: ${#targets[@]} targets, $total executions, 0 crashes"
