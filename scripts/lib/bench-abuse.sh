#!/usr/bin/env bash
# `scripts/bench abuse [SECONDS]`: plaza `--mode all` on one port (the hyper front, embedded tier) under an anonymous
# flood from one machine (tests/src/bin/bench-abuse-client.rs: 20 raw websocket sockets sending tiny trackMetric
# events as fast as they can, reconnecting when thrown out, plus 5 sending 1 MB trackError messages) for SECONDS
# (default 10). Prints the server's RSS and CPU under the flood, the rows it stored, and GET /api/schedule p99 (wrk,
# c=10) without the flood and during it. Everything runs on 127.0.0.1: the attacker, wrk and plaza share the cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
duration="${1:-10}"

command -v wrk >/dev/null || apt_install wrk
cargo build --locked --release -p plaza --bin plaza >&2
cargo build --locked --release -p plaza-tests --bin bench-abuse-client >&2

bench_scratch
rows() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM logs").fetchone()[0])' "$workdir/bench.db"; }
p99() { wrk -t2 -c10 -d"${duration}s" --latency "$1" | awk '$1 == "99%" {print $2}'; }

port=$(free_port)
(cd "$workdir" && LISTEN_ADDR="127.0.0.1:$port" RUST_LOG=warn DATABASE_URL="sqlite://$workdir/bench.db" \
  exec "$OLDPWD/target/release/plaza" --mode all) >"$workdir/plaza.log" 2>&1 &
plaza_pid=$!
pids+=("$plaza_pid")
base="http://127.0.0.1:$port"
has_sessions() { curl -fs "$base/api/schedule" | python3 -c 'import json, sys; sys.exit(not json.load(sys.stdin)["sessions"])'; }
wait_for 60 has_sessions || { cat "$workdir/plaza.log" >&2; exit 1; }
echo "plaza $(git describe --always --dirty 2>/dev/null || echo dev) --mode all on $(nproc) cores, ${duration}s per phase"

quiet_p99=$(p99 "$base/api/schedule")
rss_before=$(rss_kib "$plaza_pid") cpu_before=$(cpu_s "$plaza_pid") rows_before=$(rows)
target/release/bench-abuse-client "$base" /api/socket.io "$duration" >"$workdir/flood.json" &
flood_pid=$!
pids+=("$flood_pid")
flood_p99=$(p99 "$base/api/schedule")
rss_peak=$(rss_kib "$plaza_pid")
wait "$flood_pid"
sleep 1
rss_after=$(rss_kib "$plaza_pid") cpu_after=$(cpu_s "$plaza_pid") rows_after=$(rows)

echo "flood sent: $(cat "$workdir/flood.json")"
echo "server RSS: ${rss_before} KiB before, ${rss_peak} KiB during, ${rss_after} KiB after (+$((rss_after - rss_before)) KiB)"
awk -v a="$cpu_before" -v b="$cpu_after" -v d="$duration" \
  'BEGIN { printf "server CPU during the flood: %.2f s over %d s (%.0f%% of one core)\n", b - a, d, 100 * (b - a) / d }'
echo "rows stored from the flood: $((rows_after - rows_before))"
echo "GET /api/schedule p99 (c=10): ${quiet_p99} without the flood, ${flood_p99} during it"
