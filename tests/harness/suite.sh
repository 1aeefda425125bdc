#!/bin/bash
# `make test`: the set-up and every lane, each lane starting as soon as what
# it needs is made.
#   suite.sh LANE...     (the Makefile's SCENARIOS)
# The set-up runs in the background, in a process group of its own (stopped
# with the suite): the bare Debian 13 host image and the service images
# (with their slim bases) at once, then the other host images (Debian 13
# with Docker, Debian 12, Ubuntu 24.04), then the store the test hosts start
# from (tests/harness/image-store.sh). Each part, once made or failed, says
# so in a file of $MUSICSIM_SETUP_DIR. The lanes run at the same time,
# MUSICSIM_JOBS at a time (run-scenarios.sh): when one ends, the longest
# that can start does, and each step waits for what it needs
# (run-scenarios.sh's step_needs). The linters need only the toolchain; the
# unit tests need the bare host image, and their tests of the proxy's
# modules the nginx-proxy-manager images; the raspberry-pi scenario needs
# Debian 12's image, and the host scenario the bare one and the service
# images; the other scenarios and the demo need the store. So the linters,
# the unit tests and those two scenarios (about 45 minutes of lane on the
# 2-core test machine) can run while the images are built, no longer only
# after.
set -u -o pipefail
cd "$(dirname "$0")/../.."
here=tests/harness
stage=$here/stage.sh
# stage.sh runs a command, not a function.
build=(make --no-print-directory)

# tell PART ok|fail: what the waiting lanes read (written whole, then moved).
tell() {
    echo "$2" >"$MUSICSIM_SETUP_DIR/.$1" && mv "$MUSICSIM_SETUP_DIR/.$1" "$MUSICSIM_SETUP_DIR/$1"
}

# suite.sh --setup LANE...: the set-up alone (started below).
setup() {
    local rc=0 images hosts=(docker-host-image) lane
    # The host images only the scenarios that run on them need.
    for lane in "$@"; do
        case $lane in
        raspberry-pi) hosts+=(pi-image) ;;
        ubuntu) hosts+=(ubuntu-image) ;;
        esac
    done
    # A part that was never told (this shell stopped early) is a failure.
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

if [ "${1:-}" = --setup ]; then
    shift
    setup "$@"
    exit
fi

$stage setup:venv "${build[@]}" venv || exit 1
$stage setup:engine "${build[@]}" engine || exit 1

MUSICSIM_SETUP_DIR=$(mktemp -d /tmp/musicsim-setup.XXXXXX)
export MUSICSIM_SETUP_DIR
# A session of its own, so that stopping the suite (Ctrl-C) stops the
# builds too: a background job would ignore the terminal's interrupt, and
# go on building while another run starts.
setsid "$0" --setup "$@" &
MUSICSIM_SETUP_PID=$!
export MUSICSIM_SETUP_PID
trap 'kill -TERM -- "-$MUSICSIM_SETUP_PID" 2>/dev/null; rm -rf "$MUSICSIM_SETUP_DIR"' EXIT
trap 'exit 130' INT TERM

rc=0
"$here/run-scenarios.sh" "$@" || rc=1
wait "$MUSICSIM_SETUP_PID" || rc=1
exit "$rc"
