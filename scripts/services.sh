#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer, create the service's database roles and database, and
# write .local/env with the URLs every other command uses.
#
# Order of preference for each service: the URL the user gave (DATABASE_URL / REDIS_URL), the
# machine's server on its default port, a private instance under .local/ started from the
# machine's binaries, and — on Debian/Ubuntu as root — installing the distribution package.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local
log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

DB_NAME=${REGSVC_DB_NAME:-regsvc}
OWNER_ROLE=${REGSVC_DB_OWNER_ROLE:-regsvc_owner}
APP_ROLE=${REGSVC_DB_APP_ROLE:-regsvc_app}
RELAY_ROLE=${REGSVC_DB_RELAY_ROLE:-regsvc_relay}
PRIVATE_PG_PORT=${PRIVATE_PG_PORT:-55432}
PRIVATE_REDIS_PORT=${PRIVATE_REDIS_PORT:-56379}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $* from the distribution's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

pg_answers() { PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && { pg_config --bindir; return 0; }
  return 1
}

start_private_pg() {
  local bindir datadir run_as=()
  bindir=$(pg_bindir) || { apt_install postgresql postgresql-contrib && bindir=$(pg_bindir); } ||
    die "PostgreSQL >= 14 is needed. Install it (Debian/Ubuntu: sudo apt-get install postgresql postgresql-contrib) or set PG_ADMIN_URL to a superuser URL of a running server."
  datadir="$PWD/.local/pg"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$datadir" postgres
    run_as=(runuser -u postgres --)
  fi
  if [ ! -f "$datadir/PG_VERSION" ]; then
    mkdir -p "$datadir"; [ "$(id -u)" = 0 ] && chown postgres "$datadir"
    log "initialising a private PostgreSQL cluster in .local/pg"
    "${run_as[@]}" "$bindir/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! pg_answers "postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/postgres"; then
    log "starting the private PostgreSQL on port $PRIVATE_PG_PORT"
    "${run_as[@]}" "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
      -o "-p $PRIVATE_PG_PORT -k $datadir -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/postgres"
}

redis_answers() {
  command -v redis-cli >/dev/null || return 1
  [ "$(timeout 3 redis-cli -u "$1" ping 2>/dev/null)" = PONG ]
}

start_private_redis() {
  command -v redis-server >/dev/null || apt_install redis-server ||
    die "Redis is needed. Install it (Debian/Ubuntu: sudo apt-get install redis-server) or set REDIS_URL to a running server."
  mkdir -p .local/redis
  log "starting a private Redis on port $PRIVATE_REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PRIVATE_REDIS_PORT" --save "" \
    --appendonly no --dir "$PWD/.local/redis" --pidfile "$PWD/.local/redis/redis.pid" \
    --logfile "$PWD/.local/redis/redis.log"
  for _ in $(seq 50); do redis_answers "redis://127.0.0.1:$PRIVATE_REDIS_PORT/0" && break; sleep 0.1; done
}

# --- PostgreSQL -------------------------------------------------------------------------------
command -v psql >/dev/null || apt_install postgresql-client ||
  die "psql is needed (Debian/Ubuntu: sudo apt-get install postgresql-client)."
if [ -n "${DATABASE_URL:-}" ] && [ -n "${DATABASE_OWNER_URL:-}" ] && pg_answers "$DATABASE_URL" && pg_answers "$DATABASE_OWNER_URL"; then
  log "using the PostgreSQL of DATABASE_URL / DATABASE_OWNER_URL as given"
  # The outbox relay's role on the same server and database, unless given.
  DATABASE_RELAY_URL=${DATABASE_RELAY_URL:-postgres://$RELAY_ROLE@${DATABASE_URL#*@}}
else
  PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  if pg_answers "$PG_ADMIN_URL"; then
    log "using the running PostgreSQL at ${PG_ADMIN_URL##*@}"
  else
    start_private_pg
  fi
  server=${PG_ADMIN_URL#*@}; server=${server%%/*}
  log "creating roles $OWNER_ROLE, $APP_ROLE, $RELAY_ROLE and database $DB_NAME (if missing)"
  psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$OWNER_ROLE') THEN
    CREATE ROLE $OWNER_ROLE LOGIN NOSUPERUSER CREATEDB NOCREATEROLE BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$RELAY_ROLE') THEN
    CREATE ROLE $RELAY_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;
  END IF;
END
\$\$;
ALTER ROLE $APP_ROLE NOSUPERUSER NOBYPASSRLS;
SELECT 'CREATE DATABASE $DB_NAME OWNER $OWNER_ROLE'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
SQL
  DATABASE_URL="postgres://$APP_ROLE@$server/$DB_NAME"
  DATABASE_OWNER_URL="postgres://$OWNER_ROLE@$server/$DB_NAME"
  DATABASE_RELAY_URL="postgres://$RELAY_ROLE@$server/$DB_NAME"
  pg_answers "$DATABASE_URL" || die "cannot connect as $APP_ROLE; the server must allow it (trust or a password in DATABASE_URL)."
fi

# --- Redis ------------------------------------------------------------------------------------
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
if ! redis_answers "$REDIS_URL"; then
  command -v redis-cli >/dev/null || apt_install redis-tools redis-server ||
    die "redis-cli is needed (Debian/Ubuntu: sudo apt-get install redis-tools)."
  if ! redis_answers "$REDIS_URL"; then
    start_private_redis
    REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT/0"
    redis_answers "$REDIS_URL" || die "the private Redis did not start; see .local/redis/redis.log"
  fi
fi
log "Redis at ${REDIS_URL#redis://}"

# --- Portrait key-encryption key (development only) ------------------------------------------
# A random key generated once per checkout and kept across runs (portraits stored with it stay
# readable); production takes its keys from the secret manager instead (PORTRAIT_KEYS_FILE).
PORTRAIT_KEYS_LINE=$(grep -s "^export PORTRAIT_KEYS=" .local/env || true)
if [ -z "$PORTRAIT_KEYS_LINE" ]; then
  PORTRAIT_KEYS_LINE="export PORTRAIT_KEYS='dev-$(date +%Y%m%d):$(head -c 32 /dev/urandom | base64 | tr -d '\n')'"
  log "generated a development portrait key"
fi

cat > .local/env <<ENV
export DATABASE_URL='$DATABASE_URL'
export DATABASE_OWNER_URL='$DATABASE_OWNER_URL'
export DATABASE_RELAY_URL='$DATABASE_RELAY_URL'
export REDIS_URL='$REDIS_URL'
$PORTRAIT_KEYS_LINE
ENV
chmod 600 .local/env
log "wrote .local/env"
