#!/usr/bin/env bash
# Runs every cargo fuzz target in fuzz/ for SECONDS each (default 600), one after another, and
# prints a table of the executions and what was found.
#
#   scripts/fuzz.sh [SECONDS]       FUZZ_TARGETS="manifest route_pattern" picks some
#
# Needs nightly Rust (installed by rustup if missing) and cargo-fuzz (installed from crates.io
# if missing). Seeds are fuzz/corpus/<target> (kept small, in git); what the fuzzer adds goes to
# target/fuzz-corpus/<target>, crashes and hangs to target/fuzz-artifacts/<target>/, logs to
# target/fuzz-logs/. A crash found becomes a regression test (crates/manifest/tests/fuzz.rs and
# crates/server/tests/fuzz.rs replay every seed and every file under fuzz/regressions/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
unset RUST_BACKTRACE
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
mkdir -p target/fuzz-logs
summary=()
for target in $targets; do
  corpus=target/fuzz-corpus/$target
  artifacts=target/fuzz-artifacts/$target/
  mkdir -p "$corpus" "$artifacts"
  echo "== $target for ${seconds}s"
  status=ok
  cargo +nightly fuzz run "$target" "$corpus" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"target/fuzz-logs/$target.log" 2>&1 || status=FAILED
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-logs/$target.log" | grep -o '[0-9]*$' || echo "?")
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "target/fuzz-logs/$target.log" | awk '{print $5}' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "target/fuzz-logs/$target.log" | tail -1 | awk '{print $2}')
  found=$(find "$artifacts" -type f | wc -l)
  summary+=("$(printf '%-16s %-7s %10s runs %6s s  coverage %6s  artifacts %s' "$target" "$status" "$runs" "${took:-?}" "${cov:-?}" "$found")")
  [ "$status" = ok ] || tail -40 "target/fuzz-logs/$target.log"
done
echo
printf '%s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -q FAILED
