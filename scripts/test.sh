#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, and the end-to-end tests that build the Wasm
# guests and drive a real `tessera` server over HTTP. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The capability tests start real Redis and PostgreSQL servers (tests/support/src/services.rs).
# The template tests (tests/workflow.rs) build Python and JavaScript components (python3-venv
# for componentize-py, npm for ComponentizeJS) and follow the README with curl. The image
# service's page is driven in Debian's Chromium (tests/image.rs, with playwright-core from
# npm); the study's test (crates/study) draws plots in DejaVu Sans and runs a Node.js peer.
# Only what is missing: a machine may have Node.js from elsewhere (NodeSource), whose nodejs
# package conflicts with Debian's npm.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v npm >/dev/null || missing+=(npm)
command -v curl >/dev/null || missing+=(curl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
# The metrics tests (tests/observability.rs) lint the exposition with promtool and scrape the
# server with a real Prometheus.
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
# The idle-connection test (tests/abuse.rs) reads the listener's backlog with ss.
command -v ss >/dev/null || missing+=(iproute2)
# The cluster test (tests/cluster.rs) puts three servers behind nginx.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -q
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# componentize-py (PyPI) in a virtual environment of its own, on PATH for the tests, and
# kubernetes-validate (PyPI: the Kubernetes API schemas) for deploy/kubernetes (tests/deploy.rs).
[ -x target/tools/python/bin/pip ] || python3 -m venv target/tools/python
[ -x target/tools/python/bin/componentize-py ] ||
  target/tools/python/bin/pip install -q componentize-py==0.25.1
[ -x target/tools/python/bin/kubernetes-validate ] ||
  target/tools/python/bin/pip install -q kubernetes-validate==1.37.0
export PATH="$PWD/target/tools/python/bin:$PATH"
(cd tests/browser && npm ci --silent --no-audit --no-fund)
# Dependencies and the guests are built once and shared through target/; a second run only
# rebuilds what changed.
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
# The study's pipeline test (crates/study/tests/pipeline.rs) runs the axum peer's binary, which
# `cargo test` builds only as a test target: build it first (debug, seconds).
cargo build --locked -q -p study-axum
cargo test --locked --no-fail-fast
# rustdoc: every public item documented, no broken links (the doc examples ran with the tests).
RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --no-deps --locked -q
# The Wasm guests (test guests and examples) are linted for their own target.
cargo clippy --release --locked --target wasm32-wasip2 --target-dir target/wasm \
  -p wasi-echo -p wstd-echo -p bindgen-echo -p not-http -p missing-import -p hello -p caps \
  -p tessera-guest -p tessera-sdk -p kv-cache -p notes -p tenant-gate -p versioned -p matmul \
  -p fastserve-health -p fastserve-compute -p fastserve-cache -p fastserve-db -p image-service \
  -p edge-user -p edge-geo -p edge-ab -p edge-analytics -p edge-transform -p edge-private \
  -p p3-echo -p p3-gate -p p3-hello -- -D warnings
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo clippy --release --locked --target wasm32-unknown-unknown --target-dir target/wasm-web \
  -p image-browser -- -D warnings
