#!/usr/bin/env bash
# Entrypoint of dify-conformance/postgres (and pgvector), honouring the official
# postgres image's contract:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user),
#   PGDATA (default /var/lib/postgresql/data), POSTGRES_INITDB_ARGS,
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), /docker-entrypoint-initdb.d/*.sh|*.sql.
# On first start (PGDATA empty) it creates the cluster, sets the password,
# allows password logins from anywhere and creates POSTGRES_DB. The server then
# runs in the foreground as `postgres`, listening on all interfaces.
set -Eeuo pipefail

log() { echo "postgres-entrypoint: $*" >&2; }

# `docker run IMAGE -c key=value` means `postgres -c key=value`.
if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

if [ "$(id -u)" = 0 ]; then
  # Bind mounts arrive root-owned: hand PGDATA and the socket dir to postgres, then drop root.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  find "$PGDATA" ! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

init_cluster() {
  local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    log "database is uninitialised and POSTGRES_PASSWORD is not set;"
    log "set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow logins without one)"
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"

  log "initialising a new cluster in $PGDATA"
  local pw=() pwfile
  pwfile=$(umask 077; mktemp)
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    pw=(--pwfile="$pwfile")
  fi
  # Local socket and loopback stay trusted (as upstream); everything else needs a password.
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list on purpose
  initdb --username="$POSTGRES_USER" "${pw[@]}" --auth-local=trust --auth-host=trust \
    -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf '\n# added by docker-entrypoint.sh\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  printf "\n# added by docker-entrypoint.sh\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # A private server (socket only) for the set-up steps.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")
  if [ "$POSTGRES_DB" != postgres ]; then
    # psql quotes the name itself (:"db"), so any name is safe.
    "${psql[@]}" --dbname postgres -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    log "created database $POSTGRES_DB"
  fi
  local f
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        log "running $f"
        # shellcheck disable=SC1090 # init scripts are the user's
        if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)
        log "running $f"
        "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  log "initialisation done; starting the server"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
fi

exec "$@"
