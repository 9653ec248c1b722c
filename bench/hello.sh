#!/usr/bin/env bash
# Tessera against its baselines, in one run, on the same hello component (examples/hello):
#
#   native   a hyper hello server (bench/native-hello): the floor
#   tessera  tessera up examples/hello/tessera.toml: a fresh instance per request
#   ws-def   wasmtime serve 48.0.8, default flags (plus -S cli, which the component needs)
#   ws-tuned wasmtime serve 48.0.8 with its best pooling flags
#
# Each gets the same wrk load on loopback: 32 connections, then 1 connection, DURATION
# seconds each (default 10), after a 2-second warm-up. Servers run one at a time so they do
# not compete for the two cores. Prints req/s, p50/p99 latency, ratios, and Tessera's idle RSS.
#
#   bench/hello.sh [DURATION]
#
# RUST_BACKTRACE is unset for every server: with it set, Wasmtime captures a backtrace for
# every dropped store, which would slow `wasmtime serve` (Tessera is not affected; see
# docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
unset RUST_BACKTRACE
export TESSERA_LOG=warn

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { sudo=; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y "$tool"; }
done
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
tools=target/bench-tools
if ! "$tools/bin/wasmtime" --version 2>/dev/null | grep -q '^wasmtime 48.0.8'; then
  echo "installing wasmtime-cli 48.0.8 into $tools (once; takes several minutes)"
  cargo install wasmtime-cli@48.0.8 --locked --root "$tools"
fi
echo "building (release)"
cargo build --release -q -p hello --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q -p tessera-cli -p native-hello
wasm=target/wasm/wasm32-wasip2/release/hello.wasm
results=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$results"' EXIT

port=3100
server_pid=
start() { # name, command...
  local name=$1; shift
  port=$((port + 1))
  "$@" >"$results/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$name did not start:"; cat "$results/$name.log"; exit 1
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

# wrk's latency figures carry units; print microseconds.
to_us() { awk '{ v=$1; u=v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v);
  if (u=="us") print v; else if (u=="ms") print v*1000; else if (u=="s") print v*1000000; else print v }'; }

load() { # name, connections, threads
  local name=$1 conns=$2 threads=$3 out
  out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$port/")
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$name: errors during the load:"; grep "Non-2xx\|Socket errors" <<<"$out"
  fi
  echo "$name $conns $rps $p50 $p99" >>"$results/table"
}

# Resident memory in kB: the total, and its private (anonymous) and file-backed (the binary's
# code and data, shared with the page cache) parts.
rss() {
  awk '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 }
    END { printf "%d kB (anonymous %d kB, file-backed %d kB)", v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' \
    "/proc/$1/status"
}

run() { # name, command...
  local name=$1
  start "$@"
  case $name in
    tessera) rss_idle=$(rss "$server_pid") ;;
    ws-def) rss_ws=$(rss "$server_pid") ;;
  esac
  wrk -t2 -c32 -d2s "http://127.0.0.1:$port/" >/dev/null # warm-up
  load "$name" 32 2
  load "$name" 1 1
  if [ "$name" = tessera ]; then
    rss_loaded=$(rss "$server_pid")
  fi
  stop
}

cache=$(mktemp -d)
# Fill the compile cache first, so that Tessera's idle RSS is that of a normal (re)start rather
# than of a process that has just run Cranelift.
TESSERA_LOG=off target/release/tessera check --manifest examples/hello/tessera.toml --cache-dir "$cache"
run native target/release/native-hello "127.0.0.1:$((port + 1))"
run tessera target/release/tessera up --manifest examples/hello/tessera.toml \
  --listen "127.0.0.1:$((port + 1))" --cache-dir "$cache"
run ws-def "$tools/bin/wasmtime" serve -S cli --addr "127.0.0.1:$((port + 1))" "$wasm"
run ws-tuned "$tools/bin/wasmtime" serve -S cli --addr "127.0.0.1:$((port + 1))" \
  -O pooling-table-keep-resident=65536,pooling-memory-keep-resident=2097152,pooling-pagemap-scan=y "$wasm"
rm -rf "$cache"

echo
echo "hello component, ${duration}s per load, $(nproc) cores, wrk on loopback"
awk '
  { rps[$1" "$2]=$3; p50[$1" "$2]=$4; p99[$1" "$2]=$5 }
  END {
    printf "%-9s %12s %9s %9s   %10s %9s %9s\n", "server", "req/s @32", "p50 us", "p99 us", "req/s @1", "p50 us", "p99 us"
    n = split("native tessera ws-def ws-tuned", names, " ")
    for (i = 1; i <= n; i++) { s = names[i]
      printf "%-9s %12.0f %9.0f %9.0f   %10.0f %9.0f %9.0f\n", s, rps[s" 32"], p50[s" 32"], p99[s" 32"], rps[s" 1"], p50[s" 1"], p99[s" 1"] }
    print ""
    printf "tessera / wasmtime serve default  @32: %5.2fx  (target >= 4)\n", rps["tessera 32"] / rps["ws-def 32"]
    printf "tessera / wasmtime serve tuned    @32: %5.2fx  (target >= 2)\n", rps["tessera 32"] / rps["ws-tuned 32"]
    printf "tessera / native hyper            @32: %5.2fx\n", rps["tessera 32"] / rps["native 32"]
    printf "added p50 latency over native      @1: %5.0f us (target <= 15)\n", p50["tessera 1"] - p50["native 1"]
  }' "$results/table"
echo "tessera RSS idle:       $rss_idle (target <= 12 MB)"
echo "tessera RSS after load: $rss_loaded"
echo "wasmtime serve RSS idle: $rss_ws"
# The link order (crates/cli/build.rs) keeps start-up and request code together; it names
# symbols, which a dependency update renames. How much of it this binary still matches:
order=crates/cli/tessera.order
matched=$(nm --defined-only target/release/tessera |
  awk 'NR == FNR { want[$1]; next } ($3 in want) && !seen[$3]++ { n++ } END { print n + 0 }' "$order" -)
echo "link order: $matched of $(wc -l <"$order") functions of $order found in the binary" \
  "(regenerate with scripts/order-file.sh if far fewer)"
