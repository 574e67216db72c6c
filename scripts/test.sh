#!/usr/bin/env bash
# Runs the whole test suite. Needs only Rust (rustup) and installs what it needs:
# the wasm32-wasip2 target (the test build compiles every plugin under plugins/ for
# it), Debian's redis-server (the cluster tests start their own, on a free loopback
# port), Node.js and npm (the JavaScript plugins, built with componentize-qjs) and, for
# the browser test, Debian's Chromium and playwright-core.
# Extra arguments go to `cargo test` (for example a test name filter).
# WSGATE_SKIP_BROWSER=1 skips the browser test; WSGATE_SKIP_JS=1 skips the JavaScript
# plugins' tests (a machine without Node.js can run the rest with both).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
needs "building wsgate (a C toolchain: cc links Rust programs, make builds jemalloc)" cc:build-essential make:make
rustup target add wasm32-wasip2
needs "the cluster tests" redis-server:redis-server
skip_js=${WSGATE_SKIP_JS:-0}
if [ "$skip_js" != 1 ] || [ "${WSGATE_SKIP_BROWSER:-0}" != 1 ]; then
  needs "the JavaScript plugins and the browser test (WSGATE_SKIP_JS=1 WSGATE_SKIP_BROWSER=1 skip them)" \
    node:nodejs npm:npm
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# One line at the end, whatever happened: N passed, N failed (cargo's and the browser's).
summary() {
  awk '/^test result:/ { p += $4; f += $6 } /^# pass / { p += $3 } /^# fail / { f += $3 }
       END { printf "%d passed, %d failed\n", p, f }' "$log"
}
status=0
# The JavaScript SDK's and plugins' unit tests (node --test), the plugins' components
# (npm, the SDK in plugin-sdk/js), then the gateway's tests of them and of
# `wsgate new --lang js` (ignored by a plain cargo test).
if [ "$skip_js" = 1 ]; then
  echo "JavaScript plugins' tests skipped (WSGATE_SKIP_JS=1)"
else
  (cd plugin-sdk/js && node --test test/) 2>&1 | tee -a "$log" || status=1
  for js in plugins/*-js; do
    (cd "$js" && npm ci --no-audit --no-fund --silent && npm run --silent build && npm test) 2>&1 \
      | tee -a "$log" || status=1
  done
fi
cargo test --workspace --locked "$@" 2>&1 | tee -a "$log" || status=$?
if [ "$status" = 0 ] && [ $# = 0 ] && [ "$skip_js" != 1 ]; then
  cargo test --locked -p wsgate-tests --test gateway -- --ignored js:: 2>&1 | tee -a "$log" || status=$?
  cargo test --locked -p wsgate --test cli -- --ignored js_ 2>&1 | tee -a "$log" || status=$?
fi
if [ "$status" != 0 ]; then
  summary
  exit "$status"
fi

if [ "${WSGATE_SKIP_BROWSER:-0}" = 1 ]; then
  echo "browser test skipped (WSGATE_SKIP_BROWSER=1)"
  summary
  exit 0
fi
needs "the browser test (WSGATE_SKIP_BROWSER=1 skips it)" chromium:chromium
(cd tests/browser && npm ci --no-audit --no-fund --silent)
(cd tests/browser && WSGATE_BIN="$PWD/../../target/debug/wsgate" node --test chat.test.mjs) 2>&1 \
  | tee -a "$log" || status=1
summary
exit "$status"
