#!/usr/bin/env bash
# What a middleware chain costs, in one run, on one Tessera server and the hello component:
#
#   plain      /plain: the hello route with no middleware, sent the same requests as chain
#   chain      /chain: the same route behind cors + jwt (HS256) + guard (role) + rate_limit
#              (per JWT subject, set far above the offered load so nothing is refused),
#              requests carrying a valid token and an Origin header
#   rejected   /chain without a token: answered 401 by the jwt step, no Wasm instance
#
# wrk on loopback, DURATION seconds per load (default 5) after a 1-second warm-up, 32
# connections then 1, in ROUNDS rounds (default 5; plain and chain run twice at 32 connections
# per round, in ABBA order, against drift). Prints req/s, p50 and the ratios the issue
# sets targets for: the chain loses at most 10 % of plain's throughput, and a rejected request
# costs less than a served one.
#
#   bench/middleware.sh [DURATION [ROUNDS]]
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
need_commands wrk curl openssl
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release)"
cargo build --release -q -p hello --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q -p tessera-cli
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

secret=bench-only-secret
cat >"$work/tessera.toml" <<TOML
[middleware.cors]
type = "cors"
allow_origins = ["https://app.example.com"]

[middleware.auth]
type = "jwt"
secret = "$secret"
issuer = "https://issuer.example.com"

[middleware.members]
type = "guard"
roles = ["member"]

[middleware.limit]
type = "rate_limit"
requests = 1000000
per = "1s"
key = "subject"

[[route]]
path = "/plain"
component = "hello"

[[route]]
path = "/chain"
component = "hello"
middleware = ["cors", "auth", "members", "limit"]

[component.hello]
source = "$PWD/target/wasm/wasm32-wasip2/release/hello.wasm"
[component.hello.limits]
max_concurrency = 200
TOML

# An HS256 token valid for a day.
now=$(date +%s)
token=$(scripts/hs256-token.sh "$secret" "$(printf \
  '{"sub":"bench-user","iss":"https://issuer.example.com","roles":["member"],"iat":%d,"exp":%d}' \
  "$now" $((now + 86400)))")

target/release/tessera up --manifest "$work/tessera.toml" --listen 127.0.0.1:3299 >"$work/server.log" 2>&1 &
for _ in $(seq 200); do curl -sf http://127.0.0.1:3299/plain >/dev/null 2>&1 && break; sleep 0.05; done
base=http://127.0.0.1:3299
auth=(-H "Authorization: Bearer $token" -H "Origin: https://app.example.com")
check() { # expected status, url, curl args...
  local want=$1 url=$2; shift 2
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  [ "$got" = "$want" ] || { echo "expected $want from $url, got $got"; cat "$work/server.log"; exit 1; }
}
check 200 "$base/plain"
check 200 "$base/chain" "${auth[@]}"
check 401 "$base/chain"

declare -A rps32 rps1 p50
load() { # round, name, url, wrk args...
  local round=$1 name=$2 url=$3; shift 3
  wrk -t2 -c32 -d1s "$@" "$url" >/dev/null
  local many one
  many=$(wrk -t2 -c32 -d"${duration}s" --latency "$@" "$url")
  one=$(wrk -t1 -c1 -d"${duration}s" --latency "$@" "$url")
  # wrk counts non-2xx answers; only the rejected load may have them.
  if [ "$name" != rejected ] && grep -q 'Non-2xx' <<<"$many$one"; then
    echo "$name: wrk saw non-2xx responses"; grep 'Non-2xx' <<<"$many$one"; exit 1
  fi
  rps32[$round-$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$many")
  rps1[$round-$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$one")
  p50[$round-$name]=$(awk '$1=="50%" {print $2}' <<<"$one" | to_us)
  local p50_32
  p50_32=$(awk '$1=="50%" {print $2}' <<<"$many" | to_us)
  printf '%-6s %-9s %10s %10s %12s %11s\n' "$round" "$name" "${rps32[$round-$name]}" \
    "${rps1[$round-$name]}" "$p50_32" "${p50[$round-$name]}"
}
printf '%-6s %-9s %10s %10s %12s %11s\n' round load "req/s@32" "req/s@1" "p50@32(us)" "p50@1(us)"
again() { # url, wrk args...: req/s at 32 connections
  wrk -t2 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ {print $2}'
}
# Several rounds, each running the three loads back to back: the machine's speed drifts, so
# each round's ratios compare loads that ran under the same conditions, and the median
# round is reported. Within a round, plain and chain run again at 32 connections in the
# opposite order (plain, chain, rejected, chain, plain), and the throughput lost is taken
# from the sums, so that a drift during the round weighs on both alike.
ratios=$(mktemp)
for round in $(seq "$rounds"); do
  load "$round" plain "$base/plain" "${auth[@]}"
  load "$round" chain "$base/chain" "${auth[@]}"
  load "$round" rejected "$base/chain"
  chain_again=$(again "$base/chain" "${auth[@]}")
  plain_again=$(again "$base/plain" "${auth[@]}")
  awk -v p="${rps32[$round-plain]}" -v c="${rps32[$round-chain]}" -v r="${rps32[$round-rejected]}" \
    -v p2="$plain_again" -v c2="$chain_again" \
    -v p1="${rps1[$round-plain]}" -v c1="${rps1[$round-chain]}" \
    -v lp="${p50[$round-plain]}" -v lc="${p50[$round-chain]}" -v lr="${p50[$round-rejected]}" \
    'BEGIN { print 100 * (1 - (c + c2) / (p + p2)), 100 * (1 - c1 / p1), lc - lp, r / c, lc - lr }' >>"$ratios"
done
column() { median $(awk -v c="$1" '{ print $c }' "$ratios"); }
echo
echo "median of $rounds rounds (per round: $(awk '{ printf "%.1f%% ", $1 }' "$ratios")lost at 32 connections)"
printf 'chain vs plain: %.1f %% throughput lost at 32 connections, %.1f %% at 1 (target <= 10); +%.0f us p50 at 1\n' \
  "$(column 1)" "$(column 2)" "$(column 3)"
printf 'rejected by auth vs served through the chain: %.2fx the throughput at 32 connections; p50 %.0f us lower at 1\n' \
  "$(column 4)" "$(column 5)"
rm -f "$ratios"
