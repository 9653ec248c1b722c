#!/usr/bin/env bash
# What observability costs, in one run, on examples/hello at 32 connections:
#
#   off       tessera up, no metrics
#   metrics   tessera up --metrics (every request counted, timed, and its guest's CPU time
#             and peak memory recorded)
#   sampled   the same with --metrics-cpu-every 16: the guest's CPU time measured on one
#             request in 16 (its clock reads are system calls; everything else on every one)
#   traces    tessera up --metrics --otlp-endpoint (and every request traced: sampled at 100 %,
#             three spans per request, exported over OTLP/HTTP to a local receiver,
#             tests/support's otlp-sink, which counts what arrives)
#
# wrk on loopback, DURATION seconds per load (default 5) after a 1-second warm-up, in ROUNDS
# rounds (default 5), each round starting with the next server. Prints req/s and server CPU
# per request by round, the medians, and the median of the rounds' ratios metrics / off and
# traces / off (targets: metrics cost at most 3 % of the throughput, metrics and traces at
# most 10 %), and how many of the spans made reached the receiver.
#
#   bench/observability.sh [DURATION [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
rounds=${2:-5}
export TESSERA_LOG=warn
source bench/common.sh
unset RUST_BACKTRACE TOKIO_WORKER_THREADS
need_commands wrk curl
build_hello
echo "building (release)"
cargo build --release -q -p tessera-cli
cargo build --release -q -p tessera-test-support --bin otlp-sink
check_link_order
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[[route]]\npath = "/..."\ncomponent = "hello"\n\n[component.hello]\nsource = "%s"\n' \
  "$PWD/$hello_wasm" >"$work/hello.toml"
servers=(off metrics sampled traces)

port=3400
server_pid=
run() { # name
  port=$((port + 2))
  local up=(target/release/tessera up --listen "127.0.0.1:$port" --manifest "$work/hello.toml")
  case $1 in
    off) "${up[@]}" >"$work/$1.log" 2>&1 & ;;
    metrics) "${up[@]}" --metrics "127.0.0.1:$((port + 1))" >"$work/$1.log" 2>&1 & ;;
    sampled)
      "${up[@]}" --metrics "127.0.0.1:$((port + 1))" --metrics-cpu-every 16 >"$work/$1.log" 2>&1 & ;;
    traces)
      target/release/otlp-sink "127.0.0.1:$((port + 1))" >"$work/sink.out" &
      sink_pid=$!
      until grep -q listening "$work/sink.out" 2>/dev/null; do sleep 0.05; done
      "${up[@]}" --metrics "127.0.0.1:$((port + 100))" --otlp-endpoint "http://127.0.0.1:$((port + 1))" \
        >"$work/$1.log" 2>&1 & ;;
  esac
  server_pid=$!
  wait_for "$port" || { echo "$1 did not start:"; cat "$work/$1.log"; exit 1; }
  local warm before after out sink_before=0 sink_after=0
  warm=$(wrk -t2 -c32 -d1s "http://127.0.0.1:$port/")
  [ "$1" = traces ] && sink_before=$(cpu_ticks "$sink_pid")
  before=$(cpu_ticks "$server_pid")
  out=$(wrk -t2 -c32 -d"${duration}s" "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$server_pid")
  [ "$1" = traces ] && sink_after=$(cpu_ticks "$sink_pid")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$1: errors during the load:"; grep "Non-2xx\|Socket errors" <<<"$out"
  fi
  if [ "$1" = metrics ] || [ "$1" = sampled ]; then
    # The scrape sees every request the load sent (and the warm-up's).
    curl -sf "http://127.0.0.1:$((port + 1))/metrics" | grep -q '^tessera_requests_total' ||
      { echo "metrics: no request counted"; exit 1; }
  fi
  awk -v name="$1" -v round="$round" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    '/^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
     END { printf "%s %s %s %.2f\n", name, round, rps, ticks * 1e6 / hz / n }' <<<"$out" >>"$work/table"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  if [ "$1" = traces ]; then
    # The server sent what it still held when it stopped; then the receiver says what came.
    kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true
    local sent
    sent=$(awk '/ requests in / { n += $1 } END { print n }' <<<"$warm"$'\n'"$out")
    # The receiver shares the two cores: its CPU per request of the load, which the
    # throughput pays for and the server's CPU column does not show.
    awk -v sent="$sent" -v round="$round" -v hz="$(getconf CLK_TCK)" -v ticks=$((sink_after - sink_before)) \
      '/ requests in / { n = $1 } /^spans/ { spans = $2 }
       END { printf "round %s: %d spans received for %d requests (%.2f per request: 3 when the instance is made for the request, 2 when it was made ahead); the receiver used %.1f us of CPU per request\n", round, spans, sent, spans / sent, ticks * 1e6 / hz / n }' \
      <(echo "$out") "$work/sink.out" | tee -a "$work/spans"
  fi
}

run_rounds

echo
echo "$hello_wasm, ${duration}s per load at 32 connections, $rounds rounds, $(nproc) cores, wrk on loopback"
awk -v rounds="$rounds" -v servers="${servers[*]}" "$awk_median"'
  { rps[$1" "$2] = $3; cpu[$1" "$2] = $4 }
  END {
    n = split(servers, names, " ")
    printf "%-9s %-40s %9s %12s\n", "server", "req/s by round", "median", "cpu us/req"
    for (i = 1; i <= n; i++) { s = names[i]; line = ""
      for (r = 1; r <= rounds; r++) { line = line sprintf(" %7.0f", rps[s" "r]); a[r] = rps[s" "r]; c[r] = cpu[s" "r] }
      printf "%-9s %-40s %9.0f %12.1f\n", s, line, median(a, rounds), median(c, rounds) }
    for (r = 1; r <= rounds; r++) { a[r] = rps["metrics "r] / rps["off "r]; c[r] = cpu["metrics "r] / cpu["off "r] }
    printf "\nmetrics / off: %.3fx req/s, %.3fx CPU per request (medians of the rounds; target >= 0.97x req/s)\n", median(a, rounds), median(c, rounds)
    for (r = 1; r <= rounds; r++) { a[r] = rps["sampled "r] / rps["off "r]; c[r] = cpu["sampled "r] / cpu["off "r] }
    printf "sampled / off: %.3fx req/s, %.3fx CPU per request (guest CPU time on 1 request in 16)\n", median(a, rounds), median(c, rounds)
    for (r = 1; r <= rounds; r++) { a[r] = rps["traces "r] / rps["off "r]; c[r] = cpu["traces "r] / cpu["off "r] }
    printf "traces / off: %.3fx req/s, %.3fx CPU per request (metrics and traces; target >= 0.90x req/s)\n", median(a, rounds), median(c, rounds)
  }' "$work/table"
cat "$work/spans"
