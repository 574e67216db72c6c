#!/usr/bin/env bash
# Runs the whole test suite. Needs only Rust (rustup): it installs the wasm32-wasip2
# target, and the test build compiles every plugin under plugins/ for it.
# Extra arguments go to `cargo test` (for example a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
cargo test --workspace --locked "$@"
