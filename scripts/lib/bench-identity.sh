#!/usr/bin/env bash
# `scripts/bench identity [SECONDS]`: what identity costs and what it reveals, on the embedded tier (SQLite).
# 1. GET /api/auth/me with a ticket holder's token, wrk for SECONDS (default 10) at c=50 and c=256: every request
#    runs the one authorisation check (token, attendee row, ticket lookup, roles evaluated now).
# 2. POST /api/auth/login, LOGIN_SAMPLES (default 400, at least 200) requests one at a time over one keep-alive
#    connection, alternating a ticket holder's address and an unknown one: the median of each and their difference.
#    The request path must do the same work for every address (< 10 % apart), or timing tells who holds a ticket.
#    Requests are LOGIN_PAUSE_MS (default 25) apart, so what is measured is each request's own path rather than the
#    background work (allow-list, upsert, email) a previous request left running on the same 2 cores.
# 3. Postgres + Redis (issue #19): two `--mode api` processes on one scratch database, one with the access cache on
#    (AUTH_CACHE_TTL_MS default) and one with it off (AUTH_CACHE_TTL_MS=0); GET /api/auth/me and /api/attendance/me
#    (8 saved sessions) at c=50 and c=256 for SECONDS each, alternating on/off in the same run, then the on/off
#    ratio. Needs Postgres and Redis (started or installed like scripts/test does); IDENTITY_PG=0 skips it.
# PLAZA_BIN=path measures an already built binary instead (e.g. main's, for a before/after comparison).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
duration="${1:-10}"
samples="${LOGIN_SAMPLES:-400}"
(( samples >= 200 )) || { echo "LOGIN_SAMPLES must be at least 200" >&2; exit 2; }

command -v wrk >/dev/null || apt_install wrk
plaza_bin="${PLAZA_BIN:-}"
if [[ -z "$plaza_bin" ]]; then
  cargo build --locked --release -p plaza --bin plaza >&2
  plaza_bin=target/release/plaza
fi
plaza_bin=$(realpath "$plaza_bin")

workdir=$(mktemp -d)
pids=()
scratch_db=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -z "$scratch_db" ]] || psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$scratch_db\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk_line LABEL URL CONNECTIONS TOKEN: one summary line (req/s, p50, p99, errors); leaves the req/s in LAST_RPS.
wrk_line() {
  local out rps p50 p99 errors
  out=$(wrk -t2 -c"$3" -d"${duration}s" --latency -H "Authorization: Bearer $4" "$2")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '%-44s c=%-4s %12s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$3" "$rps" "$p50" "$p99" "$errors"
  LAST_RPS=$rps
}

# Limits high enough that the benchmark measures the work, not the refusals; emails go to the outbox.
export DATABASE_URL="sqlite://$workdir/bench.db" JWT_SECRET="bench-secret-bench-secret-bench-secret-01" \
  OUTBOX_DIR="$workdir/outbox" LOGIN_LIMIT_PER_IP=100000000 LOGIN_LIMIT_PER_EMAIL=100000000 RUST_LOG=warn
"$plaza_bin" --mode migrate >/dev/null
# attendee-1@example.org holds a (fake) complete ticket.
"$plaza_bin" fake-tito --count 1 >/dev/null
token=$("$plaza_bin" dev-token attendee-1@example.org 2>/dev/null | sed -n 1p)

port=$(free_port)
(cd "$workdir" && LISTEN_ADDR="127.0.0.1:$port" LIVE_ADDR="127.0.0.1:$(free_port)" exec "$plaza_bin" --mode all) \
  >"$workdir/plaza.log" 2>&1 &
pids+=("$!")
base="http://127.0.0.1:$port"
wait_for 30 curl -fs "$base/readyz" || { cat "$workdir/plaza.log" >&2; exit 1; }
# The start-up import of the demo event runs in the background: measure after it, not during it.
has_sessions() { curl -fs "$base/api/schedule" | python3 -c 'import json, sys; sys.exit(not json.load(sys.stdin)["sessions"])'; }
wait_for 60 has_sessions || { echo "the demo schedule was not imported within 60 s" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/auth/me")
[[ "$status" == 200 ]] || { echo "GET /api/auth/me answered $status with the benchmark token" >&2; exit 1; }

echo "plaza $("$plaza_bin" --version 2>/dev/null | sed -n 1p) ($plaza_bin) on $(nproc) cores, ${duration}s per wrk scenario"
for conns in 50 256; do
  wrk_line "GET /api/auth/me (SQLite, all)" "$base/api/auth/me" "$conns" "$token"
done

python3 - "$base" "$samples" "${LOGIN_PAUSE_MS:-25}" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, samples, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
def login(email):
    body = json.dumps({"email": email, "redirect": "/session/A-1"})
    started = time.perf_counter()
    conn.request("POST", "/api/auth/login", body, {"content-type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    headers = sorted((k.lower(), v) for k, v in response.getheaders() if k.lower() != "date")
    return elapsed, (response.status, payload, headers)
known, unknown = "attendee-1@example.org", "nobody-at-all@example.org"
for _ in range(20):  # warm-up
    login(known); login(unknown)
times = {known: [], unknown: []}
answers = {known: set(), unknown: set()}
for i in range(samples):
    email = known if i % 2 == 0 else unknown
    time.sleep(pause)
    elapsed, answer = login(email)
    times[email].append(elapsed)
    answers[email].add(repr(answer))
k, u = statistics.median(times[known]), statistics.median(times[unknown])
diff = abs(k - u) / min(k, u) * 100
print(f"POST /api/auth/login x{samples} alternating, {pause * 1000:.0f} ms apart: ticket holder median {k * 1000:.3f} ms, "
      f"unknown median {u * 1000:.3f} ms, difference {diff:.1f} % "
      f"({'under' if diff < 10 else 'NOT under'} 10 %)")
same = answers[known] == answers[unknown] and len(answers[known]) == 1
print(f"status, body and headers identical for both addresses: {'yes' if same else 'NO'}")
PY

[[ "${IDENTITY_PG:-1}" == 1 ]] || exit 0
# --- 3. Postgres + Redis, access cache on vs off ------------------------------------------------------------------
ensure_postgres >/dev/null
ensure_redis >/dev/null
scratch_db="plaza_bench_identity_$$"
psql "$TEST_DATABASE_URL" -qc "create database \"$scratch_db\"" >/dev/null
pg_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
  "$TEST_DATABASE_URL" "$scratch_db")
export DATABASE_URL="$pg_url" REDIS_URL="$TEST_REDIS_URL" REDIS_PREFIX="bench-identity-$$:"
"$plaza_bin" --mode migrate >/dev/null
"$plaza_bin" fake-tito --count 1 >/dev/null
token=$("$plaza_bin" dev-token attendee-1@example.org 2>/dev/null | sed -n 1p)
# A realistic "My Schedule": the attendee saved 8 sessions (rows straight in the table; the ids need no schedule).
psql "$pg_url" -qc "insert into attendance (attendee, session) select id, 'BENCH-' || n from attendees,
  generate_series(1, 8) n where email = 'attendee-1@example.org'" >/dev/null
declare -A api
for variant in on off; do
  port=$(free_port)
  ttl=$([[ "$variant" == on ]] && echo "${AUTH_CACHE_TTL_MS:-1000}" || echo 0)
  (cd "$workdir" && LISTEN_ADDR="127.0.0.1:$port" AUTH_CACHE_TTL_MS="$ttl" exec "$plaza_bin" --mode api) \
    >"$workdir/api-$variant.log" 2>&1 &
  pids+=("$!")
  api[$variant]="http://127.0.0.1:$port"
  wait_for 30 curl -fs "${api[$variant]}/readyz" || { cat "$workdir/api-$variant.log" >&2; exit 1; }
  for path in /api/auth/me /api/attendance/me; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "${api[$variant]}$path")
    [[ "$status" == 200 ]] || { echo "GET $path answered $status (cache $variant)" >&2; exit 1; }
  done
done
echo "Postgres $(psql "$TEST_DATABASE_URL" -Atqc 'show server_version') + Redis, --mode api," \
  "DATABASE_MAX_CONNECTIONS=${DATABASE_MAX_CONNECTIONS:-10}; access cache on (AUTH_CACHE_TTL_MS=${AUTH_CACHE_TTL_MS:-1000}) vs off (0), alternating"
for conns in 50 256; do
  for path in /api/auth/me /api/attendance/me; do
    declare -A got=()
    for variant in on off; do
      wrk_line "GET $path (Postgres, cache $variant)" "${api[$variant]}$path" "$conns" "$token"
      got[$variant]=$LAST_RPS
    done
    python3 -c 'import sys; on, off = map(float, sys.argv[1:]); print(f"  cache on / off: {on / off:.2f}x")' \
      "${got[on]}" "${got[off]}"
  done
done
