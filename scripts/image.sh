#!/usr/bin/env bash
# Builds the container image (deploy/Containerfile) and shows that it serves, without
# `podman run` (which cannot run inside this sandbox): the image's root filesystem is exported
# and its entrypoint run under chroot as the image's user, with the image's environment.
#
#   scripts/image.sh [TAG]     (default localhost/tessera:dev; needs root for chroot)
#
# Steps: the static musl binary (cargo, release), the image from it (the Containerfile's
# `prebuilt` stage), an application image on top of it (examples/hello in a layer, as a user
# would add theirs), then: start, GET / (200), GET /readyz on the metrics port (200), SIGTERM
# (exit 0). Prints the image's size. Takes about 15 minutes the first time (the release build),
# under a minute after.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source bench/common.sh

tag=${1:-localhost/tessera:dev}
musl=x86_64-unknown-linux-musl
need_packages podman musl-tools binutils curl
rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
[ "$(id -u)" = 0 ] || { echo "scripts/image.sh: chroot needs root" >&2; exit 1; }

echo "== the static binary ($musl, release)"
CC_x86_64_unknown_linux_musl=musl-gcc \
  cargo build --release --locked --target "$musl" -p tessera-cli
built=target/$musl/release/tessera
if ldd "$built" >/dev/null 2>&1 && ! ldd "$built" 2>&1 | grep -q "statically linked"; then
  echo "scripts/image.sh: $built is not static:" >&2
  ldd "$built" >&2
  exit 1
fi
# What the Containerfile's prebuilt stage copies.
binary=target/image/tessera
mkdir -p target/image
objcopy --strip-all "$built" "$binary"

echo "== the image ($tag)"
podman build -q -f deploy/Containerfile --build-arg BINARY_FROM=prebuilt -t "$tag" .

echo "== an application on top of it (examples/hello)"
cargo build --release --locked -p hello --target wasm32-wasip2 --target-dir target/wasm
work=$(mktemp -d)
container=
cleanup() {
  [ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null || true
  [ -z "$container" ] || podman rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/app"
cp target/wasm/wasm32-wasip2/release/hello.wasm "$work/app/"
sed -e 's|^source = .*|source = "hello.wasm"|' examples/hello/tessera.toml >"$work/app/tessera.toml"
printf 'FROM %s\nCOPY app/ /app/\n' "$tag" >"$work/Containerfile"
podman build -q -t "$tag-hello" "$work"

echo "== its root filesystem, run under chroot"
container=$(podman create "$tag-hello")
mkdir -p "$work/root"
podman export "$container" | tar -x -C "$work/root"
user=$(podman image inspect "$tag-hello" --format '{{.Config.User}}')
entrypoint=$(podman image inspect "$tag-hello" --format '{{join .Config.Entrypoint " "}}')
mapfile -t environment < <(podman image inspect "$tag-hello" --format '{{range .Config.Env}}{{println .}}{{end}}' | grep .)
# What a container runtime would give: its own /proc, and the ports as published (here free
# loopback ports, picked by the server).
mkdir -p "$work/root/proc"
mount -t proc proc "$work/root/proc"
trap 'umount "$work/root/proc" 2>/dev/null || true; cleanup' EXIT
env -i "${environment[@]}" TESSERA_LISTEN=127.0.0.1:0 TESSERA_METRICS=127.0.0.1:0 \
  chroot --userspec="$user" "$work/root" $entrypoint >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  grep -q 'serving http://' "$work/log" && grep -q 'metrics: http://' "$work/log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
addr=$(grep -o 'serving http://[0-9.:]*' "$work/log" | head -1 | sed 's|serving http://||')
metrics=$(grep -o 'metrics: http://[0-9.:]*' "$work/log" | head -1 | sed 's|metrics: http://||')
if [ -z "$addr" ] || [ -z "$metrics" ]; then
  echo "scripts/image.sh: the image did not start; its log:" >&2
  cat "$work/log" >&2
  exit 1
fi
body=$(curl -fsS "http://$addr/")
ready=$(curl -fsS "http://$metrics/readyz")
echo "GET / -> $body"
echo "GET /readyz -> $ready"
[ "$body" = "Hello from Tessera!" ] && [ "$ready" = "ready" ] || { cat "$work/log" >&2; exit 1; }
# chroot execs the entrypoint: $pid is the server.
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
echo "server uid: $uid (image user $user)"
[ "$uid" = "${user%%:*}" ] || { echo "scripts/image.sh: the server does not run as $user" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
[ "$status" = 0 ] || { echo "scripts/image.sh: exit status $status after SIGTERM" >&2; cat "$work/log" >&2; exit 1; }
pid=
echo "SIGTERM -> exit 0"

size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "image $tag: $((size / 1024)) KiB ($(du -k "$binary" | cut -f1) KiB of it the binary)"
echo "scripts/image.sh: ok"
