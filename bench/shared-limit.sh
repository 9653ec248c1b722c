#!/usr/bin/env bash
# What a rate limit shared through Redis costs, in one run, on one Tessera server and the hello
# component, against the same route without a limit and with a limit kept in the process:
#
#   plain   /plain: no middleware
#   local   /local: rate_limit per client IP, buckets in the process (governor)
#   shared  /shared: the same limit with store = "limits", a local redis-server: one Lua
#           script (GCRA) per request
#
# Both limits are set far above the offered load, so nothing is refused. wrk on loopback,
# DURATION seconds per load (default 5), 32 connections then 1, in ROUNDS rounds (default 3);
# Redis shares the two cores. Prints each round and the medians with the ratios to plain.
#
#   bench/shared-limit.sh [DURATION [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-5}
rounds=${2:-3}
unset RUST_BACKTRACE TOKIO_WORKER_THREADS
export TESSERA_LOG=warn
need_commands wrk curl redis-server
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release)"
cargo build --release -q --locked -p hello --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q --locked -p tessera-cli
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

redis_port=$((20000 + RANDOM % 20000))
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --logfile "$work/redis.log" &
cat >"$work/runtime.toml" <<TOML
[key_value_store.limits]
type = "redis"
url = "redis://127.0.0.1:$redis_port"
TOML
limit() { printf '[middleware.%s]\ntype = "rate_limit"\nrequests = 1000000\nper = "1s"\n%s\n\n' "$1" "$2"; }
{
  limit local ""
  limit shared 'store = "limits"'
  for route in plain local shared; do
    middleware='[]'
    [ "$route" = plain ] || middleware="[\"$route\"]"
    printf '[[route]]\npath = "/%s"\ncomponent = "hello"\nmiddleware = %s\n\n' "$route" "$middleware"
  done
  printf '[component.hello]\nsource = "%s"\n' "$PWD/target/wasm/wasm32-wasip2/release/hello.wasm"
} >"$work/tessera.toml"
port=$((40000 + RANDOM % 20000))
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
target/release/tessera up --manifest "$work/tessera.toml" --runtime-config "$work/runtime.toml" \
  --listen "127.0.0.1:$port" &
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/plain" >/dev/null && break; sleep 0.1; done
curl -fs "$base/shared" >/dev/null || { echo "the server did not start"; exit 1; }

results=$work/results
for round in $(seq "$rounds"); do
  line="round $round:"
  for route in plain local shared; do
    wrk -t1 -c8 -d1s "$base/$route" >/dev/null
    c32=$(wrk -t2 -c32 -d"${duration}s" "$base/$route" | awk '/Requests\/sec/ { print $2 }')
    c1=$(wrk -t1 -c1 -d"${duration}s" --latency "$base/$route" | awk '/ 50%/ { print $2 }' | to_us)
    echo "$route $c32 $c1" >>"$results"
    line+=" $route $c32 req/s (1 connection: p50 ${c1} us);"
  done
  echo "$line"
done
echo
echo "medians over $rounds rounds:"
for route in plain local shared; do
  rps=$(awk -v r="$route" '$1 == r { print $2 }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  p50=$(awk -v r="$route" '$1 == r { print $3 }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  base_rps=$(awk '$1 == "plain" { print $2 }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  awk -v r="$route" -v a="$rps" -v b="$base_rps" -v p="$p50" \
    'BEGIN { printf "  %-7s %9.0f req/s at 32 connections (%.2f x plain), p50 %s us at 1 connection\n", r, a, a / b, p }'
done
