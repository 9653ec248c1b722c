#!/usr/bin/env bash
# The study's kernels in Wasm against the same kernels compiled natively, in one run:
#
#   wasm     examples/matmul (built with +simd128) served by tessera up
#   native   bench/study/peers/axum: the same matmul-core crate compiled for the host
#
# For n = 100, 200, 500, 1000, 2000 and both kernels (naive, fast) it calls each server's
# GET /api/matmul?n=N&kernel=K once to warm up, then RUNS times (default 5), alternating the
# two servers, and prints the median of the time each server reports for the computation
# (`millis`: building A and B, multiplying, summing), the ratio wasm/native, and how much
# faster `fast` is than `naive` on each. Takes about 3 minutes with the default 5 runs.
#
#   bench/matmul.sh [RUNS [SIZES]]        e.g. bench/matmul.sh 3 100,500,1000
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
runs=${1:-5}
sizes=${2:-100,200,500,1000,2000}
unset RUST_BACKTRACE TOKIO_WORKER_THREADS
need_commands curl
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release): tessera, examples/matmul (+simd128), bench/study/peers/axum"
cargo build --release -q -p tessera-cli -p study-axum
target/release/tessera build --manifest examples/matmul/tessera.toml >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

TESSERA_LOG=warn,tessera=info target/release/tessera up --manifest examples/matmul/tessera.toml \
  --listen 127.0.0.1:0 --cache-dir "$work/cache" --state-dir "$work/state" 2>"$work/tessera.log" &
target/release/study-axum 127.0.0.1:0 >"$work/axum.log" &
address() { # log, prefix
  local _
  for _ in $(seq 600); do
    grep -o "$2[0-9.:]*" "$1" 2>/dev/null | head -1 | sed "s|$2||" | grep . && return 0
    sleep 0.1
  done
  echo "no server address in $1:" >&2; cat "$1" >&2; return 1
}
wasm=$(address "$work/tessera.log" "serving http://")
native=$(address "$work/axum.log" "listening on ")

python3 - "$runs" "$sizes" "$wasm" "$native" <<'PY'
import json, statistics, sys, urllib.request

runs, sizes = int(sys.argv[1]), [int(n) for n in sys.argv[2].split(",")]
servers = {"wasm": sys.argv[3], "native": sys.argv[4]}

def call(addr, n, kernel):
    with urllib.request.urlopen(f"http://{addr}/api/matmul?n={n}&kernel={kernel}", timeout=900) as r:
        body = json.load(r)
    return body["checksum"], body["millis"]

median = {}
for n in sizes:
    for kernel in ("naive", "fast"):
        checksums = set()
        times = {name: [] for name in servers}
        for name, addr in servers.items():
            checksums.add(call(addr, n, kernel)[0])
        for run in range(runs):
            order = list(servers.items()) if run % 2 == 0 else list(servers.items())[::-1]
            for name, addr in order:
                checksum, millis = call(addr, n, kernel)
                checksums.add(checksum)
                times[name].append(millis)
        if len(checksums) != 1:
            sys.exit(f"n={n} {kernel}: the servers disagree: {checksums}")
        for name in servers:
            median[(n, kernel, name)] = statistics.median(times[name])
        print(f"  n={n:<5} {kernel:<5} wasm {median[(n, kernel, 'wasm')]:10.3f} ms"
              f"   native {median[(n, kernel, 'native')]:10.3f} ms", file=sys.stderr)

print()
print(f"time per call in the server, median of {runs} runs (ms); wasm = examples/matmul on tessera,")
print("native = the same crate in bench/study/peers/axum")
print(f"{'n':>6} {'naive wasm':>11} {'native':>10} {'ratio':>6}   {'fast wasm':>10} {'native':>10} {'ratio':>6}"
      f"   {'naive/fast wasm':>15} {'native':>7}")
for n in sizes:
    nw, nn = median[(n, "naive", "wasm")], median[(n, "naive", "native")]
    fw, fn = median[(n, "fast", "wasm")], median[(n, "fast", "native")]
    print(f"{n:>6} {nw:>11.3f} {nn:>10.3f} {nw / nn:>6.2f}   {fw:>10.3f} {fn:>10.3f} {fw / fn:>6.2f}"
          f"   {nw / fw:>14.2f}x {nn / fn:>6.2f}x")
PY
