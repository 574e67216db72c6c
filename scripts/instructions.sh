#!/usr/bin/env bash
# Counts the CPU instructions the gateway runs per echoed message, and which functions
# run them: valgrind's callgrind counts instructions (user space, the plugin's compiled
# code included), so the figure is the same whatever else the machine does, where a
# time on a shared machine moves by ±20 % from one run to the next. For A/B of a
# small change: run it on both builds (`--binary`); a difference of 1 % is real here.
# An instruction is not a time (a locked atomic or a cache miss costs more than an
# add): the time goes in ./scripts/bench.sh.
#
# The gateway (the `bench-dist` build unless --binary) serves the echo plugin (or the
# native baseline, `tests/load/src/baseline.rs`, its echo) under
# callgrind (about 50 times slower); `wsgate-load echo --client frames` runs twice
# against it, a short run and a long one, and the difference between the two counts
# per message is printed, so that what each run costs once (the handshakes, the
# closes) is not in it.
#
#   ./scripts/instructions.sh                       # 32 B, 16 in flight in one write
#   ./scripts/instructions.sh --depth 1             # a write per message, one in flight
#   ./scripts/instructions.sh --binary /tmp/wsgate-old --top 40
#   ./scripts/instructions.sh --baseline            # the native baseline, the yardstick
#   ./scripts/instructions.sh --plugin /tmp/echo-old.wasm  # another build of the echo plugin
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

binary="" plugin="" depth=16 size=32 top=25 port=8790 server=gateway
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --baseline) server=baseline; shift ;;
    --plugin) plugin=$(realpath "$2"); shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done

needs "counting instructions" valgrind:valgrind callgrind_control:valgrind python3:python3
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --profile bench-dist --locked -p wsgate -p wsgate-load
[ -n "$binary" ] || binary=target/bench-dist/wsgate
[ -n "$plugin" ] || plugin=$PWD/target/plugins/wasm32-wasip2/plugin/echo.wasm
load=target/bench-dist/wsgate-load
batched=""
[ "$depth" -gt 1 ] && batched="--batched"

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/echo.toml" <<EOF
listen = "127.0.0.1:$port"

[[app]]
name = "echo"
route = "/echo"
plugin = "$plugin"
EOF

if [ "$server" = baseline ]; then
  argv=(target/bench-dist/wsgate-baseline --listen "127.0.0.1:$port")
else
  argv=("$binary" serve --config "$work/echo.toml")
fi
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
  --dump-instr=no --compress-strings=no --compress-pos=no \
  "${argv[@]}" > "$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 240); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
  sleep 0.5
done
pin=()
[ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && pin=(taskset -c 0)
run() { # seconds, report file: one load run between two dumps of the counts
  callgrind_control -z "$pid" >/dev/null 2>&1
  "${pin[@]}" "$load" echo --addr "127.0.0.1:$port" --client frames --depth "$depth" \
    --size "$size" $batched --warmup 0 --duration "$1" --json > "$2"
  callgrind_control -d "$pid" >/dev/null 2>&1
}
run 1 "$work/short.json"
run 5 "$work/long.json"
kill "$pid"
wait "$pid" 2>/dev/null || true

python3 - "$work" "$top" "$depth" "$size" "$server" <<'EOF'
import collections, json, sys
work, top, depth, size, server = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def self_cost(path):
    """Instructions per function, its own (not its callees'), from a callgrind dump."""
    cost, fn, call = collections.Counter(), None, False
    for line in open(path, errors="replace"):
        if line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("calls="):
            call = True  # the next cost line is the call's, counted in the callee
        elif line[:1].isdigit() or line[:1] in "+-*":
            if call:
                call = False
            elif fn is not None:
                parts = line.split()
                if len(parts) >= 2:
                    cost[fn] += int(parts[1])
    return cost

short, long_ = self_cost(f"{work}/cg.out.1"), self_cost(f"{work}/cg.out.2")
reports = [json.load(open(f"{work}/{n}.json")) for n in ("short", "long")]
counts = [r["msgs_per_sec"] * s for r, s in zip(reports, (1, 5))]
msgs = counts[1] - counts[0]
diff = {f: long_[f] - short.get(f, 0) for f in long_}
total = sum(diff.values())
print(f"echo {size} B, depth {depth}{' in one write' if depth != '1' else ''}: "
      f"{total / msgs:,.0f} instructions per message in the {server} "
      f"({msgs:,.0f} messages between the two runs; failures {reports[1]['failures']})")
for f, c in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
    name = f if not f.startswith("0x") else f + " (no symbol: the plugin's compiled code)"
    print(f"{c / total * 100:5.1f} % {c / msgs:7,.0f}  {name[:150]}")
EOF
