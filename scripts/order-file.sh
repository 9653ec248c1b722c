#!/usr/bin/env bash
# Writes crates/cli/tessera.order, the link order of the release `tessera` binary's code (read
# by crates/cli/build.rs; why in docs/performance.md, "Resident memory").
#
# It runs the release binary under callgrind and lists the functions it executed, in two tiers:
#   1. start-up, then serving examples/hello (HTTP/1.1, HTTP/2, a 405): what an idle
#      server and the hello route touch, most instructions first;
#   2. then what a richer app adds: the kv-cache example (embedded key-value store with TTL)
#      and a hello route behind cors + jwt + guard + rate_limit + request_id + compression.
# Everything else keeps the linker's default place after them.
#
# Regenerate after changing Cargo.lock, the toolchain or the release profile: the file names
# symbols, and a Rust symbol's name carries a hash of its crate's build. A stale file costs
# nothing but its benefit; bench/hello.sh prints how much of it the binary still matches.
#
#   scripts/order-file.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
export TESSERA_LOG=warn
for tool in valgrind curl openssl; do
  command -v "$tool" >/dev/null || { sudo=; [ "$(id -u)" = 0 ] || sudo=sudo; DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$tool"; }
done
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -q -p hello -p kv-cache --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q -p tessera-cli
bin=target/release/tessera
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The second tier's app: both examples' components, and a middleware chain.
wasm=$PWD/target/wasm/wasm32-wasip2/release
secret=order-file-only-secret
cat >"$work/tessera.toml" <<EOF
[middleware.cors]
type = "cors"
allow_origins = ["https://app.example.com"]

[middleware.auth]
type = "jwt"
secret = "$secret"

[middleware.admins]
type = "guard"
roles = ["admin"]

[middleware.limit]
type = "rate_limit"
requests = 1000000
per = "1s"
key = "subject"

[middleware.rid]
type = "request_id"

[middleware.gzip]
type = "compression"

[[route]]
path = "/chain"
component = "hello"
middleware = ["rid", "gzip", "cors", "auth", "admins", "limit"]

[[route]]
path = "/fib/:n"
component = "cache"

[component.hello]
source = "$wasm/hello.wasm"

[component.cache]
source = "$wasm/kv-cache.wasm"
key_value_stores = ["default"]
variables = { ttl_ms = "5000" }
EOF
token=$(scripts/hs256-token.sh "$secret" \
  "{\"sub\":\"order\",\"roles\":[\"admin\"],\"exp\":$(($(date +%s) + 3600))}")

port=3290
# Runs the server under TOOL with MANIFEST, drives LOAD (a function) against it, stops it.
# A small pool: valgrind cannot reserve address space for a thousand 4 GiB memories.
profile() { # tool, out, manifest, load
  local tool=$1 out=$2 manifest=$3 load=$4 pid
  valgrind --tool="$tool" ${out:+--demangle=no --callgrind-out-file="$out"} \
    "$bin" up --manifest "$manifest" --listen "127.0.0.1:$port" --max-instances 8 \
    --state-dir "$work/state" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    curl -so /dev/null "http://127.0.0.1:$port/" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.1
  done
  "$load"
  kill -TERM "$pid"
  wait "$pid" || { cat "$work/server.log"; exit 1; }
}
hello_load() {
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null; done
  curl -sf --http2-prior-knowledge "http://127.0.0.1:$port/" >/dev/null
  curl -s -X POST "http://127.0.0.1:$port/" >/dev/null
}
app_load() {
  for i in $(seq 100); do
    curl -sf -H "origin: https://app.example.com" -H "accept-encoding: gzip" \
      -H "authorization: Bearer $token" "http://127.0.0.1:$port/chain" >/dev/null
    curl -sf "http://127.0.0.1:$port/fib/$((i % 20))" >/dev/null
  done
  curl -s "http://127.0.0.1:$port/chain" >/dev/null
  curl -s -X OPTIONS -H "origin: https://app.example.com" \
    -H "access-control-request-method: GET" "http://127.0.0.1:$port/chain" >/dev/null
}

# Valgrind's emulated CPU gives another engine compatibility hash: fill the compile cache
# under it first, so the counted runs load components as a normal start does.
echo "filling the compile cache under valgrind"
profile none "" examples/hello/tessera.toml true
profile none "" "$work/tessera.toml" true
echo "profiling: start-up and examples/hello"
profile callgrind "$work/hello.cg" examples/hello/tessera.toml hello_load
echo "profiling: key-value and middleware"
profile callgrind "$work/app.cg" "$work/tessera.toml" app_load

# The binary's functions from a profile, most instructions first (names as the linker knows
# them: --demangle=no above).
functions() {
  callgrind_annotate --threshold=100 "$1" |
    awk -v bin="[$PWD/$bin]" '$NF == bin { for (i = 1; i < NF; i++) if ($i ~ /^\?\?\?:/) print substr($i, 5) }'
}
order=crates/cli/tessera.order
{ functions "$work/hello.cg"; functions "$work/app.cg"; } | awk '!seen[$0]++' >"$order"
echo "wrote $order: $(wc -l <"$order") functions ($(functions "$work/hello.cg" | wc -l) in the first tier)"
echo "rebuild (cargo build --release -p tessera-cli) to link with it"
