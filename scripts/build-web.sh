#!/usr/bin/env bash
# Rebuilds src/web/vendor.js (blake3 from @noble/hashes, Ed25519 from
# @noble/curves, versions pinned in src/web/build/package-lock.json) and
# src/web/vendor-LICENSE.txt. The built files are committed and embedded in
# daved, so building dave needs no npm; run this only to update them.
set -euo pipefail
cd "$(dirname "$0")/../src/web/build"
npm ci --no-audit --no-fund
./node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --legal-comments=none \
  --target=es2020 --outfile=../vendor.js
{
  echo "src/web/vendor.js bundles these libraries (built by scripts/build-web.sh):"
  for p in @noble/hashes @noble/curves; do
    v=$(node -p "require('./node_modules/$p/package.json').version")
    echo
    echo "== $p $v =="
    cat "node_modules/$p/LICENSE"
  done
} > ../vendor-LICENSE.txt
echo "wrote src/web/vendor.js ($(wc -c < ../vendor.js) bytes) and src/web/vendor-LICENSE.txt"
