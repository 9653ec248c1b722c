#!/usr/bin/env bash
# What capabilities cost per request, in one run, on one Tessera build:
#
#   hello      examples/hello (the hello route)
#   noop       the caps test guest answering without touching a capability (wstd baseline)
#   kv-get     the same guest doing one key-value get and answering with the value, which is
#              set to noop's answer: the two routes differ by the get and nothing else
#   mixed      one KV get + one KV set + one SQL point query per request
#
# each on the embedded backends (SQLite files) and on Redis + PostgreSQL started here on
# loopback (from the Debian packages, installed if missing). wrk, DURATION seconds per load
# (default 5), 32 connections then 1; prints req/s, p50 and what a KV get adds over noop, to
# the p50 at 1 connection and to the server's CPU time per request at 32 connections (each
# the median over ROUNDS alternating noop/kv-get pairs, default 5).
#
#   bench/capabilities.sh [DURATION [ROUNDS]]
#
# RUST_BACKTRACE is unset, as in bench/hello.sh (tessera itself keeps backtraces out of error
# values, docs/performance.md; the unset keeps every run alike).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
duration=${1:-5}
rounds=${2:-5}
unset RUST_BACKTRACE
export TESSERA_LOG=warn
need_commands wrk curl redis-server
need_packages postgresql
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release)"
cargo build --release -q -p hello -p caps --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q -p tessera-cli
wasm=$PWD/target/wasm/wasm32-wasip2/release
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT

# Redis and PostgreSQL on free loopback ports, nothing persisted.
redis-server --bind 127.0.0.1 --port 6399 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$work/pg"
as_pg=(); [ "$(id -u)" = 0 ] && { chown postgres "$work/pg"; as_pg=(runuser -u postgres --); }
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -A trust -U tessera --no-sync >/dev/null
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p 5499 -k "$work/pg" \
  -c listen_addresses=127.0.0.1 >"$work/pg.log" 2>&1 &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5499) 2>/dev/null && break; sleep 0.1; done

cat >"$work/tessera.toml" <<TOML
[[route]]
path = "/hello"
component = "hello"

[[route]]
path = "/..."
component = "caps"

[component.hello]
source = "$wasm/hello.wasm"

[component.caps]
source = "$wasm/caps.wasm"
key_value_stores = ["default"]
sql_databases = ["default"]
TOML
cat >"$work/networked.toml" <<TOML
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6399"

[sql_database.default]
type = "postgres"
url = "postgres://tessera@127.0.0.1:5499/postgres"
TOML

printf '%-10s %-9s %10s %10s %10s\n' backend route "req/s@32" "req/s@1" "p50@1(us)"
declare -A p50 get_added get_rounds cpu_get_added cpu_get_rounds
run() { # backend, extra args...
  local backend=$1; shift
  target/release/tessera up --manifest "$work/tessera.toml" --listen 127.0.0.1:3199 \
    --state-dir "$work/state-$backend" "$@" >"$work/$backend.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:3199/hello >/dev/null 2>&1 && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:3199/kv/set?key=bench-get" -X PUT --data-binary $'noop\n' >/dev/null
  [ "$(curl -sf http://127.0.0.1:3199/bench/get)" = "$(curl -sf http://127.0.0.1:3199/noop)" ] ||
    { echo "/bench/get and /noop answer differently"; exit 1; }
  curl -sf http://127.0.0.1:3199/bench >/dev/null || { cat "$work/$backend.log"; exit 1; }
  for route in hello noop kv-get mixed; do
    local path=/$route
    case $route in kv-get) path=/bench/get;; mixed) path=/bench;; esac
    local url="http://127.0.0.1:3199$path"
    wrk -t2 -c32 -d2s "$url" >/dev/null
    local many one
    many=$(wrk -t2 -c32 -d"${duration}s" "$url" | awk '/Requests\/sec/ {print $2}')
    one=$(wrk -t1 -c1 -d"${duration}s" --latency "$url")
    local rps1 lat
    rps1=$(awk '/Requests\/sec/ {print $2}' <<<"$one")
    lat=$(awk '$1=="50%" {print $2}' <<<"$one" | to_us)
    p50[$backend-$route]=$lat
    printf '%-10s %-9s %10s %10s %10s\n' "$backend" "$route" "$many" "$rps1" "$lat"
  done
  # The target's figures: noop and kv-get alternate, ROUNDS times, and the median of the
  # per-round differences is what one get adds (a single pair is at the mercy of this
  # machine's noise): to the p50 at 1 connection, and to the server's CPU time per request
  # (utime + stime from /proc, over a run at 32 connections).
  local added=() cpu_added=() round
  for round in $(seq "$rounds"); do
    local a b ca cb
    a=$(wrk -t1 -c1 -d"${duration}s" --latency http://127.0.0.1:3199/noop | awk '$1=="50%" {print $2}' | to_us)
    b=$(wrk -t1 -c1 -d"${duration}s" --latency http://127.0.0.1:3199/bench/get | awk '$1=="50%" {print $2}' | to_us)
    added+=("$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')")
    ca=$(cpu_us_per_request "$pid" http://127.0.0.1:3199/noop "$duration")
    cb=$(cpu_us_per_request "$pid" http://127.0.0.1:3199/bench/get "$duration")
    cpu_added+=("$(awk -v a="$ca" -v b="$cb" 'BEGIN { printf "%.1f", b - a }')")
  done
  get_added[$backend]=$(median "${added[@]}")
  get_rounds[$backend]="${added[*]}"
  cpu_get_added[$backend]=$(median "${cpu_added[@]}")
  cpu_get_rounds[$backend]="${cpu_added[*]}"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
run embedded
run networked --runtime-config "$work/networked.toml"
for backend in embedded networked; do
  echo "$backend: one KV get adds ${get_added[$backend]} us to p50 at 1 connection, median of $rounds alternating rounds (${get_rounds[$backend]// /, } us)"
  echo "$backend: one KV get adds ${cpu_get_added[$backend]} us of server CPU per request at 32 connections, median of $rounds alternating rounds (${cpu_get_rounds[$backend]// /, } us)"
  awk -v b="${p50[$backend-noop]}" -v m="${p50[$backend-mixed]}" -v n="$backend" \
    'BEGIN { printf "%s: get+set+query adds %.0f us to p50 at 1 connection (one round)\n", n, m-b }'
done
echo "target: one embedded KV get adds at most 20 us"
