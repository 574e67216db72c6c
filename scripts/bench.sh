#!/usr/bin/env bash
# Runs the benchmark suite: the gateway, the native tokio-tungstenite baseline and the
# Node.js `ws` peer in turn, each scenario on a freshly started server pinned to CPU 1,
# the load generator pinned to CPU 0; three repetitions; prints medians and ratios.
# Needs only Rust (rustup) and Node.js with npm (installed from Debian when root and
# missing). Extra arguments go to `wsgate-load suite` (e.g. --reps 1 --servers
# gateway,baseline --scenarios echo32,broadcast1k).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "the Node.js peer needs node and npm (Debian: sudo apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
cargo build --release --locked -p wsgate -p wsgate-load
(cd tests/load/peer && npm ci --no-audit --no-fund --silent)

# As many open files as this shell may have: the idle-connection scenario goes there.
ulimit -n "$(ulimit -Hn)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB, open-file limit $(ulimit -n)"
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  exec taskset -c 0 target/release/wsgate-load suite --server-cpu 1 "$@"
else
  echo "fewer than 2 CPUs or no taskset: server and load share the CPUs" >&2
  exec target/release/wsgate-load suite "$@"
fi
