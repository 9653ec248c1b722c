#!/usr/bin/env bash
# Instructions the host spends per request, counted by callgrind (stable on a noisy machine).
# Runs the in-process per_request harness twice (N and 2N requests) and divides the
# difference by N, so start-up and warm-up cancel out.
#
#   bench/instructions.sh [manifest] [N] [PATH [NAME:VALUE]...]
#
# With a path (and headers), the requests go there, through the route's middleware, e.g.
#   bench/instructions.sh app.toml 2000 /api "authorization:Bearer eyJ..."
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
need_commands valgrind
manifest=${1:-examples/hello/tessera.toml}
n=${2:-2000}
unset RUST_BACKTRACE
cargo build --release -q -p tessera --example per_request
bin=target/release/examples/per_request
out=$(mktemp -d)
# Fill the compile cache first, so both counted runs load from it. Under valgrind, since the
# CPU it emulates has other features than the host's, and so another engine compatibility hash.
valgrind --tool=none "$bin" "$manifest" 10 "${@:3}" >/dev/null 2>&1
for count in "$n" "$((2 * n))"; do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$count" "$bin" "$manifest" "$count" "${@:3}" \
    >/dev/null 2>&1
done
total() { callgrind_annotate "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
a=$(total "$out/cg.$n")
b=$(total "$out/cg.$((2 * n))")
echo "instructions per request: $(( (b - a) / n ))  (callgrind, $manifest)"
echo "profile: $out/cg.$((2 * n))"
