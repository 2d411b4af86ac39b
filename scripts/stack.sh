#!/usr/bin/env bash
# The docker-compose topology from local binaries, for demos and tests on a
# machine without a container engine: two reportit replicas on their own
# ports, sharing this machine's PostgreSQL (a database of the stack's own,
# created on start and dropped on stop) and Redis, delivering to the
# reference intake portal (reportit intake-sim).
#
#   scripts/stack.sh start        build, create the database, start all
#   scripts/stack.sh status       what runs where
#   scripts/stack.sh kill N       SIGKILL replica N (1 or 2), for crash tests
#   scripts/stack.sh restart N    start replica N again
#   scripts/stack.sh stop         stop everything, drop the database
#
# Settings (environment):
#   STACK_DIR          state, logs and the shared data directory
#                      (default: /tmp/reportit-stack)
#   STACK_PG_ADMIN_URL a PostgreSQL URL allowed to CREATE/DROP DATABASE
#                      (default: postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   STACK_REDIS_URL    (default: redis://127.0.0.1:6379/0)
#   STACK_PORT1, STACK_PORT2, STACK_INTAKE_PORT  (default: 18081, 18082, 19090)
#   STACK_BIN          a reportit binary to use instead of building one
#   REPORTIT_*         passed through to the replicas (rates, log level, ...)
#
# No reverse proxy here: clients talk to the replicas directly, so no
# proxy is trusted (REPORTIT_TRUSTED_PROXIES stays empty). "start" writes
# STACK_DIR/env with the URLs, for tests to source.
set -euo pipefail

cd "$(dirname "$0")/.."
dir=${STACK_DIR:-/tmp/reportit-stack}
admin_url=${STACK_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
redis_url=${STACK_REDIS_URL:-redis://127.0.0.1:6379/0}
port1=${STACK_PORT1:-18081}
port2=${STACK_PORT2:-18082}
intake_port=${STACK_INTAKE_PORT:-19090}

die() { echo "stack: $*" >&2; exit 1; }

# db_url NAME: the admin URL with its database replaced by NAME.
db_url() {
  local base=${admin_url%%\?*} query=
  [[ $admin_url == *\?* ]] && query="?${admin_url#*\?}"
  echo "${base%/*}/$1$query"
}

psql_admin() { psql "$admin_url" -v ON_ERROR_STOP=1 -qAt "$@"; }

# wait_ready URL: until it answers 200, or fail after ~30 s.
wait_ready() {
  for _ in $(seq 300); do
    if curl -fs -o /dev/null --max-time 1 "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# alive PIDFILE: the process it names runs.
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_replica() {
  local n=$1 port
  port=$([[ $n == 1 ]] && echo "$port1" || echo "$port2")
  alive "$dir/replica$n.pid" && die "replica $n already runs (pid $(cat "$dir/replica$n.pid"))"
  # shellcheck disable=SC1091
  source "$dir/env"
  REPORTIT_ADDR=127.0.0.1:$port \
  REPORTIT_DATA_DIR=$dir/data \
  REPORTIT_DATABASE_URL_FILE=$dir/secrets/database_url \
  REPORTIT_REDIS_URL=$redis_url \
  REPORTIT_REPLICA_ID=replica-$n \
  REPORTIT_INTAKE_URL=$STACK_INTAKE_URL \
  REPORTIT_INTAKE_SECRET_FILE=$dir/secrets/intake_secret \
  REPORTIT_ALLOW_HTTP_INTAKE=true \
    setsid "$dir/reportit" serve >>"$dir/replica$n.log" 2>&1 </dev/null &
  echo $! >"$dir/replica$n.pid"
  wait_ready "http://127.0.0.1:$port/readyz" || die "replica $n did not get ready; see $dir/replica$n.log"
  echo "replica $n: http://127.0.0.1:$port (pid $(cat "$dir/replica$n.pid"))"
}

start() {
  [[ -f $dir/dbname ]] && die "a stack is already set up in $dir; run '$0 stop' first"
  command -v psql >/dev/null || die "psql not found"
  command -v curl >/dev/null || die "curl not found"
  mkdir -p "$dir/data" "$dir/secrets"
  chmod 700 "$dir" "$dir/data" "$dir/secrets"

  if [[ -n ${STACK_BIN:-} ]]; then
    cp "$STACK_BIN" "$dir/reportit"
  else
    CGO_ENABLED=0 go build -o "$dir/reportit" ./server
  fi

  local db
  db=reportit_stack_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  psql_admin -c "CREATE DATABASE $db" || die "cannot create database $db"
  echo "$db" >"$dir/dbname"
  # Secrets go in files, as in the compose stack, never on command lines.
  (umask 077
   db_url "$db" >"$dir/secrets/database_url"
   echo "whsec_$(head -c 32 /dev/urandom | base64 -w0)" >"$dir/secrets/intake_secret")
  REPORTIT_DATABASE_URL_FILE=$dir/secrets/database_url REPORTIT_DATA_DIR=$dir/data \
    "$dir/reportit" migrate >"$dir/migrate.log" 2>&1 || die "migrate failed; see $dir/migrate.log"
  cat >"$dir/env" <<ENV
STACK_DATABASE=$db
STACK_URL1=http://127.0.0.1:$port1
STACK_URL2=http://127.0.0.1:$port2
STACK_INTAKE_URL=http://127.0.0.1:$intake_port/intake
STACK_INTAKE_BASE=http://127.0.0.1:$intake_port
STACK_REDIS_URL=$redis_url
ENV

  REPORTIT_INTAKE_SECRET_FILE=$dir/secrets/intake_secret \
    setsid "$dir/reportit" intake-sim -addr "127.0.0.1:$intake_port" >>"$dir/intake-sim.log" 2>&1 </dev/null &
  echo $! >"$dir/intake-sim.pid"
  wait_ready "http://127.0.0.1:$intake_port/stats" || die "intake-sim did not start; see $dir/intake-sim.log"
  echo "intake-sim: http://127.0.0.1:$intake_port/intake (pid $(cat "$dir/intake-sim.pid"))"

  # One after the other: the first start creates the shared server secret
  # and token keys in the data directory.
  start_replica 1
  start_replica 2
  echo "database: $db; settings in $dir/env"
}

# stop_pid PIDFILE: SIGTERM, wait up to 25 s (replicas drain), then SIGKILL.
stop_pid() {
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  stop_pid "$dir/replica1.pid"
  stop_pid "$dir/replica2.pid"
  stop_pid "$dir/intake-sim.pid"
  if [[ -f $dir/dbname ]]; then
    local db
    db=$(cat "$dir/dbname")
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" && rm -f "$dir/dbname"
    echo "dropped database $db"
  fi
  rm -rf "$dir/data" "$dir/secrets" "$dir/env" "$dir/reportit"
  echo "stopped; logs kept in $dir"
}

status() {
  [[ -f $dir/env ]] || { echo "no stack in $dir"; return 0; }
  cat "$dir/env"
  for p in replica1 replica2 intake-sim; do
    if alive "$dir/$p.pid"; then echo "$p: running (pid $(cat "$dir/$p.pid"))"; else echo "$p: not running"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill)
    [[ ${2:-} == [12] ]] || die "usage: $0 kill 1|2"
    alive "$dir/replica$2.pid" || die "replica $2 does not run"
    kill -KILL "$(cat "$dir/replica$2.pid")"
    rm -f "$dir/replica$2.pid"
    echo "replica $2 killed (SIGKILL)" ;;
  restart)
    [[ ${2:-} == [12] ]] || die "usage: $0 restart 1|2"
    start_replica "$2" ;;
  *) die "usage: $0 start|stop|status|kill N|restart N" ;;
esac
