#!/usr/bin/env bash
# Runs the benchmark suite: the gateway, the native tokio-tungstenite baseline, the
# Node.js `ws` peer and a raw TCP echo (the ceiling) in turn (and, with
# --servers gateway,gateway-js, the gateway serving the JavaScript echo and relay), each scenario on a freshly
# started server pinned to CPU 1, the load generator pinned to CPU 0; three repetitions;
# prints medians, the generator's CPU beside each figure, and ratios where the generator
# was not saturated. Needs only Rust (rustup), Node.js with npm and, for the cluster
# scenario, redis-server (installed from Debian when root and missing). Extra arguments
# go to `wsgate-load suite` (e.g. --reps 1 --servers gateway,baseline --scenarios
# echo32,echo32-batched,broadcast1k).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
needs "building wsgate (a C toolchain: cc links Rust programs, make builds jemalloc)" cc:build-essential make:make
rustup target add wasm32-wasip2
needs "the benchmark's Node.js peer and cluster scenario" node:nodejs npm:npm \
  redis-server:redis-server
# The `bench-dist` profile: what `dist` ships (whole-program optimized), with line
# tables for profiles; every server built by it alike. The first build takes ~11 min.
cargo build --profile bench-dist --locked -p wsgate -p wsgate-load
(cd tests/load/peer && npm ci --no-audit --no-fund --silent)
# The JavaScript echo and relay, for the `gateway-js` server.
for js in plugins/echo-js plugins/relay-js; do
  (cd "$js" && npm ci --no-audit --no-fund --silent && npm run --silent build >/dev/null)
done

# As many open files as this shell may have: the idle-connection scenario goes there.
ulimit -n "$(ulimit -Hn)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB, open-file limit $(ulimit -n)"
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  exec taskset -c 0 target/bench-dist/wsgate-load suite --server-cpu 1 "$@"
else
  echo "fewer than 2 CPUs or no taskset: server and load share the CPUs" >&2
  exec target/bench-dist/wsgate-load suite "$@"
fi
