#!/usr/bin/env bash
# How fast a new replica answers: process start to the first 200, for Tessera (warm compile
# cache), `wasmtime serve` 48 (its compile cache on, warm) and native hyper, all serving
# examples/hello, in one run, servers taking turns.
#
#   bench/start.sh [RUNS [ROUNDS]]     (defaults 20 and 3; about a minute)
#   BENCH_HELLO=p3 bench/start.sh      the same hello as a WASI 0.3 component (bench/p3-hello)
#
# Each round times RUNS starts of each server with tests/support's first-answer (a GET every
# 100 µs from the moment the process is spawned; one untimed start first). Prints the median
# per server and round, and the ratios Tessera / wasmtime serve and Tessera / native.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
runs=${1:-20}
rounds=${2:-3}

prepare_baselines
cargo build --release -q -p tessera-cli -p native-hello
check_link_order
cargo build --release -q -p tessera-test-support --bin first-answer
first_answer=target/release/first-answer

port=$((20000 + RANDOM % 20000))
addr=127.0.0.1:$port
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
TESSERA_LOG=off target/release/tessera check --manifest "$hello_manifest" --cache-dir "$cache"
# wasmtime serve's cache is warmed by first-answer's untimed start.

declare -A command=(
  [tessera]="env TESSERA_LOG=warn target/release/tessera up --manifest $hello_manifest --listen $addr --cache-dir $cache"
  [wasmtime]="$wasmtime_cli serve -S cli -C cache=y --addr $addr $hello_wasm"
  [native]="target/release/native-hello $addr"
)
servers=(tessera wasmtime native)
results=$(mktemp)
for round in $(seq "$rounds"); do
  for i in "${!servers[@]}"; do
    name=${servers[$(((round - 1 + i) % ${#servers[@]}))]}
    # shellcheck disable=SC2086 # the command is words
    median=$("$first_answer" "$addr" / "$runs" -- ${command[$name]} | awk '/^median/ { print $2 }')
    echo "round $round: $name median $median ms"
    echo "$name $round $median" >>"$results"
  done
done

echo
echo "process start to first 200, median of $runs starts per round, ms ($hello_wasm, $(nproc) cores)"
awk -v rounds="$rounds" '
  { v[$1, $2] = $3 }
  END {
    printf "%-6s %10s %10s %10s %18s %16s\n", "round", "tessera", "wasmtime", "native", "tessera/wasmtime", "tessera/native"
    for (r = 1; r <= rounds; r++)
      printf "%-6d %10.2f %10.2f %10.2f %18.2f %16.2f\n", r, v["tessera", r], v["wasmtime", r], v["native", r],
        v["tessera", r] / v["wasmtime", r], v["tessera", r] / v["native", r]
  }' "$results"
rm -f "$results"
