#!/usr/bin/env bash
# Builds what it needs and serves examples/hello on http://127.0.0.1:3000 (Ctrl-C stops it).
# Extra arguments go to `tessera up`, e.g. `scripts/demo.sh --listen 0.0.0.0:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "building the hello component (wasm32-wasip2) and the tessera binary (release)"
cargo build --release -p hello --target wasm32-wasip2 --target-dir target/wasm
cargo build --release -p tessera-cli
exec target/release/tessera up --manifest examples/hello/tessera.toml "$@"
