#!/bin/bash
# The service images, loaded once into a Docker engine's store that new test
# hosts start from, instead of each loading them again (tests/harness/
# load-images.yml: a minute and more per host, every scenario and the demo's
# new hosts).
#   image-store.sh build            make or refresh the store (`make image-store`)
#   image-store.sh fill HOST TAG... fill HOST's new, empty engine from it,
#                                   keeping only the images TAG...
# The store is a volume of this machine's engine (musicsim-image-store): the
# /var/lib/docker of a test host made from the Docker host image
# (docker-host-image.sh), every image of tests/images/images.yml loaded,
# the engine stopped cleanly. `fill` stops HOST's engine, puts the store's
# image metadata in its /var/lib/docker and hard links to the store's layer
# files, starts the engine again and removes the images HOST is not given:
# what a registry would have delivered, in seconds. The engine only ever
# reads the files of an image's layers (a container's changes go to a layer
# of its own, a removed image's files are unlinked), so the hard links never
# change the store. Exit status 3: HOST's engine is not new, there is no
# current store, or its files are not on the same file system as HOST's;
# load-images.yml then loads the images as before.
set -eu -o pipefail
cd "$(dirname "$0")/../.."
volume=musicsim-image-store
builder=musicsim-image-store-builder
host_image=${MUSICSIM_DOCKER_HOST_IMAGE:-musicsim-test/debian13-docker:trixie}

# Every image of the manifest, by tag, and the base a role builds on.
tags() {
    python3 -c 'import sys, yaml; [print(t) for i in yaml.safe_load(open(sys.argv[1]))["images"].values() for t in (i["tag"], i.get("build_base")) if t]' \
        tests/images/images.yml
}

# What the store holds: the Docker host image and every image, by ID, and
# this script.
recipe() {
    { docker image inspect --format '{{.Id}}' "$host_image" $(tags); cat "$0"; } | sha256sum | cut -c1-16
}

# The directory inside /var/lib/docker of a container's engine, on this machine.
engine_dir() {
    docker inspect --format '{{range .Mounts}}{{if eq .Destination "/var/lib/docker"}}{{.Source}}{{end}}{{end}}' "$1"
}

# Copy an engine's image store (image/, overlay2/) from $1 to $2: the
# metadata copied, each layer's files (overlay2/ID/diff) hard linked.
copy_store() {
    local from=$1 to=$2 layer part
    rm -rf "${to:?}/image" "$to/overlay2"
    cp -a "$from/image" "$to/"
    mkdir "$to/overlay2"
    for layer in "$from"/overlay2/*; do
        if [ "$(basename "$layer")" = l ]; then
            cp -a "$layer" "$to/overlay2/"
            continue
        fi
        mkdir "$to/overlay2/$(basename "$layer")"
        for part in "$layer"/* "$layer"/.[!.]*; do
            [ -e "$part" ] || continue
            if [ "$(basename "$part")" = diff ]; then
                cp -al "$part" "$to/overlay2/$(basename "$layer")/"
            else
                cp -a "$part" "$to/overlay2/$(basename "$layer")/"
            fi
        done
    done
}

wait_engine() {
    local i
    for i in $(seq 60); do
        docker exec "$1" docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "the engine of $1 did not start" >&2
    return 1
}

log=
build() {
    local hash current start store
    hash=$(recipe)
    current=$(docker volume inspect --format '{{index .Labels "org.musicsim.recipe"}}' "$volume" 2>/dev/null || true)
    if [ "$current" = "$hash" ]; then
        echo "image store: $volume is up to date (recipe $hash)"
        return 0
    fi
    start=$(date +%s)
    log=$(mktemp /var/tmp/musicsim-image-store.XXXXXX)
    remove_builder() {
        ansible-playbook playbooks/demo-host.yml -e demo_host_name="$builder" -e demo_host_state=absent >>"$log" 2>&1
    }
    trap 'remove_builder; rm -f "$log"' EXIT
    remove_builder
    docker volume rm -f "$volume" >/dev/null
    # The builder is a test host like any other (playbooks/demo-host.yml
    # reads their platform), from the Docker host image.
    if ! ansible-playbook playbooks/demo-host.yml -e demo_host_name="$builder" -e demo_host_image="$host_image" \
        >>"$log" 2>&1 || ! wait_engine "$builder" 2>>"$log"; then
        tail -40 "$log" >&2
        exit 1
    fi
    # One pipe for all of them: the layers they share cross once.
    # shellcheck disable=SC2046
    docker save $(tags) | docker exec -i "$builder" docker load >>"$log"
    docker exec "$builder" systemctl stop docker.socket docker.service
    docker volume create --label "org.musicsim.recipe=$hash" "$volume" >/dev/null
    store=$(docker volume inspect --format '{{.Mountpoint}}' "$volume")
    copy_store "$(engine_dir "$builder")" "$store"
    echo "image store: built $volume (recipe $hash, $(du -sh "$store" | cut -f1)) in $(($(date +%s) - start)) s"
}

fill() {
    local host=$1 store dir keep unwanted
    shift
    if [ "$(docker volume inspect --format '{{index .Labels "org.musicsim.recipe"}}' "$volume" 2>/dev/null)" != "$(recipe)" ]; then
        echo "no current image store ($volume): run make image-store"
        exit 3
    fi
    store=$(docker volume inspect --format '{{.Mountpoint}}' "$volume")
    dir=$(engine_dir "$host")
    if [ -z "$dir" ] || [ ! -d "$dir/overlay2" ] || [ "$(stat -c %d "$dir")" != "$(stat -c %d "$store")" ]; then
        echo "the engine of $host keeps its images where this machine cannot link to them"
        exit 3
    fi
    if [ -n "$(docker exec "$host" docker ps -aq)" ] || [ -n "$(docker exec "$host" docker images -q)" ]; then
        echo "the engine of $host is not new: it has images or containers"
        exit 3
    fi
    docker exec "$host" systemctl stop docker.socket docker.service
    copy_store "$store" "$dir"
    docker exec "$host" systemctl start docker.service
    wait_engine "$host"
    keep=$(printf '%s\n' "$@")
    unwanted=$(tags | grep -vxF -- "$keep" || true)
    # shellcheck disable=SC2086
    [ -z "$unwanted" ] || docker exec "$host" docker image rm $unwanted >/dev/null
    echo "filled the engine of $host from $volume: $*"
}

case ${1:-} in
build) build ;;
fill) [ $# -ge 3 ] || { echo "usage: $0 fill HOST TAG..." >&2; exit 2; }; shift; fill "$@" ;;
*) echo "usage: $0 build | fill HOST TAG..." >&2; exit 2 ;;
esac
