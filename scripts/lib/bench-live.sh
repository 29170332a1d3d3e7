#!/usr/bin/env bash
# `scripts/bench live [CONNECTIONS]`: the live server under CONNECTIONS (default 10,000) websocket socket.io clients:
# connect time, RSS per connection, and the delay from a visitor change to every client receiving the new count
# (p50/p99 over 10 changes). First one `live` process (local adapter) — with its memory once every client left:
# idle, peak, and RSS 30 s after the last client left (issue #19: <= 2x idle) — then two `live` processes sharing
# Redis with the clients split between them.
# Clients: BENCH_CLIENT=both (default: each scenario with each client in turn), rust (tests/src/bin/bench-live-client.rs,
# every client a task in one process, on BENCH_CLIENT_THREADS threads, default 1) or node (the official
# socket.io-client, tests/js/bench-live.mjs, in BENCH_WORKERS processes, default 4).
# Everything runs on 127.0.0.1: the clients, Redis and plaza share the machine's cores, so the delays include the
# clients' own decoding time. Each scenario also prints the CPU time per delivered count of the server (and of the
# Rust client): a fan-out is CPU-bound here, so these tell a slow run of the machine from a slower server.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
connections="${1:-10000}"

# One fd per connection on each side.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < connections + 1000 )); then
  echo "open-file limit $(ulimit -n) is too low for $connections connections" >&2
  exit 1
fi
ensure_redis
# PLAZA_BIN: an already built binary to measure instead (e.g. to compare two builds).
plaza_bin="${PLAZA_BIN:-}"
if [[ -z "$plaza_bin" ]]; then
  cargo build --locked --release -p plaza --bin plaza >&2
  plaza_bin=target/release/plaza
fi
plaza_bin=$(realpath "$plaza_bin")
clients="${BENCH_CLIENT:-both}"
[[ "$clients" == both ]] && clients="rust node"
for client in $clients; do
  if [[ "$client" == rust ]]; then
    cargo build --locked --release -p plaza-tests --bin bench-live-client >&2
  elif [[ ! -d tests/js/node_modules/socket.io-client ]]; then
    npm ci --prefix tests/js --no-audit --no-fund >&2
  fi
done

bench_scratch

export DATABASE_URL="sqlite://$workdir/bench.db" JWT_SECRET="bench-secret-bench-secret-bench-secret-01"
"$plaza_bin" --mode migrate >/dev/null

# start_live [REDIS_URL]: starts one live process; appends its pid to LIVE_PIDS and its URL to LIVE_URLS.
LIVE_PIDS=() LIVE_URLS=()
start_live() {
  local port; port=$(free_port)
  (cd "$workdir" && LISTEN_ADDR="127.0.0.1:$port" RUST_LOG=warn REDIS_URL="${1:-}" REDIS_PREFIX="bench-live-$$:" \
    exec "$plaza_bin" --mode live) >"$workdir/live-$port.log" 2>&1 &
  pids+=("$!"); LIVE_PIDS+=("$!"); LIVE_URLS+=("http://127.0.0.1:$port")
  wait_for 30 curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$workdir/live-$port.log" >&2; return 1; }
}

# scenario NAME [memory]: drives the started live processes with $connections clients of $client and prints the
# figures; with `memory`, also the first process's RSS peak and 30 s after every client left.
scenario() {
  local name=$1 memory=${2:-} before=() after=() urls line summary i sampler=""
  sleep 1
  for pid in "${LIVE_PIDS[@]}"; do before+=("$(rss_kib "$pid")"); done
  if [[ -n "$memory" ]]; then
    (while kill -0 "${LIVE_PIDS[0]}" 2>/dev/null; do rss_kib "${LIVE_PIDS[0]}"; sleep 0.5; done) >"$workdir/rss" &
    sampler=$!; pids+=("$sampler")
  fi
  urls=$(IFS=,; echo "${LIVE_URLS[*]}")
  if [[ "$client" == rust ]]; then
    coproc BENCH { target/release/bench-live-client "$urls" /api/socket.io "$connections" 5; }
  else
    coproc BENCH { node tests/js/bench-live.mjs "$urls" /api/socket.io "$connections" 5 "${BENCH_WORKERS:-4}"; }
  fi
  read -r line <&"${BENCH[0]}"
  sleep 2
  for pid in "${LIVE_PIDS[@]}"; do after+=("$(rss_kib "$pid")"); done
  local cpu_before=() cpu_after=()
  for pid in "${LIVE_PIDS[@]}"; do cpu_before+=("$(cpu_s "$pid")"); done
  echo go >&"${BENCH[1]}"
  read -r summary <&"${BENCH[0]}"
  for pid in "${LIVE_PIDS[@]}"; do cpu_after+=("$(cpu_s "$pid")"); done
  # The coprocess may have exited already, and bash then unsets its PID variable.
  wait "${BENCH_PID:-}" 2>/dev/null || true
  echo "== $name, $client client"
  for i in "${!LIVE_PIDS[@]}"; do
    awk -v b="${before[$i]}" -v a="${after[$i]}" -v n="$connections" -v procs="${#LIVE_PIDS[@]}" -v i="$i" \
      'BEGIN { per = n / procs; printf "process %d: RSS %d KiB idle -> %d KiB with %d clients: %.1f KiB per connection\n", i + 1, b, a, per, (a - b) / per }'
  done
  python3 - "$summary" "${cpu_before[*]}" "${cpu_after[*]}" "$(nproc)" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print("connections held: %d (%d failed); connect: all in %.1f s, handshake p50 %.1f ms, p99 %.1f ms"
      % (s["clients"], s["failed"], s["connect_total_s"], s["connect_p50_ms"], s["connect_p99_ms"]))
print("visitor change -> every client: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d deliveries missed)"
      % (s["broadcast_p50_ms"], s["broadcast_p99_ms"], s["broadcast_max_ms"], s["missed"]))
# CPU per delivered count over the rounds (their idle gaps included): the fan-out is CPU-bound on a machine whose
# cores the clients share, so these say how fast the machine was during the run.
deliveries = s["clients"] * s["changes"]
server = sum(float(a) - float(b) for a, b in zip(sys.argv[3].split(), sys.argv[2].split()))
line = "CPU per delivered count: server %.1f us" % (server * 1e6 / deliveries)
if "client_cpu_s" in s:
    client = s["client_cpu_s"]
    line += ", client %.1f us (user space %.1f); both over %s cores: %.0f ms of CPU time per change" % (
        client * 1e6 / deliveries, s.get("client_user_s", 0) * 1e6 / deliveries, sys.argv[4],
        (server + client) * 1e3 / s["changes"] / int(sys.argv[4]))
print(line)
PY
  if [[ -n "$memory" ]]; then
    # The clients are gone (their process exited): how long until RSS is back under twice idle, and where it is at 30 s.
    local idle=${before[0]} back="" t now
    for t in $(seq 1 30); do
      sleep 1
      now=$(rss_kib "${LIVE_PIDS[0]}")
      if [[ -z "$back" ]] && (( now <= 2 * idle )); then back=$t; fi
    done
    kill "$sampler" 2>/dev/null || true
    local peak; peak=$(sort -n "$workdir/rss" | tail -1)
    echo "memory after every client left: idle $idle KiB, peak $peak KiB, $now KiB at +30 s ($(awk -v n="$now" -v i="$idle" 'BEGIN { printf "%.2f", n / i }')x idle; under 2x after ${back:-never} s)"
  fi
}

echo "plaza $(git describe --always --dirty 2>/dev/null || echo dev) on $(nproc) cores: $connections websocket clients ($clients)"
redis_url="redis://127.0.0.1:6379"
for client in $clients; do
  start_live
  scenario "one live process (local adapter)" memory
  kill "${LIVE_PIDS[@]}"; LIVE_PIDS=() LIVE_URLS=()

  start_live "$redis_url"
  start_live "$redis_url"
  scenario "two live processes sharing Redis (clients split between them)"
  kill "${LIVE_PIDS[@]}"; LIVE_PIDS=() LIVE_URLS=()
done
