# Shared by scripts/test and scripts/bench: make sure the local services plaza's tests use are running,
# starting them, or installing them with apt (Debian/Ubuntu) when they are missing. Sourced, not run.

: "${TEST_DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
: "${TEST_REDIS_URL:=redis://127.0.0.1:6379}"
export TEST_DATABASE_URL TEST_REDIS_URL

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
  log "installing $* with apt"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for SECONDS command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Benchmarks: a scratch directory ($workdir) and the processes to stop on exit (pids+=(…)), both cleaned up by an
# EXIT trap; free_port prints a free TCP port, rss_kib PID a process's resident memory, cpu_s PID its CPU seconds
# (user + system) so far.
bench_scratch() {
  workdir=$(mktemp -d)
  pids=()
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$workdir"' EXIT
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }

redis_ping() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
  if ! redis_ping; then
    log "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for 20 redis_ping || { echo "redis-server did not start" >&2; return 1; }
  fi
  local version
  version=$(redis-cli -h 127.0.0.1 -p 6379 info server | sed -n 's/^redis_version:\([0-9]*\).*/\1/p')
  if [ "${version:-0}" -lt 7 ]; then
    echo "Redis >= 7 is required, found ${version:-unknown}" >&2
    return 1
  fi
  log "redis ${version}.x is up"
}

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
pg_login() { psql "$TEST_DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  command -v pg_ctlcluster >/dev/null && command -v psql >/dev/null || apt_install postgresql postgresql-client
  if ! pg_ready; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      echo "no PostgreSQL cluster found under /etc/postgresql" >&2
      return 1
    fi
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for 60 pg_ready || { echo "PostgreSQL did not start" >&2; return 1; }
  fi
  if ! pg_login; then
    # A fresh Debian install uses password auth on 127.0.0.1: give the postgres role the test password.
    log "setting the postgres role's password for local tests"
    as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    pg_login || { echo "cannot log in to $TEST_DATABASE_URL" >&2; return 1; }
  fi
  log "postgres $(psql "$TEST_DATABASE_URL" -Atqc 'show server_version') is up"
}

drop_test_databases() {
  local db
  for db in $(psql "$TEST_DATABASE_URL" -Atqc "select datname from pg_database where datname like 'plaza\_test\_%'"); do
    psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null
  done
}
