#!/usr/bin/env bash
# The web page's checks outside cargo: src/web/proto.js and src/web/files.js
# against the protocol and layout vectors (node), and the page end to end
# in headless Chromium (Playwright driving Debian's /usr/bin/chromium).
# Skips, saying why, where node or Chromium is missing; .ci/run installs
# both. DAVE_E2E_MEASURE=1 also times a 1 MB file written from the page.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1; then
  echo "e2e: skipped: node is not installed (apt-get install nodejs npm)"
  exit 0
fi
node src/web/test-vectors.mjs tests/vectors/protocol.json tests/vectors/layout.json
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "e2e: skipped: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM)"
  exit 0
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
# DAVED names another build (target/release/daved for measurements).
if [ -z "${DAVED:-}" ]; then
  cargo build --quiet --bin daved
fi
DAVED=${DAVED:-target/debug/daved} CHROMIUM="$chromium" node tests/e2e/browser.mjs
