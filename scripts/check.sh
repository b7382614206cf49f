#!/usr/bin/env bash
# Everything CI checks: formatting, lints, every test, and the web page's
# checks (scripts/e2e.sh: JS vectors and headless Chromium, skipped with a
# message where node or Chromium is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
cargo test --doc
scripts/e2e.sh
