#!/usr/bin/env bash
# How long live replacement takes, measured from the client's side on one Tessera server:
#
#   swap (compiled)   PUT a new version to the admin endpoint, timed until a GET answers with
#                     it; the version is new to the compile cache, so it is compiled
#   swap (cache warm) the same for a version compiled before (the compile cache holds it)
#   save to serve     the Rust template (`tessera new rust`) under `tessera up --watch`: from
#                     writing an edited src/lib.rs to the edited text being served (cargo's
#                     incremental release build + load + swap)
#
# Each ROUNDS times (default 5); prints every figure and the medians. The swap uses the
# `versioned` test guest (a wstd component, 150 KB), whose versions differ in one string.
#
#   bench/swap.sh [ROUNDS]
#
# RUST_BACKTRACE is unset, as in bench/hello.sh (tessera itself keeps backtraces out of error
# values, docs/performance.md; the unset keeps every run alike).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
rounds=${1:-5}
unset RUST_BACKTRACE
export TESSERA_LOG=warn
need_commands curl
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
echo "building (release)"
cargo build --release -q -p versioned --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -q -p tessera-cli
tessera=$PWD/target/release/tessera
guest=$PWD/target/wasm/wasm32-wasip2/release/versioned.wasm
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
since_ms() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$(now)"; }
wait_for_text() { # URL TEXT: poll until the body contains TEXT
  until curl -s "$1" | grep -q "$2"; do sleep 0.005; done
}
version() { # N FILE: the guest answering tessera-version:N
  python3 - "$guest" "$1" "$2" <<'PY'
import sys
wasm = open(sys.argv[1], "rb").read()
marker = b"tessera-version:00"
assert wasm.count(marker) == 1
open(sys.argv[3], "wb").write(wasm.replace(marker, b"tessera-version:%02d" % int(sys.argv[2])))
PY
}

cat >"$work/tessera.toml" <<TOML
[[route]]
path = "/v"
component = "v"

[component.v]
source = "$guest"
TOML
"$tessera" up --manifest "$work/tessera.toml" --listen 127.0.0.1:3917 --admin 127.0.0.1:3918 \
  --admin-token bench --cache-dir "$work/cache" >"$work/log" 2>&1 &
until curl -s 127.0.0.1:3917/v >/dev/null; do sleep 0.05; done
put() { curl -s -o /dev/null -X PUT --data-binary @"$1" -H "authorization: Bearer bench" 127.0.0.1:3918/components/v; }

cold=() warm=()
for n in $(seq 1 "$rounds"); do
  version "$n" "$work/v$n.wasm"
  start=$(now); put "$work/v$n.wasm"; wait_for_text 127.0.0.1:3917/v "version:$(printf %02d "$n")"
  cold+=("$(since_ms "$start")")
  version 0 "$work/v0.wasm"
  start=$(now); put "$work/v0.wasm"; wait_for_text 127.0.0.1:3917/v "version:00"
  warm+=("$(since_ms "$start")")
done
echo "swap, compiled (ms):   ${cold[*]}   median $(printf %.0f "$(median "${cold[@]}")")"
echo "swap, cache warm (ms): ${warm[*]}   median $(printf %.0f "$(median "${warm[@]}")")"
kill %1; wait 2>/dev/null || true

app="$work/app"; mkdir "$app"; cd "$app"
"$tessera" new rust greeter 2>/dev/null
echo "building the Rust template once"
"$tessera" build >/dev/null 2>&1
"$tessera" up --watch --listen 127.0.0.1:3919 --cache-dir "$work/cache" >"$work/watch.log" 2>&1 &
until curl -s 127.0.0.1:3919/greeter >/dev/null; do sleep 0.05; done
sleep 1
saves=()
for n in $(seq 1 "$rounds"); do
  sed -i "s/Hello[^!]* from greeter!/Hello $n from greeter!/" greeter/src/lib.rs
  start=$(now)
  wait_for_text 127.0.0.1:3919/greeter "Hello $n from"
  saves+=("$(since_ms "$start")")
done
echo "save to serve (ms):    ${saves[*]}   median $(printf %.0f "$(median "${saves[@]}")")"
