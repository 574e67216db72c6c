#!/usr/bin/env bash
# A cluster of two gateway nodes on one machine, each with the built-in demo:
# node a on http://localhost:8000/ and node b on http://localhost:8001/, over a
# redis-server of their own on 127.0.0.1:${REDIS_PORT:-6390} (no persistence).
# Open the chat page on both ports: the two pages talk to each other. The server
# API is on, with the token printed below (WSGATE_API_TOKEN sets it).
# Needs Rust (rustup) and installs Debian's redis-server when missing (as root).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
needs "the cluster demo" redis-server:redis-server
needs "building wsgate (a C toolchain: cc links Rust programs, make builds jemalloc)" cc:build-essential make:make
rustup target add wasm32-wasip2
cargo build --release --locked -p wsgate
port=${REDIS_PORT:-6390}
export WSGATE_API_TOKEN=${WSGATE_API_TOKEN:-demo-token-0123456789}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir /tmp \
  --loglevel warning &
pids+=($!)
for _ in $(seq 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
for node in a:8000 b:8001; do
  ./target/release/wsgate serve --listen "127.0.0.1:${node#*:}" \
    --redis "redis://127.0.0.1:$port" --node "${node%%:*}" &
  pids+=($!)
done
sleep 1
cat <<INFO

  node a: http://localhost:8000/    node b: http://localhost:8001/
  publish to the dashboard's room from a backend, through either node:
    curl -X POST -H "Authorization: Bearer $WSGATE_API_TOKEN" \\
      -d '{"type":"news","text":"hello"}' http://localhost:8000/api/v1/apps/dashboard/rooms/ticks/publish
  Ctrl-C stops both nodes and Redis.

INFO
wait
