#!/bin/bash
# The official mariadb image's healthcheck.sh, for the tests it is used with:
#   healthcheck.sh [--su-mysql] [--connect] [--innodb_initialized] ...
# Each test runs in order; the first failing one fails the check. Connects
# as the healthcheck user the entrypoint created (datadir/.my-healthcheck.cnf).
set -eo pipefail

defaults=/var/lib/mysql/.my-healthcheck.cnf
query() {
    mariadb --defaults-extra-file="$defaults" --skip-column-names --batch -e "$1"
}

status=0
for arg in "$@"; do
    case "$arg" in
    --su-mysql | --no-defaults) ;;
    --connect)
        # Over TCP, as a client on the network would connect.
        mariadb --defaults-extra-file="$defaults" --protocol=tcp -h 127.0.0.1 -e 'SELECT 1' >/dev/null || status=1
        ;;
    --innodb_initialized)
        [ "$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES','DEFAULT','ENABLED')")" = 1 ] || status=1
        ;;
    *)
        echo "healthcheck.sh: $arg is not implemented by this test image" >&2
        exit 2
        ;;
    esac
    [ "$status" -eq 0 ] || exit "$status"
done
exit 0
