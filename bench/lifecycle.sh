#!/usr/bin/env bash
# What making and dropping one instance costs in Wasmtime alone, in two (or more) Wasmtime
# versions on the same machine, alternately: is a newer Wasmtime's instance lifecycle cheaper?
# bench/lifecycle/main.rs configures the engine and pool as Tessera does and makes and drops
# N instances of the hello component (no request, no call), three timed rounds per run.
#
# Each version is built once in target/lifecycle/VERSION with its own lockfile
# (bench/lifecycle/VERSION.lock), all with the same compiler, Rust 1.99.1 (installed with
# rustup if missing; Wasmtime 50 needs 1.97), so that only Wasmtime differs.
#
#   bench/lifecycle.sh [N [RUNS [VERSION...]]]   defaults: 50000, 3, 48.0.8 50.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(48.0.8 50.0.1)
toolchain=1.99.1
unset RUST_BACKTRACE
source bench/common.sh
build_hello
rustc "+$toolchain" --version >/dev/null 2>&1 ||
  rustup toolchain install "$toolchain" --profile minimal

for version in "${versions[@]}"; do
  dir=target/lifecycle/$version
  mkdir -p "$dir/src"
  cp bench/lifecycle/main.rs "$dir/src/main.rs"
  # Its own workspace: the directory lies inside this repository's.
  cat >"$dir/Cargo.toml" <<TOML
[package]
name = "lifecycle"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
wasmtime = { version = "=$version", default-features = false, features = ["cranelift", "pooling-allocator", "component-model", "runtime", "std", "async"] }

[profile.release]
debug = "line-tables-only"

[workspace]
TOML
  locked=()
  if [ -f "bench/lifecycle/$version.lock" ]; then
    cp "bench/lifecycle/$version.lock" "$dir/Cargo.lock"
    locked=(--locked)
  fi
  echo "building the harness against Wasmtime $version (once; several minutes)"
  cargo "+$toolchain" build --release -q "${locked[@]}" --manifest-path "$dir/Cargo.toml"
  [ -f "bench/lifecycle/$version.lock" ] || cp "$dir/Cargo.lock" "bench/lifecycle/$version.lock"
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for run in $(seq "$runs"); do
  for version in "${versions[@]}"; do
    "target/lifecycle/$version/target/release/lifecycle" "$hello_wasm" "$n" |
      awk -v v="$version" -v run="$run" '{ print v, run, $3; printf "run %s, Wasmtime %s: %s\n", run, v, $0 > "/dev/stderr" }' >>"$results"
  done
done

echo
echo "ns per instance (make + drop), median of $((runs * 3)) rounds of $n:"
awk "$awk_median"'
  { t[$1, ++count[$1]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  END {
    for (i = 1; i <= k; i++) {
      v = order[i]; for (j = 1; j <= count[v]; j++) a[j] = t[v, j]
      m[i] = median(a, count[v])
      printf "  Wasmtime %-8s %6.0f ns", v, m[i]
      if (i > 1) printf "   %+.1f %% against %s", (m[i] / m[1] - 1) * 100, order[1]
      printf "\n"
    }
  }' "$results"
