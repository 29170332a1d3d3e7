#!/usr/bin/env bash
# The main scenario of scripts/bench: plaza's public bytes against nginx serving the very same bytes, and the other
# public reads. Usage: scripts/bench [SECONDS] (default 5 per wrk run). Environment: BENCH_ROUNDS (default 1: each
# row is one plaza run and one nginx run, alternating, order reversed every other round; more rounds print medians),
# BENCH_SESSIONS (default 300: the sized event's sessions), BENCH_MODES (default "api all").
#
# 1. Events: the demo event (plaza's bundled generator) and a generated Pretalx event of BENCH_SESSIONS sessions
#    (bench-pretalx: the sized fixture behind wiremock, imported by plaza over HTTP).
# 2. For each event and mode — `api` (`--mode api` after a `--mode fetch-schedule`) and `all` on one port (no
#    LIVE_ADDR) — plaza on the embedded tier (SQLite, memory cache), default logging; the schedule's three bodies
#    (identity, `Accept-Encoding: br`, `gzip`) fetched from plaza with curl are put in an nginx root, nginx serves
#    them (brotli_static / gzip_static, sendfile, keepalive, worker_processes = cores, access_log off) as our own
#    process on a free port; each encoding at c=50 and c=256: plaza and nginx req/s, p50, p99, errors, ratio.
# 3. Demo event, `all`: /healthz, /api/content/<slug> (atrium-public, help), a share page; the access log's cost
#    (content c=50: default logging, RUST_LOG=warn, every request logged); RSS.
# 4. bench-import: one import of 2,000 sessions / 1,000 speakers (seconds, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
duration="${1:-5}"
rounds="${BENCH_ROUNDS:-1}"
sessions="${BENCH_SESSIONS:-300}"
modes="${BENCH_MODES:-api all}"
cores=$(nproc)

command -v wrk >/dev/null || apt_install wrk
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
# grep reads all of apt-cache's output: with `grep -q` and pipefail, apt-cache's SIGPIPE failed the test.
if [ ! -f "$brotli_module" ] && apt-cache policy libnginx-mod-http-brotli-static 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; then
  apt_install libnginx-mod-http-brotli-static
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --locked --release -p plaza --bin plaza >&2
cargo build --locked --release -p plaza-tests --bin bench-pretalx --bin bench-import >&2

bench_scratch
plaza_bin="$PWD/target/release/plaza"

# start_plaza NAME MODE [VAR=VALUE…]: plaza on the embedded tier in $workdir/NAME (its own SQLite file), on a free
# port, socket.io on the same port in `all`; sets PLAZA_URL and PLAZA_PID. `api` first imports with fetch-schedule.
start_plaza() {
  local name=$1 mode=$2; shift 2
  local dir="$workdir/$name" port; port=$(free_port)
  mkdir -p "$dir"
  local env=(LISTEN_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$dir/plaza.db" "$@")
  if [ "$mode" = api ]; then
    (cd "$dir" && env "${env[@]}" "$plaza_bin" --mode fetch-schedule) >"$dir/import.log" 2>&1 \
      || { cat "$dir/import.log" >&2; return 1; }
  fi
  (cd "$dir" && exec env "${env[@]}" "$plaza_bin" --mode "$mode") >"$dir/plaza.log" 2>&1 &
  PLAZA_PID=$!
  pids+=("$PLAZA_PID")
  PLAZA_URL="http://127.0.0.1:$port"
  wait_for 30 curl -fs "$PLAZA_URL/readyz" || { cat "$dir/plaza.log" >&2; return 1; }
  # `all` imports in the background at start: wait until the schedule has its sessions.
  has_sessions() { curl -fs "$PLAZA_URL/api/schedule" | python3 -c 'import json, sys; sys.exit(not json.load(sys.stdin)["sessions"])'; }
  wait_for 120 has_sessions || { echo "$name: /api/schedule has no sessions after 120 s" >&2; tail -20 "$dir/plaza.log" >&2; return 1; }
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_nginx NAME ROOT: nginx serving ROOT/schedule.json (+ .br, .gz) on a free port; sets NGINX_URL, NGINX_PID.
start_nginx() {
  local dir="$workdir/$1-nginx" root=$2 port; port=$(free_port)
  mkdir -p "$dir/tmp"
  # nginx started as root runs its workers as nobody: they must be able to read the files.
  chmod 755 "$workdir"
  chmod -R a+rX "$root"
  local load="" br_static=""
  local content_encoding_map="" location
  if [ -f "$brotli_module" ]; then
    load="load_module $brotli_module;"
    br_static="brotli_static on;"
    location="gzip_static on; gzip_vary on; $br_static"
  else
    # No brotli module: pick the precompressed file from Accept-Encoding ourselves.
    content_encoding_map='map $http_accept_encoding $suffix { "~*(^|[ ,])br($|[ ,;])" .br; ~*gzip .gz; default ""; }
      map $suffix $coding { .br br; .gz gzip; default ""; }'
    location='try_files /schedule.json$suffix =404; add_header Content-Encoding $coding; add_header Vary Accept-Encoding;'
  fi
  cat >"$dir/nginx.conf" <<EOF
$load
worker_processes $cores;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65; keepalive_requests 1000000;
  open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  types { application/json json; }
  $content_encoding_map
  server {
    listen 127.0.0.1:$port;
    root $root;
    location = /schedule.json { $location }
  }
}
EOF
  "$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  pids+=("$NGINX_PID")
  NGINX_URL="http://127.0.0.1:$port/schedule.json"
  wait_for 30 curl -fs -o /dev/null "$NGINX_URL" || { cat "$dir/error.log" "$dir/stdout.log" >&2; return 1; }
}

# wrk_once URL CONNECTIONS [HEADER]: one wrk run; sets RPS, P50, P99, ERRORS.
wrk_once() {
  local url=$1 conns=$2 out
  local args=(-t2 -c"$conns" -d"${duration}s" --latency)
  [ -n "${3:-}" ] && args+=(-H "$3")
  out=$(wrk "${args[@]}" "$url")
  RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out"); RPS=${RPS:-0}
  P50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  ERRORS=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_row NAME CONNECTIONS URL [HEADER]: one scenario, one line (median req/s over the rounds, last p50/p99).
run_row() {
  local name=$1 conns=$2 url=$3 header=${4:-} all="" i
  for ((i = 0; i < rounds; i++)); do
    wrk_once "$url" "$conns" "$header"
    all+=" $RPS"
  done
  printf '%-44s c=%-4s %10.0f req/s  p50 %-9s p99 %-9s %s\n' "$name" "$conns" "$(median <<<"$all")" "$P50" "$P99" "$ERRORS"
  ROW_RPS=$(median <<<"$all")
}

# compare NAME CONNECTIONS PLAZA_URL NGINX_URL [HEADER]: plaza and nginx alternating (ABBA over the rounds), one
# line with both medians and the ratio.
compare() {
  local name=$1 conns=$2 plaza=$3 nginx=$4 header=${5:-} i p_all="" n_all="" p_line n_line
  for ((i = 0; i < rounds; i++)); do
    if ((i % 2 == 0)); then
      wrk_once "$plaza" "$conns" "$header"; p_all+=" $RPS"; p_line="p50 $P50 p99 $P99 $ERRORS"
      wrk_once "$nginx" "$conns" "$header"; n_all+=" $RPS"; n_line="p50 $P50 p99 $P99 $ERRORS"
    else
      wrk_once "$nginx" "$conns" "$header"; n_all+=" $RPS"; n_line="p50 $P50 p99 $P99 $ERRORS"
      wrk_once "$plaza" "$conns" "$header"; p_all+=" $RPS"; p_line="p50 $P50 p99 $P99 $ERRORS"
    fi
  done
  local p n; p=$(median <<<"$p_all"); n=$(median <<<"$n_all")
  printf '%-34s c=%-4s plaza %8.0f (%s) nginx %8.0f (%s) ratio %.2f\n' "$name" "$conns" "$p" "$p_line" "$n" "$n_line" \
    "$(awk -v p="$p" -v n="$n" 'BEGIN { print (n > 0) ? p / n : 0 }')"
}

# fetch_bodies PLAZA_URL ROOT: the schedule's identity, br and gzip bodies as plaza sends them.
fetch_bodies() {
  mkdir -p "$2"
  curl -fsS -o "$2/schedule.json" "$1/api/schedule"
  curl -fsS -H 'Accept-Encoding: br' -o "$2/schedule.json.br" "$1/api/schedule"
  curl -fsS -H 'Accept-Encoding: gzip' -o "$2/schedule.json.gz" "$1/api/schedule"
}

# check_same URL ROOT: nginx sends the same bytes for each encoding.
check_same() {
  local coding file
  for coding in identity br gzip; do
    file=$2/schedule.json; [ "$coding" = br ] && file+=.br; [ "$coding" = gzip ] && file+=.gz
    curl -fsS -H "Accept-Encoding: $coding" "$1" | cmp -s - "$file" \
      || { echo "nginx does not send plaza's $coding bytes" >&2; return 1; }
  done
}

echo "plaza $(git describe --always --dirty 2>/dev/null || echo dev) on $cores cores, ${duration}s per run, $rounds round(s); wrk -t2"

# The sized event, served over HTTP for the whole run.
pretalx_out="$workdir/pretalx.out"
target/release/bench-pretalx "$sessions" "$((sessions / 2))" >"$pretalx_out" 2>"$workdir/pretalx.err" &
pids+=("$!")
wait_for 30 grep -q PRETALX_URL "$pretalx_out" || { cat "$workdir/pretalx.err" >&2; exit 1; }
eval "sized_env=($(cat "$pretalx_out"))"

for event in demo sized; do
  event_env=()
  label="demo event"
  if [ "$event" = sized ]; then event_env=("${sized_env[@]}"); label="$sessions-session event"; fi
  for mode in $modes; do
    start_plaza "$event-$mode" "$mode" "${event_env[@]}"
    root="$workdir/$event-$mode-www"
    fetch_bodies "$PLAZA_URL" "$root"
    start_nginx "$event-$mode" "$root"
    check_same "$NGINX_URL" "$root"
    echo "--- /api/schedule, $label, --mode $mode$([ "$mode" = all ] && echo ' (one port)'): identity $(stat -c %s "$root/schedule.json") B, br $(stat -c %s "$root/schedule.json.br") B, gzip $(stat -c %s "$root/schedule.json.gz") B"
    for coding in identity br gzip; do
      header=""; [ "$coding" != identity ] && header="Accept-Encoding: $coding"
      for conns in 50 256; do
        compare "schedule $coding" "$conns" "$PLAZA_URL/api/schedule" "$NGINX_URL" "$header"
      done
    done
    stop "$NGINX_PID"
    stop "$PLAZA_PID"
  done
done

echo "--- other public reads, demo event, --mode all (one port), default logging"
start_plaza demo-reads all
base=$PLAZA_URL
for conns in 50 256; do run_row "GET /healthz" "$conns" "$base/healthz"; done
for slug in atrium-public help; do
  if curl -fs -o /dev/null "$base/api/content/$slug"; then
    for conns in 50 256; do run_row "GET /api/content/$slug" "$conns" "$base/api/content/$slug"; done
  fi
done
share_id=$(curl -fs "$base/api/schedule" | python3 -c 'import json, sys; print(json.load(sys.stdin)["sessions"][0]["id"])')
run_row "GET /api/share/session/:id" 256 "$base/api/share/session/$share_id"
echo "plaza RSS after the load: $(rss_kib "$PLAZA_PID") KiB"

echo "--- access log cost: GET /api/content/help, c=50, --mode api (default logging vs RUST_LOG=warn vs every request)"
stop "$PLAZA_PID"
slug=help
logged_bytes() { stat -c %s "$workdir/$1/plaza.log"; }
for variant in default warn every; do
  case $variant in
    default) extra=() ;;
    warn) extra=(RUST_LOG=warn) ;;
    every) extra=(ACCESS_LOG_PER_SECOND=4000000000) ;;
  esac
  start_plaza "log-$variant" api "${extra[@]}"
  before=$(logged_bytes "log-$variant")
  run_row "content, logging: $variant" 50 "$PLAZA_URL/api/content/$slug"
  after=$(logged_bytes "log-$variant")
  awk -v b="$((after - before))" -v s="$duration" 'BEGIN { printf "  log written during the run: %.1f KB/s\n", b / s / 1024 }'
  stop "$PLAZA_PID"
done

echo "--- import"
target/release/bench-import
