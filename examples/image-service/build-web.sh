#!/usr/bin/env bash
# Builds the page's Wasm: image-core through wasm-bindgen (browser/), for
# wasm32-unknown-unknown, into web/pkg. Installs the wasm32-unknown-unknown target and the
# wasm-bindgen CLI of the version in Cargo.lock (into target/tools) the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
  rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.lock")
bindgen=$root/target/tools/wasm-bindgen-$version/bin/wasm-bindgen
if [ ! -x "$bindgen" ]; then
  echo "installing wasm-bindgen-cli $version into target/tools (once; a few minutes)" >&2
  # Not --locked: the CLI's lockfile pins a webpki-roots release this registry does not
  # serve; the CLI must match the library's version, not its own dependencies'.
  cargo install wasm-bindgen-cli --version "$version" --root "$root/target/tools/wasm-bindgen-$version"
fi
# The outer build's flags (a guest build's RUSTFLAGS, say) are not this build's.
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR \
  cargo build --release --target wasm32-unknown-unknown --target-dir "$root/target/wasm-web" \
  --manifest-path "$root/Cargo.toml" -p image-browser
"$bindgen" --target web --no-typescript --out-dir "$here/web/pkg" \
  "$root/target/wasm-web/wasm32-unknown-unknown/release/image_browser.wasm"
