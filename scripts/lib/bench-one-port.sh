#!/usr/bin/env bash
# `all` on one port vs `all` with LIVE_ADDR (the API straight on its own port) — issue #19: the one port must cost
# API requests nothing. Builds the release binary, starts both processes on the embedded tier (each its own
# scratch directory), waits for the demo schedule, then runs wrk against GET /api/schedule (identity and
# `Accept-Encoding: br`, c=64, SECONDS each, default 10), alternating the two processes for ROUNDS rounds
# (default 3), and prints every run and the medians' ratio. Usage: scripts/lib/bench-one-port.sh [SECONDS] [ROUNDS]
# The machine is shared: figures are indicative; compare within one run only. PLAZA_BIN overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/services.sh
duration="${1:-10}"
rounds="${2:-3}"

command -v wrk >/dev/null || apt_install wrk
# PLAZA_BIN: another binary (skips the build), e.g. to compare two builds.
if [[ -z "${PLAZA_BIN:-}" ]]; then
  cargo build --locked --release -p plaza --bin plaza >&2
  PLAZA_BIN="$PWD/target/release/plaza"
fi

workdir=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$workdir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME [LIVE_ADDR]: starts `plaza --mode all` in $workdir/NAME; sets URL.
start() {
  local name=$1 live=${2:-} port; port=$(free_port)
  mkdir -p "$workdir/$name"
  (cd "$workdir/$name"
    [[ -n $live ]] && export LIVE_ADDR="$live"
    LISTEN_ADDR="127.0.0.1:$port" RUST_LOG=warn DATABASE_URL="sqlite://$workdir/$name/plaza.db" \
      JWT_SECRET="bench-one-port-secret-bench-one-port-01" exec "$PLAZA_BIN" --mode all) >"$workdir/$name.log" 2>&1 &
  pids+=("$!")
  URL="http://127.0.0.1:$port"
  wait_for 60 bash -c "curl -fs '$URL/api/schedule' | grep -q '\"sessions\":\[{'" \
    || { cat "$workdir/$name.log" >&2; return 1; }
}

start one-port
one_port=$URL
start direct "127.0.0.1:$(free_port)"
direct=$URL

# rps URL [HEADER]: req/s of one wrk run.
rps() {
  local url=$1; shift
  wrk -t2 -c64 -d"${duration}s" "$@" "$url/api/schedule" | awk '/^Requests\/sec:/ {print int($2)}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

declare -A runs
for round in $(seq "$rounds"); do
  for encoding in identity br; do
    header=()
    [[ $encoding == br ]] && header=(-H 'Accept-Encoding: br')
    # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
    order=(one-port direct)
    ((round % 2 == 0)) && order=(direct one-port)
    for which in "${order[@]}"; do
      url=$one_port
      [[ $which == direct ]] && url=$direct
      value=$(rps "$url" "${header[@]}")
      runs[$which-$encoding]+="$value "
      echo "round $round  $encoding  $which: $value req/s" >&2
    done
  done
done

printf '%-9s %-30s %-30s %s\n' encoding "all, one port (req/s)" "all + LIVE_ADDR (req/s)" "median ratio"
for encoding in identity br; do
  a=$(tr ' ' '\n' <<<"${runs[one-port-$encoding]}" | grep . | median)
  b=$(tr ' ' '\n' <<<"${runs[direct-$encoding]}" | grep . | median)
  printf '%-9s %-30s %-30s %s\n' "$encoding" "${runs[one-port-$encoding]}(median $a)" \
    "${runs[direct-$encoding]}(median $b)" "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')"
done
