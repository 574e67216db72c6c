#!/usr/bin/env bash
# Runs the whole test suite. Needs only Rust (rustup) and, for the browser test,
# installs what it needs: the wasm32-wasip2 target (the test build compiles every
# plugin under plugins/ for it), Debian's Chromium, Node.js and playwright-core.
# Extra arguments go to `cargo test` (for example a test name filter).
# WSGATE_SKIP_BROWSER=1 skips the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
cargo test --workspace --locked "$@"

if [ "${WSGATE_SKIP_BROWSER:-0}" = 1 ]; then
  echo "browser test skipped (WSGATE_SKIP_BROWSER=1)"
  exit 0
fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the browser test needs: ${missing[*]} (Debian: sudo apt-get install ${missing[*]});" \
      "or set WSGATE_SKIP_BROWSER=1 to skip it" >&2
    exit 1
  fi
fi
cd tests/browser
npm ci --no-audit --no-fund --silent
WSGATE_BIN="$PWD/../../target/debug/wsgate" node --test chat.test.mjs
