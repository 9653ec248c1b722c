#!/usr/bin/env bash
# Tessera against its baselines, in one run, on the same hello component (examples/hello, or
# bench/lean-hello with BENCH_HELLO=lean):
#
#   native   a hyper hello server (bench/native-hello): the floor
#   tessera  tessera up on the component's manifest: a fresh instance per request
#   ws-def   wasmtime serve 48.0.8, default flags (plus -S cli, which the component needs)
#   ws-tuned wasmtime serve 48.0.8 with its best pooling flags
#
# Each gets the same wrk load on loopback: 32 connections, then 1 connection, DURATION
# seconds each (default 10), after a 2-second warm-up. Servers run one at a time so they do
# not compete for the two cores. That is one round; ROUNDS rounds (default 3) run the servers
# again, each round starting with the next server, so that a slow stretch of the machine falls
# on every server in turn. Prints every round's req/s and ratios, then the medians: req/s and
# p50/p99 latency per server, the server's CPU time per request at 32 connections (user +
# kernel, from /proc/PID/stat around the load), the median of the per-round ratios, and
# Tessera's idle RSS. wrk shares the two cores, so the CPU ratios are the closer measure of
# what each server costs; the req/s ratios are the targets.
#
#   bench/hello.sh [DURATION [ROUNDS]]
#   BENCH_PIN=1 bench/hello.sh [DURATION [ROUNDS]]
#   BENCH_HELLO=lean bench/hello.sh [DURATION [ROUNDS]]
#   BENCH_BEFORE=path/to/an/older/tessera bench/hello.sh [DURATION [ROUNDS]]
#
# BENCH_BEFORE adds a fifth server, `before`: another tessera binary (e.g. one built from an
# older commit) serving the same manifest, in the same rounds, and prints Tessera's ratios to
# it, so that a change to the request path is measured against what it replaced.
#
# BENCH_PIN=1 gives the server and wrk a core each: every server runs on core 0 (`taskset`;
# Tokio, in Tessera and in `wasmtime serve`, then starts one worker) and wrk on core 1 with one
# thread. No server then shares its core with the load generator, so req/s follow each
# server's CPU per request (docs/performance.md, "Server and wrk on separate cores").
#
# Why rounds: on these 2-core VMs a Wasm server's throughput flips between two levels (e.g.
# 45 k and 62 k req/s for Tessera, 36 k and 46 k for tuned `wasmtime serve`) for stretches of
# seconds to minutes, with CPU per request rising ~1.4x in both user and kernel time. A single
# run compares whichever levels each server happened to get (see docs/performance.md).
#
# RUST_BACKTRACE is unset for every server: with it set, `wasmtime serve` captures a Rust
# backtrace for an error it makes on every request, 6 % (default) to 15 % (tuned) fewer req/s
# (Tessera turns such backtraces off itself; see docs/performance.md). TOKIO_WORKER_THREADS is
# unset too, so that every server runs its default of one worker per core.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${2:-3}
export TESSERA_LOG=warn
source bench/common.sh
prepare_baselines
echo "building (release)"
cargo build --release -q -p tessera-cli -p native-hello
wasm=$hello_wasm
pin_server=() pin_wrk=() wrk_threads=2
if [ "${BENCH_PIN:-0}" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "BENCH_PIN=1 needs two cores"; exit 1; }
  pin_server=(taskset -c 0) pin_wrk=(taskset -c 1) wrk_threads=1
fi
results=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$results"' EXIT

port=3100
server_pid=
start() { # name, command...
  local name=$1; shift
  port=$((port + 1))
  "${pin_server[@]}" "$@" >"$results/$name.log" 2>&1 &
  server_pid=$!
  wait_for "$port" && return 0
  echo "$name did not start:"; cat "$results/$name.log"; exit 1
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

load() { # name, connections, threads
  local name=$1 conns=$2 threads=$3 out before after
  before=$(cpu_ticks "$server_pid")
  out=$("${pin_wrk[@]}" wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$server_pid")
  local rps p50 p99 cpu
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)
  cpu=$(awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    '/ requests in / { printf "%.2f", ticks * 1e6 / hz / $1 }' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$name: errors during the load:"; grep "Non-2xx\|Socket errors" <<<"$out"
  fi
  echo "$name $conns $rps $p50 $p99 $round $cpu" >>"$results/table"
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
    tessera) echo "$(rss "$server_pid")" >>"$results/rss-idle" ;;
    ws-def) echo "$(rss "$server_pid")" >>"$results/rss-ws" ;;
  esac
  "${pin_wrk[@]}" wrk -t"$wrk_threads" -c32 -d2s "http://127.0.0.1:$port/" >/dev/null # warm-up
  load "$name" 32 "$wrk_threads"
  load "$name" 1 1
  if [ "$name" = tessera ]; then
    echo "$(rss "$server_pid")" >>"$results/rss-loaded"
  fi
  stop
}

cache=$(mktemp -d)
# Fill the compile cache first, so that Tessera's idle RSS is that of a normal (re)start rather
# than of a process that has just run Cranelift.
TESSERA_LOG=off target/release/tessera check --manifest "$hello_manifest" --cache-dir "$cache"
servers=(native tessera ws-def ws-tuned)
if [ -n "${BENCH_BEFORE:-}" ]; then
  servers+=(before)
  cache_before=$(mktemp -d)
  TESSERA_LOG=off "$BENCH_BEFORE" check --manifest "$hello_manifest" --cache-dir "$cache_before"
fi
run_server() { # name
  local next="127.0.0.1:$((port + 1))"
  case $1 in
    native) run native target/release/native-hello "$next" ;;
    tessera) run tessera target/release/tessera up --manifest "$hello_manifest" \
      --listen "$next" --cache-dir "$cache" ;;
    ws-def) run ws-def "$wasmtime_cli" serve -S cli --addr "$next" "$wasm" ;;
    ws-tuned) run ws-tuned "$wasmtime_cli" serve -S cli --addr "$next" "$ws_tuned_flags" "$wasm" ;;
    before) run before "$BENCH_BEFORE" up --manifest "$hello_manifest" --listen "$next" \
      --cache-dir "$cache_before" ;;
  esac
}
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  for i in "${!servers[@]}"; do
    run_server "${servers[$(((round - 1 + i) % ${#servers[@]}))]}"
  done
done
rm -rf "$cache" "${cache_before:-}"

echo
placement="wrk -t$wrk_threads shares the cores with the server"
[ ${#pin_server[@]} -eq 0 ] || placement="server on core 0, wrk -t1 on core 1"
echo "$hello_wasm, ${duration}s per load, $rounds rounds, $(nproc) cores, wrk on loopback; $placement"
awk -v rounds="$rounds" -v servers="${servers[*]}" "$awk_median"'
  function med(key, col,   r, a) { for (r = 1; r <= rounds; r++) a[r] = v[key" "r, col]; return median(a, rounds) }
  # Column col (3: req/s, 7: CPU per request) of server num over that of den, in round r.
  function quotient(num, den, conns, col, r) { return v[num" "conns" "r, col] / v[den" "conns" "r, col] }
  function ratio(num, den, conns, col,   r, a) {
    for (r = 1; r <= rounds; r++) a[r] = quotient(num, den, conns, col, r)
    return median(a, rounds)
  }
  function ratio_row(label, den,   r) {
    printf "  %-9s", label
    for (r = 1; r <= rounds; r++) printf " %7.2fx", quotient("tessera", den, 32, 3, r)
    print ""
  }
  { for (c = 3; c <= 7; c++) v[$1" "$2" "$6, c] = $c }
  END {
    n = split(servers, names, " ")
    printf "req/s @32 by round:"
    for (r = 1; r <= rounds; r++) printf "  %d:", r
    print ""
    for (i = 1; i <= n; i++) { s = names[i]; printf "  %-9s", s
      for (r = 1; r <= rounds; r++) printf " %8.0f", v[s" 32 "r, 3]
      print "" }
    ratio_row("/default", "ws-def")
    ratio_row("/tuned", "ws-tuned")
    if (n == 5) ratio_row("/before", "before")
    print ""
    print "medians over the rounds:"
    printf "%-9s %12s %9s %9s %10s   %10s %9s %9s\n", "server", "req/s @32", "p50 us", "p99 us", "cpu us/req", "req/s @1", "p50 us", "p99 us"
    for (i = 1; i <= n; i++) { s = names[i]
      printf "%-9s %12.0f %9.0f %9.0f %10.1f   %10.0f %9.0f %9.0f\n", s, med(s" 32", 3), med(s" 32", 4), med(s" 32", 5), med(s" 32", 7), med(s" 1", 3), med(s" 1", 4), med(s" 1", 5) }
    print ""
    printf "tessera / wasmtime serve default  @32: %5.2fx  (target >= 4)\n", ratio("tessera", "ws-def", 32, 3)
    printf "tessera / wasmtime serve tuned    @32: %5.2fx  (target >= 2)\n", ratio("tessera", "ws-tuned", 32, 3)
    printf "tessera / native hyper            @32: %5.2fx\n", ratio("tessera", "native", 32, 3)
    printf "server CPU per request, x tessera @32: wasmtime serve default %.2fx, tuned %.2fx, native %.2fx\n", ratio("ws-def", "tessera", 32, 7), ratio("ws-tuned", "tessera", 32, 7), ratio("native", "tessera", 32, 7)
    if (n == 5) {
      printf "tessera / before                   @32: %5.2fx req/s, %5.2fx CPU per request; @1: %5.2fx req/s\n", ratio("tessera", "before", 32, 3), ratio("tessera", "before", 32, 7), ratio("tessera", "before", 1, 3)
    }
    for (r = 1; r <= rounds; r++) d[r] = v["tessera 1 "r, 4] - v["native 1 "r, 4]
    printf "added p50 latency over native      @1: %5.0f us (target <= 15)\n", median(d, rounds)
  }' "$results/table"
echo "tessera RSS idle:       $(head -1 "$results/rss-idle") (target <= 12 MB; first start)"
echo "tessera RSS after load: $(head -1 "$results/rss-loaded")"
echo "wasmtime serve RSS idle: $(head -1 "$results/rss-ws")"
# The link order (crates/cli/build.rs) keeps start-up and request code together.
check_link_order
