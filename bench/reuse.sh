#!/usr/bin/env bash
# What instance reuse gives, in one run, on the same components:
#
#   native        a hyper hello server (bench/native-hello): the ceiling
#   tessera       tessera up, examples/hello, a fresh instance per request (the default)
#   tessera-reuse the same with `reuse = { max_requests = 128 }`
#   ws-reuse      wasmtime serve 48.0.8 --max-instance-reuse-count 128 (its tuned pooling
#                 flags too), the same component
#   py, py-reuse, ws-py-reuse
#                 the Python template's hello (componentize-py), on Tessera fresh and with
#                 reuse, and on wasmtime serve with reuse (with BENCH_PYTHON=0, left out)
#   p3, p3-reuse, p3-shared, ws-p3
#                 the same hello on WASI 0.3 (bench/p3-hello, wasi:http/handler@0.3.0), on
#                 Tessera fresh, with reuse one request at a time, with reuse of up to 16 at
#                 once (`max_concurrent = 16`), and on wasmtime serve with its 0.3 defaults
#                 (it reuses a 0.3 instance for up to 128 requests, 16 at once) and its tuned
#                 pooling flags (with BENCH_P3=0, left out)
#
# wrk on loopback, DURATION seconds per load (default 5) after a 1-second warm-up, 32
# connections then 1, in ROUNDS rounds (default 3), each round starting with the next server.
# Prints every round's req/s at 32, then the medians (req/s at 32 and 1, p50 at 1, server CPU
# per request at 32) and the ratios the targets are about: tessera-reuse / ws-reuse and
# tessera-reuse / native at 32 connections, and reuse against fresh on Tessera.
#
#   bench/reuse.sh [DURATION [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
rounds=${2:-3}
export TESSERA_LOG=warn
source bench/common.sh
prepare_baselines
echo "building (release)"
cargo build --release -q -p tessera-cli -p native-hello
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# Manifests: the hello component fresh and with reuse.
manifest() { # file, wasm, extra
  printf '[[route]]\npath = "/..."\ncomponent = "hello"\n\n[component.hello]\nsource = "%s"\n%s\n' \
    "$2" "$3" >"$1"
}
manifest "$work/fresh.toml" "$PWD/$hello_wasm" ""
manifest "$work/reuse.toml" "$PWD/$hello_wasm" "reuse = { max_requests = 128 }"
servers=(native tessera tessera-reuse ws-reuse)

if [ "${BENCH_P3:-1}" = 1 ]; then
  cargo build --release -q -p p3-hello --target wasm32-wasip2 --target-dir target/wasm
  p3_wasm=target/wasm/wasm32-wasip2/release/p3_hello.wasm
  manifest "$work/p3.toml" "$PWD/$p3_wasm" ""
  manifest "$work/p3-reuse.toml" "$PWD/$p3_wasm" "reuse = { max_requests = 128 }"
  manifest "$work/p3-shared.toml" "$PWD/$p3_wasm" \
    "reuse = { max_requests = 128, max_concurrent = 16 }"
  servers+=(p3 p3-reuse p3-shared ws-p3)
fi

if [ "${BENCH_PYTHON:-1}" = 1 ]; then
  # The Python template, built as a user would (componentize-py from PyPI, in a venv).
  if [ ! -x target/tools/python/bin/componentize-py ]; then
    python3 -m venv target/tools/python
    target/tools/python/bin/pip install -q componentize-py==0.25.1
  fi
  export PATH="$PWD/target/tools/python/bin:$PATH"
  (cd "$work" && "$OLDPWD/target/release/tessera" new python py >/dev/null &&
    "$OLDPWD/target/release/tessera" build >/dev/null)
  py_wasm=$(find "$work" -name py.wasm | head -1)
  manifest "$work/py.toml" "$py_wasm" ""
  manifest "$work/py-reuse.toml" "$py_wasm" "reuse = { max_requests = 128 }"
  servers+=(py py-reuse ws-py-reuse)
fi

port=3300
server_pid=
start() { # name, command...
  local name=$1; shift
  port=$((port + 1))
  "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  wait_for "$port" && return 0
  echo "$name did not start:"; cat "$work/$name.log"; exit 1
}

load() { # name, connections
  local out before after
  before=$(cpu_ticks "$server_pid")
  out=$(wrk -t"$(( $2 > 1 ? 2 : 1 ))" -c"$2" -d"${duration}s" --latency "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$server_pid")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$1: errors during the load:"; grep "Non-2xx\|Socket errors" <<<"$out"
  fi
  local rps p50 cpu
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)
  cpu=$(awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    '/ requests in / { printf "%.2f", ticks * 1e6 / hz / $1 }' <<<"$out")
  echo "$1 $2 $round $rps $p50 $cpu" >>"$work/table"
}

run() { # name
  local next="127.0.0.1:$((port + 1))" up=(target/release/tessera up --listen)
  case $1 in
    native) start "$1" target/release/native-hello "$next" ;;
    tessera) start "$1" "${up[@]}" "$next" --manifest "$work/fresh.toml" ;;
    tessera-reuse) start "$1" "${up[@]}" "$next" --manifest "$work/reuse.toml" ;;
    ws-reuse) start "$1" "$wasmtime_cli" serve -S cli --addr "$next" "$ws_tuned_flags" \
      --max-instance-reuse-count 128 "$hello_wasm" ;;
    py) start "$1" "${up[@]}" "$next" --manifest "$work/py.toml" ;;
    py-reuse) start "$1" "${up[@]}" "$next" --manifest "$work/py-reuse.toml" ;;
    ws-py-reuse) start "$1" "$wasmtime_cli" serve -S cli --addr "$next" "$ws_tuned_flags" \
      --max-instance-reuse-count 128 "$py_wasm" ;;
    p3) start "$1" "${up[@]}" "$next" --manifest "$work/p3.toml" ;;
    p3-reuse) start "$1" "${up[@]}" "$next" --manifest "$work/p3-reuse.toml" ;;
    p3-shared) start "$1" "${up[@]}" "$next" --manifest "$work/p3-shared.toml" ;;
    ws-p3) start "$1" "$wasmtime_cli" serve -S cli --addr "$next" "$ws_tuned_flags" "$p3_wasm" ;;
  esac
  wrk -t2 -c32 -d1s "http://127.0.0.1:$port/" >/dev/null
  load "$1" 32
  load "$1" 1
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
}

run_rounds

echo
echo "$hello_wasm, ${duration}s per load, $rounds rounds, $(nproc) cores, wrk on loopback (sharing the cores)"
awk -v rounds="$rounds" -v servers="${servers[*]}" "$awk_median"'
  function med(s, conns, col,   r, a) { for (r = 1; r <= rounds; r++) a[r] = v[s" "conns" "r, col]; return median(a, rounds) }
  function ratio(num, den, conns, col,   r, a) {
    for (r = 1; r <= rounds; r++) a[r] = v[num" "conns" "r, col] / v[den" "conns" "r, col]
    return median(a, rounds)
  }
  { for (c = 4; c <= 6; c++) v[$1" "$2" "$3, c] = $c }
  END {
    n = split(servers, names, " ")
    printf "req/s @32 by round:\n"
    for (i = 1; i <= n; i++) { s = names[i]; printf "  %-14s", s
      for (r = 1; r <= rounds; r++) printf " %8.0f", v[s" 32 "r, 4]
      print "" }
    print ""
    printf "%-14s %10s %10s %9s %12s\n", "medians", "req/s @32", "req/s @1", "p50 @1 us", "cpu us/req@32"
    for (i = 1; i <= n; i++) { s = names[i]
      printf "%-14s %10.0f %10.0f %9.0f %12.1f\n", s, med(s, 32, 4), med(s, 1, 4), med(s, 1, 5), med(s, 32, 6) }
    print ""
    printf "tessera-reuse / ws-reuse  @32: %5.2fx  (target >= 1.5)\n", ratio("tessera-reuse", "ws-reuse", 32, 4)
    printf "tessera-reuse / native    @32: %5.2fx  (target >= 0.5)\n", ratio("tessera-reuse", "native", 32, 4)
    printf "tessera-reuse / tessera   @32: %5.2fx  @1: %5.2fx  (reuse against fresh)\n", ratio("tessera-reuse", "tessera", 32, 4), ratio("tessera-reuse", "tessera", 1, 4)
    if (index(servers, "ws-p3")) {
      printf "p3-reuse / ws-p3          @32: %5.2fx  (WASI 0.3; target >= 1.5)\n", ratio("p3-reuse", "ws-p3", 32, 4)
      printf "p3-shared / ws-p3         @32: %5.2fx  @1: %5.2fx  (WASI 0.3, both 16 at once)\n", ratio("p3-shared", "ws-p3", 32, 4), ratio("p3-shared", "ws-p3", 1, 4)
      printf "p3-shared / p3-reuse      @32: %5.2fx\n", ratio("p3-shared", "p3-reuse", 32, 4)
      printf "p3-reuse / native         @32: %5.2fx\n", ratio("p3-reuse", "native", 32, 4)
      printf "p3-reuse / p3             @32: %5.2fx  @1: %5.2fx  (WASI 0.3: reuse against fresh)\n", ratio("p3-reuse", "p3", 32, 4), ratio("p3-reuse", "p3", 1, 4)
      printf "p3 / tessera              @32: %5.2fx  (WASI 0.3 against 0.2, fresh)\n", ratio("p3", "tessera", 32, 4)
    }
    if (index(servers, "ws-py-reuse")) {
      printf "py-reuse / py             @32: %5.2fx  @1: %5.2fx  (Python: reuse against fresh)\n", ratio("py-reuse", "py", 32, 4), ratio("py-reuse", "py", 1, 4)
      printf "py-reuse / ws-py-reuse    @32: %5.2fx\n", ratio("py-reuse", "ws-py-reuse", 32, 4)
    }
  }' "$work/table"
