#!/bin/bash
# `make test`: the set-up and every lane, each lane starting as soon as what
# it needs is there.
#   suite.sh LANE...     (the Makefile's SCENARIOS)
# The set-up runs in the background: the bare Debian 13 host image and the
# service images (with their slim bases) at once, then the other host images
# (Debian 13 with Docker, Debian 12, Ubuntu 24.04), then the store the test
# hosts start from (tests/harness/image-store.sh). Each part, once made or
# failed, says so in a file of $MUSICSIM_SETUP_DIR. The lanes start at the
# same time (run-scenarios.sh, MUSICSIM_JOBS at a time), and each step waits
# for what it needs (run-scenarios.sh's step_needs): the linters need only
# the toolchain; the unit tests need the bare host image; the unit tests of
# the proxy's modules need the nginx-proxy-manager images; the scenarios of
# the machine itself (raspberry-pi, host, ubuntu) need the host images, and
# the last two the service images; the other scenarios and the demo need
# the store. So the linters, the unit tests and those three scenarios
# (about 55 minutes of lane on the 2-core test machine) can start while the
# images are built (about 19 minutes there, much of it spent waiting on
# the mirrors and registries), no longer only after.
set -u -o pipefail
cd "$(dirname "$0")/../.."
here=tests/harness
stage=$here/stage.sh
# stage.sh runs a command, not a function.
build=(make --no-print-directory)

$stage setup:venv "${build[@]}" venv || exit 1
$stage setup:engine "${build[@]}" engine || exit 1

MUSICSIM_SETUP_DIR=$(mktemp -d /tmp/musicsim-setup.XXXXXX)
export MUSICSIM_SETUP_DIR
trap 'rm -rf "$MUSICSIM_SETUP_DIR"' EXIT

# tell PART ok|fail: what the waiting lanes read (written whole, then moved).
tell() {
    echo "$2" >"$MUSICSIM_SETUP_DIR/.$1" && mv "$MUSICSIM_SETUP_DIR/.$1" "$MUSICSIM_SETUP_DIR/$1"
}

# The host images only the scenarios that run on them need.
hosts=(docker-host-image)
for lane in "$@"; do
    case $lane in
    raspberry-pi) hosts+=(pi-image) ;;
    ubuntu) hosts+=(ubuntu-image) ;;
    esac
done

setup() {
    local rc=0 images
    # A part that was never told (this shell stopped early) is a failure:
    # no lane waits for ever.
    trap 'for part in host hosts images store; do [ -e "$MUSICSIM_SETUP_DIR/$part" ] || tell "$part" fail; done' EXIT
    $stage setup:images "${build[@]}" images &
    images=$!
    if $stage setup:image "${build[@]}" image; then tell host ok; else tell host fail; rc=1; fi
    # They mostly wait on the mirrors: at once (the one with Docker is made
    # from the bare one).
    if [ "$rc" -eq 0 ] && $stage setup:hosts "${build[@]}" -j3 --output-sync=target "${hosts[@]}"; then
        tell hosts ok
    else
        tell hosts fail
        rc=1
    fi
    if wait "$images"; then tell images ok; else tell images fail; rc=1; fi
    if [ "$rc" -eq 0 ] && $stage setup:store "${build[@]}" image-store; then tell store ok; else tell store fail; rc=1; fi
    return "$rc"
}

setup &
setup_pid=$!
rc=0
"$here/run-scenarios.sh" "$@" || rc=1
wait "$setup_pid" || rc=1
exit "$rc"
