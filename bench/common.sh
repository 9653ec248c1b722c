# Helpers shared by the bench/ scripts (installs, the baselines, units and medians). Sourced,
# not run; expects to be in the repository root. bench/README.md lists the scripts.

# Installs, from Debian, each of the named commands that is missing.
need_commands() {
  local tool sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$tool"
  done
}

# Installs, from Debian, each of the named packages that is missing (for packages whose
# programs are not on PATH, such as postgresql's initdb).
need_packages() {
  local package sudo= missing=()
  [ "$(id -u)" = 0 ] || sudo=sudo
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
}

# The baseline `wasmtime serve`: wasmtime-cli 48.0.8 in target/bench-tools, installed once.
wasmtime_cli=target/bench-tools/bin/wasmtime
install_wasmtime_cli() {
  if ! "$wasmtime_cli" --version 2>/dev/null | grep -q '^wasmtime 48.0.8'; then
    echo "installing wasmtime-cli 48.0.8 into target/bench-tools (once; takes several minutes)"
    cargo install wasmtime-cli@48.0.8 --locked --root target/bench-tools
  fi
}

# Its best pooling flags, the "tuned" baseline.
ws_tuned_flags=-Opooling-table-keep-resident=65536,pooling-memory-keep-resident=2097152,pooling-pagemap-scan=y

# The hello component every server runs, built for wasm32-wasip2, and Tessera's manifest for
# it: examples/hello, or with BENCH_HELLO=lean the same response from bench/lean-hello, a
# component without std (docs/performance.md, "Do std's imports matter?"), or with
# BENCH_HELLO=p3 from bench/p3-hello, the same hello on WASI 0.3.
case ${BENCH_HELLO:-examples} in
  examples) hello_wasm=target/wasm/wasm32-wasip2/release/hello.wasm hello_manifest=examples/hello/tessera.toml
    hello_build=(-p hello) ;;
  lean) hello_wasm=target/wasm/wasm32-wasip2/release/lean_hello.wasm hello_manifest=bench/lean-hello/tessera.toml
    hello_build=(--manifest-path bench/lean-hello/Cargo.toml --locked) ;;
  p3) hello_wasm=target/wasm/wasm32-wasip2/release/p3_hello.wasm hello_manifest=bench/p3-hello/tessera.toml
    hello_build=(-p p3-hello) ;;
  *) echo "BENCH_HELLO is 'examples' (the default), 'lean' or 'p3', not '$BENCH_HELLO'"; exit 1 ;;
esac
build_hello() {
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
  cargo build --release -q "${hello_build[@]}" --target wasm32-wasip2 --target-dir target/wasm
}

# What every such bench needs before it builds Tessera: wrk and curl, the baseline, the hello
# component, and the environment every server gets (RUST_BACKTRACE unset, since with it
# `wasmtime serve` captures a backtrace per request; TOKIO_WORKER_THREADS unset, so that every
# server runs its default of one worker per core).
prepare_baselines() {
  unset RUST_BACKTRACE TOKIO_WORKER_THREADS
  need_commands wrk curl
  install_wasmtime_cli
  build_hello
}

# CPU time (user + kernel) the process has used, in clock ticks. The fields are counted after
# the command name, which is in parentheses.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# The server's CPU microseconds per request over one wrk load at 32 connections.
cpu_us_per_request() { # pid, url, seconds
  local before after requests
  before=$(cpu_ticks "$1")
  requests=$(wrk -t2 -c32 -d"$3s" "$2" | awk '/requests in/ { print $1 }')
  after=$(cpu_ticks "$1")
  awk -v t="$((after - before))" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }'
}

# A wrk latency (850.00us, 1.20ms, 2.00s) on stdin, in microseconds.
to_us() {
  awk '{ v = $1; u = v; gsub(/[0-9.]/, "", u); gsub(/[a-z]/, "", v)
    if (u == "us") print v; else if (u == "ms") print v * 1000; else if (u == "s") print v * 1000000; else print v }'
}

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Waits until a server answers on 127.0.0.1:PORT; fails after 10 s.
wait_for() { # port
  local _
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# An awk function, median(a, n): the median of a[1..n] (sorts a). Put before an awk program.
awk_median='
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }'

# Runs `run NAME` for each of `servers` (an array) in each of $rounds rounds, each round starting
# with the next server, so that none is always first; `run` sees the round in $round.
run_rounds() {
  for round in $(seq "$rounds"); do
    echo "round $round of $rounds"
    for i in "${!servers[@]}"; do
      run "${servers[$(((round - 1 + i) % ${#servers[@]}))]}"
    done
  done
}

# Warns when the release binary's link order file (crates/cli/tessera.order, read by
# crates/cli/build.rs) has gone stale: it names symbols, which code, dependency and toolchain
# changes rename, and a stale one silently costs about 6 MB of idle RSS and some throughput
# (docs/performance.md, "Idle memory with a fresh link order"). Prints how much still matches.
check_link_order() {
  local order=crates/cli/tessera.order matched total
  [ -f "$order" ] && [ -x target/release/tessera ] && command -v nm >/dev/null || return 0
  matched=$(nm --defined-only target/release/tessera |
    awk 'NR == FNR { want[$1]; next } ($3 in want) && !seen[$3]++ { n++ } END { print n + 0 }' "$order" -)
  total=$(wc -l <"$order")
  echo "link order: $matched of $total functions of $order found in the binary"
  if [ $((matched * 10)) -lt $((total * 9)) ]; then
    echo "WARNING: the link order file is stale; RSS and start-up figures will be worse than" \
      "they should. Run scripts/order-file.sh and rebuild (cargo build --release -p tessera-cli)."
  fi
}
