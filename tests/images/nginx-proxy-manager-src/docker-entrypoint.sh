#!/bin/sh
# What the official image's start scripts (docker/rootfs/etc/s6-overlay)
# do for a container run as root with the default PUID 0: the npm user
# nginx.conf names, the paths under /data, the resolvers nginx uses, IPv6
# off when DISABLE_IPV6 is true; then nginx and the backend. The container
# stops when either stops (the official image restarts the backend in a
# loop; here Docker's restart policy does).
set -eu

id -u npm >/dev/null 2>&1 || useradd -o -u 0 -U -d /tmp/npmuserhome -s /bin/false npm
[ -d /data ] && [ -d /etc/letsencrypt ] || { echo "/data and /etc/letsencrypt must be mounted" >&2; exit 1; }
mkdir -p /tmp/npmuserhome /data/nginx /data/custom_ssl /data/logs /data/access \
    /data/nginx/default_host /data/nginx/default_www /data/nginx/proxy_host \
    /data/nginx/redirection_host /data/nginx/stream /data/nginx/dead_host \
    /data/nginx/temp /data/letsencrypt-acme-challenge /run/nginx /tmp/nginx/body \
    /var/log/nginx /var/lib/nginx/cache/public /var/lib/nginx/cache/private \
    /var/cache/nginx/proxy_temp

case "${DISABLE_IPV6:-false}" in
    true | yes | on | 1) ipv6=" ipv6=off"; sed_regex='s/^([^#]*)listen \[::\]/\1#listen [::]/g' ;;
    *) ipv6=""; sed_regex='s/^(\s*)#listen \[::\]/\1listen [::]/g' ;;
esac
echo "resolver $(awk 'BEGIN{ORS=" "} $1=="nameserver" {sub(/%.*$/,"",$2); print ($2 ~ ":")? "["$2"]": $2}' /etc/resolv.conf)${ipv6} valid=10s;" \
    > /etc/nginx/conf.d/include/resolvers.conf
find /etc/nginx/conf.d /data/nginx -type f -name '*.conf' -exec sed -E -i "$sed_regex" {} +

nginx &
nginx_pid=$!
cd /app
node --abort_on_uncaught_exception --max_old_space_size=250 index.js &
backend_pid=$!
stopping=0
trap 'stopping=1; kill -TERM "$nginx_pid" "$backend_pid" 2>/dev/null' TERM INT
# Whichever stops first stops the container.
while kill -0 "$nginx_pid" 2>/dev/null && kill -0 "$backend_pid" 2>/dev/null; do
    sleep 2
done
kill -TERM "$nginx_pid" "$backend_pid" 2>/dev/null || true
wait || true
[ "$stopping" = 1 ]
