#!/usr/bin/env bash
# The study Tessera comes from, reproduced with one command: Tessera against axum, Gin,
# Express, Express on Bun, Spring, FastAPI and `wasmtime serve` on matrix multiplication,
# with statistics, plots and a report (docs/study.md says what it measures and how long it
# takes).
#
#   scripts/study.sh [--sizes 100,200,500,1000,2000] [--runs 30] [--systems LIST]
#                    [--out DIR] [--budget SECONDS] [--load] [--cold-start]
#
# Installs what the chosen systems need and nothing else: Debian packages (Go and Gin,
# OpenJDK, Spring and Tomcat, fonts, Redis and PostgreSQL for --load), npm packages (Express
# 5, Bun), PyPI packages (FastAPI, uvicorn, NumPy, in a virtual environment), and with cargo
# wasmtime-cli 48.0.8 and oha. Then builds Tessera, the components and the axum peer in
# release mode, and runs target/release/tessera-study with the same arguments
# (`tessera-study --help` lists them all). An interrupted study resumes when run again with
# the same --out.
#
# STUDY_BIN_DIR=target/debug uses the binaries there instead of building release ones (the
# end-to-end test does, after `cargo test` built them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source bench/common.sh
unset RUST_BACKTRACE TOKIO_WORKER_THREADS

systems=all
load=no
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --systems) systems=${args[i + 1]:-} ;;
    --systems=*) systems=${args[i]#*=} ;;
    --load) load=yes ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
  esac
done
want() { [ "$systems" = all ] || [[ ",$systems," == *",$1,"* ]]; }

tools=target/study-tools
mkdir -p "$tools"

# Debian packages, only those missing.
packages=(fonts-dejavu-core curl)
if want gin; then packages+=(golang-go golang-github-gin-gonic-gin-dev); fi
if want spring; then
  packages+=(default-jdk-headless libspring-web-servlet-java libspring-context-java libtomcat9-java)
fi
if want fastapi || want fastapi-numpy; then packages+=(python3-venv); fi
if [ "$load" = yes ]; then packages+=(redis-server postgresql); fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if { want express || want bun; } && ! command -v npm >/dev/null; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing from Debian: ${missing[*]}"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The peers and tools.
if want wasmtime; then
  install_wasmtime_cli
  mkdir -p "$tools/wasmtime/bin"
  ln -sf "$PWD/$wasmtime_cli" "$tools/wasmtime/bin/wasmtime"
fi
if [ "$load" = yes ] && ! "$tools/oha/bin/oha" --version 2>/dev/null | grep -q '^oha 1.16.0'; then
  echo "installing oha 1.16.0 into $tools/oha (once; a few minutes)"
  cargo install oha@1.16.0 --locked --root "$tools/oha"
fi
if want express || want bun; then
  (cd bench/study/peers/express && npm ci --silent --no-audit --no-fund)
fi
if want bun && ! "$tools/bun/node_modules/.bin/bun" --version >/dev/null 2>&1; then
  npm install --silent --no-audit --no-fund --prefix "$tools/bun" bun@1.4.5
fi
if want gin; then
  mkdir -p "$tools/gin"
  # GOPATH mode against Debian's Gin sources: no module proxy needed.
  GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/$tools/go-cache" \
    go build -o "$tools/gin/study-gin" bench/study/peers/gin/main.go
fi
if want spring; then bench/study/peers/spring/build.sh; fi
if want fastapi || want fastapi-numpy; then
  venv=bench/study/peers/fastapi/.venv
  [ -x "$venv/bin/uvicorn" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r bench/study/peers/fastapi/requirements.txt
fi

# Tessera, the components, the axum peer and the study itself.
bin_dir=${STUDY_BIN_DIR:-target/release}
if [ -z "${STUDY_BIN_DIR:-}" ]; then
  echo "building (release): tessera, study-axum, tessera-study (a clean build takes about 15 minutes)"
  cargo build --release -q -p tessera-cli -p study-axum -p tessera-study
fi
"$bin_dir/tessera" build --manifest examples/matmul/tessera.toml >/dev/null
if [ "$load" = yes ]; then "$bin_dir/tessera" build --manifest examples/fastserve/tessera.toml >/dev/null; fi

exec "$bin_dir/tessera-study" --bin-dir "$bin_dir" --tools-dir "$tools" "$@"
