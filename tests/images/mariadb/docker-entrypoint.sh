#!/bin/bash
# The official mariadb image's contract, for Debian's MariaDB:
# - MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
#   MARIADB_RANDOM_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER,
#   MARIADB_PASSWORD; the MYSQL_* names as aliases; a *_FILE variant of each;
# - on the first start only (empty datadir): create root@'%', the database and
#   the user with all rights on it, a healthcheck user (socket and loopback) for
#   healthcheck.sh, then run /docker-entrypoint-initdb.d (*.sh, *.sql,
#   *.sql.gz) in name order;
# - `docker run IMAGE --flag` passes flags to mariadbd.
set -Eeo pipefail

# Reads MARIADB_X, else MYSQL_X, else the file named by MARIADB_X_FILE or
# MYSQL_X_FILE; exports MARIADB_X.
env_var() {
    local name=$1 value=""
    for var in "MARIADB_$name" "MYSQL_$name"; do
        if [ -n "${!var:-}" ]; then value=${!var}; break; fi
        local file_var="${var}_FILE"
        if [ -n "${!file_var:-}" ]; then value=$(<"${!file_var}"); break; fi
    done
    export "MARIADB_$name"="$value"
}

if [ "${1:0:1}" = '-' ]; then
    set -- mariadbd "$@"
fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

# Started as root: the official entrypoint's ownership fix (the data
# directory, and the socket's directory, which may be a fresh tmpfs), then
# this script again as mysql.
if [ "$1" = mariadbd ] && [ "$(id -u)" = 0 ]; then
    find "$datadir" \! -user mysql -exec chown mysql:mysql '{}' +
    find "${socket%/*}" -maxdepth 0 \! -user mysql -exec chown mysql:mysql '{}' \;
    exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

if [ "$1" = mariadbd ] && [ ! -d "$datadir/mysql" ]; then
    for name in ROOT_PASSWORD ALLOW_EMPTY_ROOT_PASSWORD RANDOM_ROOT_PASSWORD \
        ROOT_HOST DATABASE USER PASSWORD; do
        env_var "$name"
    done
    if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
        && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
        echo "error: database is uninitialized and password option is not specified" >&2
        echo "  You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD" >&2
        exit 1
    fi
    if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
        MARIADB_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64)
        echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
    fi
    root_host=${MARIADB_ROOT_HOST:-%}

    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    mariadbd --skip-networking --socket="$socket" --datadir="$datadir" &
    pid=$!
    for _ in $(seq 60); do
        mariadb --protocol=socket --socket="$socket" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 1
    done

    # SQL string literal: backslashes and single quotes escaped.
    sql_escape() { sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" <<<"$1"; }
    root_pw=$(sql_escape "$MARIADB_ROOT_PASSWORD")
    health_pw=$(head -c 24 /dev/urandom | base64)
    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DELETE FROM mysql.user WHERE user='' OR (user='root' AND host NOT IN ('localhost'));"
        echo "DELETE FROM mysql.proxies_priv WHERE host NOT IN ('localhost');"
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER 'root'@'$root_host' IDENTIFIED BY '$root_pw';"
            echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
        fi
        # Socket and TCP (127.0.0.1, ::1): names are not resolved here.
        for host in localhost 127.0.0.1 ::1; do
            echo "CREATE USER 'healthcheck'@'$host' IDENTIFIED BY '$health_pw';"
        done
        if [ -n "$MARIADB_DATABASE" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
        fi
        if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
            echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
            if [ -n "$MARIADB_DATABASE" ]; then
                echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --protocol=socket --socket="$socket" -uroot
    # healthcheck.sh reads these credentials, as in the official image.
    printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
        "$socket" "$health_pw" >"$datadir/.my-healthcheck.cnf"
    chmod 0600 "$datadir/.my-healthcheck.cnf"

    client=(mariadb --protocol=socket --socket="$socket" -uroot "-p$MARIADB_ROOT_PASSWORD")
    if [ -n "$MARIADB_DATABASE" ]; then client+=("$MARIADB_DATABASE"); fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
        *.sql) echo "$0: running $f"; "${client[@]}" <"$f" ;;
        *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${client[@]}" ;;
        *) if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
        esac
    done
    kill "$pid"
    wait "$pid"
    echo "MariaDB init process done. Ready for start up."
fi

exec "$@"
