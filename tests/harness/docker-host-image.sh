#!/bin/bash
# The test host image with Docker installed (musicsim-test/debian13-docker):
# a host from the bare test image, prepared by prepare-docker-host.yml (the
# docker role itself), then committed. tests/harness/run-scenarios.sh starts
# from it every scenario whose prepare.yml imports prepare-docker-host.yml,
# which then finds the engine installed instead of installing it again
# (about 30 s a scenario, nine scenarios). `molecule test -s X` alone starts
# from the bare image and installs it.
#
# The image carries a label with the hash of its recipe (the bare image, this
# script, the playbooks and the docker role): while that is unchanged an
# existing image is reused.
set -eu -o pipefail
cd "$(dirname "$0")/../.."
base=${MUSICSIM_TEST_IMAGE:-musicsim-test/debian13:trixie}
image=${MUSICSIM_DOCKER_HOST_IMAGE:-musicsim-test/debian13-docker:trixie}
builder=musicsim-docker-host-image

hash=$({
    docker image inspect --format '{{.Id}}' "$base"
    cat "$0" tests/harness/prepare-test-host.yml tests/harness/prepare-docker-host.yml
    find roles/docker -type f | LC_ALL=C sort | xargs cat
} | sha256sum | cut -c1-16)
current=$(docker image inspect --format '{{index .Config.Labels "org.musicsim.recipe"}}' "$image" 2>/dev/null || true)
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
    echo "docker host image: $image is up to date (recipe $hash)"
    exit 0
fi

start=$(date +%s)
log=$(mktemp /var/tmp/musicsim-docker-host.XXXXXX)
remove_builder() {
    ansible-playbook playbooks/demo-host.yml -e demo_host_name="$builder" -e demo_host_state=absent >>"$log" 2>&1
}
trap 'remove_builder; rm -f "$log"' EXIT
# The builder is a test host like any other (playbooks/demo-host.yml reads
# their platform), under its own name.
if ! ansible-playbook playbooks/demo-host.yml -e demo_host_name="$builder" -e demo_host_image="$base" >>"$log" 2>&1 ||
    ! ansible-playbook -i "$builder," -c community.docker.docker tests/harness/prepare-docker-host.yml >>"$log" 2>&1; then
    tail -40 "$log" >&2
    exit 1
fi
# Without the downloaded packages (200 MB), stopped so that systemd shuts
# down cleanly, and with the machine ID systemd wrote at boot emptied, so
# that every host made from the image gets its own.
docker exec "$builder" apt-get clean
docker stop "$builder" >/dev/null
empty=$(mktemp)
chmod 0644 "$empty"
docker cp "$empty" "$builder:/etc/machine-id"
rm -f "$empty"
docker commit --change "LABEL org.musicsim.recipe=$hash" "$builder" "$image" >/dev/null
# The image it replaces, unless a container still runs from it.
[ -z "$previous" ] || docker image rm "$previous" >/dev/null 2>&1 || true
echo "docker host image: built $image (recipe $hash) in $(($(date +%s) - start)) s"
