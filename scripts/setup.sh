#!/usr/bin/env bash
# Shared set-up for scripts/demo.sh, scripts/test.sh and the benchmarks: the Rust toolchain's
# wasm32-wasip2 target. Sourced, not run.
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs and run this again" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "installing the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2
fi
