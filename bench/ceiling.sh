#!/usr/bin/env bash
# The most a cheaper instance lifecycle could give: Tessera as it is against Tessera with one
# change, instances reused across requests (bench/ceiling/reuse-instances.patch), so that no
# request makes or resets an instance. Never a way to serve (a reused instance keeps what the
# previous request left in its memory); a measurement of what making and resetting a fresh
# instance costs under load, and of the throughput an instance that cost nothing would reach.
#
#   tessera   tessera up examples/hello/tessera.toml (BENCH_HELLO: as in bench/hello.sh): a fresh
#             instance per request
#   reused    the same, built with the patch: one instance serves request after request
#   router    tessera answering 405 (a POST to a GET route) from its router: no Wasm at all
#   ws-tuned  wasmtime serve 48.0.8 with its best pooling flags (as in bench/hello.sh)
#   ws-def    wasmtime serve 48.0.8, default flags
#
# The patched copy is built from this working tree in target/ceiling (its own target
# directory, so the real `tessera` is never the patched one; the first build takes ~10
# minutes). All servers start at once and take turns: each round loads each of them in turn
# with wrk for SECONDS (default 4) at 32 connections, ROUNDS times (default 3), starting with
# the next server each round. Prints req/s and server CPU per request (user + kernel, from
# /proc) by round, their medians and the ratios to `wasmtime serve`. RUST_BACKTRACE and
# TOKIO_WORKER_THREADS are unset, as in bench/hello.sh; BENCH_PIN=1 runs every server on core
# 0 and wrk (one thread) on core 1.
#
#   bench/ceiling.sh [SECONDS [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-4}
rounds=${2:-3}
export TESSERA_LOG=off
source bench/common.sh
prepare_baselines
echo "building (release): tessera, then the patched copy in target/ceiling"
cargo build --release -q -p tessera-cli
copy=target/ceiling/src
# A new copy only when what it is built from changed (a new copy rebuilds every crate of it).
stamp=$({ git ls-files -z -- . ':!docs' ':!*.md' ':!bench/*.sh' ':!bench/lifecycle' ':!bench/lean-hello' | xargs -0 sha256sum
  sha256sum bench/ceiling/reuse-instances.patch; } | sha256sum)
if [ "$(cat target/ceiling/stamp 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$copy" target/ceiling/stamp && mkdir -p "$copy"
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$copy"
  # Applied outside any repository: inside this one (the copy sits in it), `git apply` would
  # skip the paths as outside its directory.
  (cd "$copy" && GIT_CEILING_DIRECTORIES="$(dirname "$PWD")" git apply \
    "$OLDPWD/bench/ceiling/reuse-instances.patch") &&
    grep -q "CEILING EXPERIMENT" "$copy/crates/runtime/src/invoke.rs" || {
    echo "bench/ceiling/reuse-instances.patch no longer applies to crates/runtime; update it"
    exit 1
  }
  echo "$stamp" >target/ceiling/stamp
fi
cargo build --release -q -p tessera-cli --manifest-path "$copy/Cargo.toml" \
  --target-dir target/ceiling/target
reused_bin=target/ceiling/target/release/tessera

pin_server=() pin_wrk=() threads=2
if [ "${BENCH_PIN:-0}" = 1 ]; then
  pin_server=(taskset -c 0) pin_wrk=(taskset -c 1) threads=1
fi
results=$(mktemp -d)
cache=$results/cache
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$results"' EXIT
manifest=$hello_manifest
target/release/tessera check --manifest "$manifest" --cache-dir "$cache" >/dev/null
"$reused_bin" check --manifest "$manifest" --cache-dir "$cache" >/dev/null

declare -A pid port
serve() { # name port command...
  local name=$1; port[$name]=$2; shift 2
  "${pin_server[@]}" "$@" >"$results/$name.log" 2>&1 &
  pid[$name]=$!
  wait_for "${port[$name]}" || { echo "$name did not start:"; cat "$results/$name.log"; exit 1; }
}
serve tessera 3301 target/release/tessera up --manifest "$manifest" --listen 127.0.0.1:3301 \
  --cache-dir "$cache"
serve reused 3302 "$reused_bin" up --manifest "$manifest" --listen 127.0.0.1:3302 \
  --cache-dir "$cache"
serve ws-tuned 3303 "$wasmtime_cli" serve -S cli --addr 127.0.0.1:3303 "$ws_tuned_flags" "$hello_wasm"
serve ws-def 3304 "$wasmtime_cli" serve -S cli --addr 127.0.0.1:3304 "$hello_wasm"
pid[router]=${pid[tessera]} port[router]=3301
echo 'wrk.method = "POST"' >"$results/post.lua"

load() { # name
  local name=$1 script=() before after out
  [ "$name" = router ] && script=(-s "$results/post.lua")
  before=$(cpu_ticks "${pid[$name]}")
  out=$("${pin_wrk[@]}" wrk -t"$threads" -c32 -d"${seconds}s" "${script[@]}" \
    "http://127.0.0.1:${port[$name]}/")
  after=$(cpu_ticks "${pid[$name]}")
  if [ "$name" != router ] && grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$name: errors during the load:"; grep "Non-2xx\|Socket errors" <<<"$out"
  fi
  awk -v name="$name" -v round="$round" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /^Requests\/sec/ { rps = $2 } / requests in / { n = $1 }
    END { printf "%s %d %.0f %.2f\n", name, round, rps, ticks * 1e6 / hz / n }' <<<"$out" \
    >>"$results/table"
}

names=(tessera reused router ws-tuned ws-def)
for name in "${names[@]}"; do # warm-up
  "${pin_wrk[@]}" wrk -t"$threads" -c32 -d1s "http://127.0.0.1:${port[$name]}/" >/dev/null
done
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  for i in 0 1 2 3 4; do
    load "${names[$(((round - 1 + i) % 5))]}"
  done
done
reused_rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${pid[reused]}/status")

echo
placement="wrk -t$threads shares the cores with the servers"
[ ${#pin_server[@]} -eq 0 ] || placement="servers on core 0, wrk -t1 on core 1"
echo "$hello_wasm, ${seconds}s per load at 32 connections, $rounds rounds; $placement"
awk -v rounds="$rounds" "$awk_median"'
  function med(s, col,   r, a) { for (r = 1; r <= rounds; r++) a[r] = v[s, r, col]; return median(a, rounds) }
  function ratio(num, den,   r, a) { for (r = 1; r <= rounds; r++) a[r] = v[num, r, 3] / v[den, r, 3]; return median(a, rounds) }
  { v[$1, $2, 3] = $3; v[$1, $2, 4] = $4 }
  END {
    n = split("tessera reused router ws-tuned ws-def", s, " ")
    printf "%-9s", "req/s"
    for (r = 1; r <= rounds; r++) printf " %16s", "round " r
    printf " %16s\n", "median"
    for (i = 1; i <= n; i++) {
      printf "%-9s", s[i]
      for (r = 1; r <= rounds; r++) printf " %8.1f k %4.1f us", v[s[i], r, 3] / 1000, v[s[i], r, 4]
      printf " %8.1f k %4.1f us\n", med(s[i], 3) / 1000, med(s[i], 4)
    }
    print ""
    printf "tessera / ws-tuned %5.2fx   reused / ws-tuned %5.2fx   (target for tessera >= 2)\n", ratio("tessera", "ws-tuned"), ratio("reused", "ws-tuned")
    printf "tessera / ws-def   %5.2fx   reused / ws-def   %5.2fx   (target for tessera >= 4)\n", ratio("tessera", "ws-def"), ratio("reused", "ws-def")
    printf "making and resetting an instance costs %.1f us of server CPU per request (tessera - reused)\n", med("tessera", 4) - med("reused", 4)
  }' "$results/table"
echo "reused server RSS after the loads: $reused_rss kB"
