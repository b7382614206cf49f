#!/usr/bin/env bash
# The web page's checks outside cargo: src/web/proto.js against the protocol
# vectors (node), and the page end to end in headless Chromium (Playwright
# driving Debian's /usr/bin/chromium). Skips, saying why, where node or
# Chromium is missing; .ci/run installs both.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1; then
  echo "e2e: skipped: node is not installed (apt-get install nodejs npm)"
  exit 0
fi
node src/web/test-vectors.mjs tests/vectors/protocol.json
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "e2e: skipped: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM)"
  exit 0
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
cargo build --quiet --bin daved
DAVED=target/debug/daved CHROMIUM="$chromium" node tests/e2e/browser.mjs
