#!/usr/bin/env bash
# Noisy neighbours: how much of its solo throughput a hello route keeps while, on the same
# server, another route is loaded with requests that
#
#   loop   compute until their deadline (a guest stuck in a loop: 504 at `timeout`)
#   grow   allocate past their memory cap (a guest that runs out of memory: 500)
#   slow   sleep 200 ms each (a guest waiting on something slow; ties up instances, not CPU)
#
# The neighbour's component has `max_concurrency = 4` (NEIGHBOUR_CONCURRENCY), so it holds at
# most that many of the server's instance slots, and runs twice: as `refused`, where requests
# over the cap get 503 at once (`max_queue = 0`, the default), and as `queued`, where they wait
# for an instance (`max_queue = 32`). Long-running guests, and components whose recent
# requests mostly failed, wait their turn while other requests are served
# (crates/runtime/src/fair.rs).
#
# Each phase runs wrk -c32 on /hello for DURATION seconds (default 10) and, for a neighbour,
# another wrk -c32 on the neighbour's route at the same time; phases run in ROUNDS rounds
# (default 3) and the medians are printed with the ratio to the solo phase of the same round.
#
#   bench/neighbours.sh [DURATION [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${2:-3}
concurrency=${NEIGHBOUR_CONCURRENCY:-4}
export TESSERA_LOG=error
unset RUST_BACKTRACE TOKIO_WORKER_THREADS
source bench/common.sh
need_commands wrk curl
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release)"
cargo build --release -q --locked --target wasm32-wasip2 --target-dir target/wasm -p hello -p wasi-echo
cargo build --release -q --locked -p tessera-cli

app=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$app"' EXIT
wasm=$PWD/target/wasm/wasm32-wasip2/release
cat > "$app/tessera.toml" <<TOML
[[route]]
path = "/hello"
component = "hello"

[[route]]
path = "/refused/..."
component = "refused"

[[route]]
path = "/queued/..."
component = "queued"

[component.hello]
source = "$wasm/hello.wasm"

[component.refused]
source = "$wasm/wasi_echo.wasm"

[component.refused.limits]
timeout = "1s"
memory = "32MiB"
max_concurrency = $concurrency

[component.queued]
source = "$wasm/wasi_echo.wasm"

[component.queued.limits]
timeout = "1s"
memory = "32MiB"
max_concurrency = $concurrency
max_queue = 32
TOML
port=$((20000 + RANDOM % 20000))
target/release/tessera up --manifest "$app/tessera.toml" --listen "127.0.0.1:$port" &
server=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/hello" >/dev/null && break; sleep 0.1; done
curl -fs "$base/hello" >/dev/null || { echo "the server did not start"; exit 1; }

declare -A paths=([loop]=loop [grow]="grow?mb=64" [slow]="sleep?ms=200")
kinds="refused/loop refused/grow refused/slow queued/loop queued/grow queued/slow"
# Each neighbour's own answer, once, to show what its requests get.
for kind in loop grow slow; do
  printf '%-5s answers %s\n' "$kind" "$(curl -s -o /dev/null -w '%{http_code} in %{time_total}s' "$base/refused/${paths[$kind]}")"
done

rps() { awk '/Requests\/sec/ { print $2 }'; }
results=$(mktemp)
for round in $(seq "$rounds"); do
  solo=$(wrk -t1 -c32 -d"${duration}s" "$base/hello" | rps)
  line="round $round: solo $solo"
  for kind in $kinds; do
    out=$(mktemp)
    wrk -t1 -c32 -d"${duration}s" "$base/${kind%/*}/${paths[${kind#*/}]}" >"$out" &
    noisy=$!
    with=$(wrk -t1 -c32 -d"${duration}s" "$base/hello" | rps)
    wait $noisy
    neighbour=$(rps <"$out")
    refused=$(awk '/Non-2xx/ { print $NF }' "$out")
    rm -f "$out"
    ratio=$(awk -v a="$with" -v b="$solo" 'BEGIN { printf "%.2f", a / b }')
    echo "$kind $ratio $with $neighbour ${refused:-0}" >>"$results"
    line+=", with $kind $with ($ratio; the neighbour got $neighbour answers/s, ${refused:-0} not 2xx)"
  done
  echo "$line"
done
ps -o rss= -p "$server" | awk '{ printf "server RSS after the load: %.1f MB\n", $1 / 1024 }'
echo
echo "medians over $rounds rounds (hello at 32 connections with the neighbour at 32, / solo):"
for kind in $kinds; do
  awk -v k="$kind" '$1 == k { print $2, $3, $4 }' "$results" | sort -n |
    awk -v k="$kind" '{ r[NR] = $1; w[NR] = $2; n[NR] = $3 } END { m = int((NR + 1) / 2);
      printf "  %-13s hello keeps %s of its solo req/s (%s req/s); neighbour answers/s %s\n", k, r[m], w[m], n[m] }'
done
rm -f "$results"
