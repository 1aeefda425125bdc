#!/bin/bash
# The official postgres image's contract, for Debian's PostgreSQL:
# - POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#   POSTGRES_USER (default postgres), POSTGRES_DB (default: the user),
#   POSTGRES_INITDB_ARGS, and a *_FILE variant of each;
# - on the first start only (empty PGDATA): initdb, then the scripts in
#   /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz) in name order;
# - listens on all addresses, password (scram-sha-256) login from anywhere;
# - `docker run IMAGE -c key=value` passes flags to postgres.
set -Eeo pipefail

# VAR_FILE names a file that holds VAR's value (Docker secrets).
file_env() {
    local var=$1 default=${2:-} file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo "error: both $var and $file_var are set" >&2
        exit 1
    fi
    local value=$default
    if [ -n "${!var:-}" ]; then
        value=${!var}
    elif [ -n "${!file_var:-}" ]; then
        value=$(<"${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

# Started as root: the official entrypoint's docker_create_db_directories,
# then this script again as postgres. The socket directory may be a fresh
# tmpfs (a read-only root); walking a data directory postgres owns (0700)
# needs DAC_OVERRIDE, the chown CHOWN, the switch SETUID and SETGID: a
# container that drops them fails here as it would with the official image.
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" || :
    mkdir -p /var/run/postgresql || :
    chmod 03775 /var/run/postgresql || :
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        echo "error: database is uninitialized and superuser password is not specified." >&2
        echo "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)." >&2
        exit 1
    fi

    # As the official image: initdb's own default, trust on the socket and
    # on the loopback addresses; a password from everywhere else.
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=trust $POSTGRES_INITDB_ARGS
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # A server on the socket only, for the database and the init scripts.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start
    export PGUSER=$POSTGRES_USER PGHOST=/var/run/postgresql
    psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB")
    if [ "$POSTGRES_DB" != postgres ]; then
        # (psql substitutes :"db" in its input, not in -c commands)
        psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres --set db="$POSTGRES_DB" \
            <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sh)
            echo "$0: running $f"
            if [ -x "$f" ]; then "$f"; else . "$f"; fi
            ;;
        *.sql) echo "$0: running $f"; "${psql[@]}" -f "$f" ;;
        *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql[@]}" ;;
        *) if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGUSER PGHOST
    echo "PostgreSQL init process complete; ready for start up."
fi

if [ "$1" = postgres ]; then
    set -- "$@" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
fi
exec "$@"
