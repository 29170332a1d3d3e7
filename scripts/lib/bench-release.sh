#!/usr/bin/env bash
# `scripts/bench release`: one schedule release moving 20 sessions saved by 10,000 attendees, 5,000 of them with a
# socket.io tab open (#20). Postgres + Redis (started or installed by scripts/lib/services.sh), a scratch database
# dropped on exit, the release binaries; the run itself is tests/src/bin/bench-release.rs (fake Pretalx over
# HTTP, SMTP sink, one `api` and two `live` processes, the socket clients) and prints: publish → last
# `myScheduleChanged`, publish → last digest handed to SMTP, the import's duration with and without attendees
# (growth, limit +10 %), and the peak RSS of the plaza processes.
# Sizes: BENCH_ATTENDEES (10000), BENCH_SOCKETS (5000), BENCH_MOVES (20), BENCH_SESSIONS (2000), BENCH_ROUNDS (2).
# PLAZA_BIN: an already built plaza to measure instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh

ulimit -n "$(ulimit -Hn)"
sockets="${BENCH_SOCKETS:-5000}"
if (( $(ulimit -n) < 2 * sockets + 1000 )); then
  echo "open-file limit $(ulimit -n) is too low for $sockets sockets" >&2
  exit 1
fi
ensure_postgres
ensure_redis
plaza_bin="${PLAZA_BIN:-}"
if [[ -z "$plaza_bin" ]]; then
  cargo build --locked --release -p plaza --bin plaza >&2
  plaza_bin=target/release/plaza
fi
cargo build --locked --release -p plaza-tests --bin bench-release >&2

db="plaza_bench_release_$$"
psql "$TEST_DATABASE_URL" -qc "create database \"$db\"" >/dev/null
trap 'psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true' EXIT
base="${TEST_DATABASE_URL%/*}"

echo "plaza $(git describe --always --dirty 2>/dev/null || echo dev) on $(nproc) cores"
PLAZA_BIN=$(realpath "$plaza_bin") DATABASE_URL="$base/$db" REDIS_URL="$TEST_REDIS_URL" \
  target/release/bench-release
