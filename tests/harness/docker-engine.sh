#!/bin/sh
# Make sure a Docker engine answers on this machine.
#
# CI machines and fresh workstations may have only the docker client, or no
# Docker at all, and no systemd to start a service with. When `docker info`
# does not answer, install Debian's engine (docker.io) and start dockerd in the
# background, then wait for it. Needs root for the install and the start.
set -eu

if docker info >/dev/null 2>&1; then
    echo "docker engine: already answering"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker engine: installing docker.io from the distribution"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl start docker
else
    echo "docker engine: starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

i=0
until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge 60 ]; then
        echo "docker engine: dockerd did not answer within 60 s" >&2
        tail -20 /var/log/dockerd.log >&2 || true
        exit 1
    fi
    sleep 1
done
echo "docker engine: $(docker version --format '{{.Server.Version}}') answering"
