#!/usr/bin/env bash
# The image service's operations on a 1024×768 image, each timed three ways in one run:
#
#   server   the component's own time for the operation (x-process-millis: no decoding,
#            encoding or network), on Tessera
#   wasm     image-core compiled with wasm-bindgen, in the page, in headless Chromium
#   js       the same formulas in plain JavaScript (web/filters.js), in the same page
#
# through the page itself (tests/browser/image-page.mjs drives it; the page also checks that
# the three agree). Prints the median of RUNS runs per operation (default 3).
#
#   bench/image.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
runs=${1:-3}
unset RUST_BACKTRACE TOKIO_WORKER_THREADS
need_commands curl python3 chromium
echo "building (release): tessera, the image service and its page"
cargo build --release -q -p tessera-cli
target/release/tessera build --manifest examples/image-service/tessera.toml >/dev/null
(cd tests/browser && npm ci --silent --no-audit --no-fund)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# A 1024×768 photo-like test image (soft light, a horizon, grain), as an 8-bit RGB PNG.
python3 - "$work/photo.png" <<'PY'
import math, random, struct, sys, zlib
w, h = 1024, 768
random.seed(7)
rows = bytearray()
for y in range(h):
    rows.append(0)
    for x in range(w):
        fx, fy = x / w, y / h
        sun = math.exp(-((fx - 0.7) ** 2 + (fy - 0.3) ** 2) * 40)
        hill = 1.0 if fy > 0.6 + 0.1 * math.sin(fx * 9) else 0.0
        grain = random.randint(-4, 4)
        for base, sky, s, hl in ((60, 120, 180, -40), (90, 100, 150, 60), (140, 110, 30, -90)):
            rows.append(max(0, min(255, int(base + sky * (1 - fy) + s * sun + hl * hill + grain))))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY

TESSERA_LOG=warn,tessera=info target/release/tessera up --manifest examples/image-service/tessera.toml \
  --listen 127.0.0.1:0 --cache-dir "$work/cache" --state-dir "$work/state" 2>"$work/tessera.log" &
for _ in $(seq 600); do
  addr=$(grep -o 'serving http://[0-9.:]*' "$work/tessera.log" | sed 's|serving http://||') && [ -n "$addr" ] && break
  sleep 0.1
done
ops=(grayscale sepia blur:2 blur:10 resize:512x384 resize:2048x1536 brightness:30 contrast:1.5 flip:h rotate:90)
cases=()
for ((run = 0; run < runs; run++)); do
  for op in "${ops[@]}"; do cases+=("$work/photo.png::$op"); done
done
echo "running ${#cases[@]} cases in headless Chromium"
(cd tests/browser && node image-page.mjs "http://$addr/" "$work" "${cases[@]}")

python3 - "$work" "$runs" <<'PY'
import json, pathlib, statistics, sys
work, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
by_op = {}
for path in sorted(work.glob("[0-9]*.json"), key=lambda p: int(p.stem)):
    result = json.loads(path.read_text())
    if result["wasmVsServer"]["differing"] != 0:
        sys.exit(f"{result['ops']}: browser Wasm and server differ")
    times = by_op.setdefault(result["ops"], {"server": [], "wasm": [], "js": []})
    for name in times:
        times[name].append(result["results"][name]["millis"])
print(f"\n1024×768 image, median of {runs} runs, ms (server: the component's own time for the operation)")
print(f"{'operation':<18} {'server':>9} {'browser wasm':>13} {'browser js':>11} {'js/wasm':>8}")
for op, t in by_op.items():
    s, w, j = (statistics.median(t[k]) for k in ("server", "wasm", "js"))
    print(f"{op:<18} {s:>9.1f} {w:>13.1f} {j:>11.1f} {j / w:>7.1f}x")
PY
