#!/bin/bash
# Run each Molecule scenario named, step by step, so that every step is a
# timed stage: the first converge and the idempotent re-run of each scenario
# show up with their own durations. Goes on after a failure, so one run
# reports every scenario, and always destroys the test hosts.
#   run-scenarios.sh SCENARIO...
# The same steps as `molecule test -s SCENARIO` (see .config/molecule/config.yml).
# Three lanes are not Molecule scenarios: `demo` is `make bench` (which runs
# `make demo` twice) as a newcomer runs it, then the site, exposure and
# disaster-recovery scenarios' checks on that one converged host
# (tests/harness/demo-step.sh); `pytest` is the unit layer (tests/), in
# two steps: all but the tests marked `images`, then those; `lint` is
# yamllint, ansible-lint, the syntax check of every playbook, and `make
# lock` and `make docs` changing nothing (`make lint` alone). Each runs
# beside the scenarios.
#
# MUSICSIM_JOBS=N runs N scenarios at a time (each on its own test host, with
# its own Docker engine), the next one starting as soon as one ends (the
# longest of those whose set-up is made, when `make test` makes it beside
# them: tests/harness/suite.sh); a scenario's output then goes to its step
# logs only, and a failing step's last lines are printed.
set -u -o pipefail
here=$(dirname "$0")
# Each step's output is kept, to read after a failure:
# $MUSICSIM_STEP_LOGS/SCENARIO/STEP.log (the tests read Ansible's own log of
# the plays, ANSIBLE_LOG_PATH in .config/molecule/config.yml).
export MUSICSIM_STEP_LOGS=${MUSICSIM_STEP_LOGS:-$PWD/.cache/molecule-logs}

# The steps of a scenario: those its molecule.yml lists under
# scenario.test_sequence (the destroys at both ends left to this script),
# else the usual ones, with side_effect when the scenario has one.
scenario_steps() {
    case $1 in
    demo) echo bench bad-change verify audit exposure backup disaster rebuild restore verify-restore upgrade verify-upgrade; return ;;
    pytest) echo unit images; return ;;
    lint) echo yamllint ansible-lint syntax-check lock docs; return ;;
    esac
    python3 - "$1" <<'PY'
import pathlib, sys
import yaml
scenario = sys.argv[1]
config = yaml.safe_load(pathlib.Path(f"molecule/{scenario}/molecule.yml").read_text()) or {}
steps = (config.get("scenario") or {}).get("test_sequence")
if steps:
    while steps and steps[0] == "destroy":
        steps = steps[1:]
    while steps and steps[-1] == "destroy":
        steps = steps[:-1]
else:
    steps = ["create", "prepare", "converge", "idempotence", "check", "verify"]
    if pathlib.Path(f"molecule/{scenario}/side_effect.yml").exists():
        steps.insert(-1, "side_effect")
print(" ".join(steps))
PY
}

# The test host and the disk that outlives it (.config/molecule/config.yml).
destroy_all() {
    case $1 in
    demo) "$here/demo-step.sh" destroy >/dev/null 2>&1; return ;;
    pytest | lint) return ;;
    esac
    molecule destroy -s "$1" >/dev/null 2>&1
    docker volume rm -f "musicsim-$1-outside" >/dev/null 2>&1
}

# What a lane's step needs of the set-up, when `make test` runs the lanes
# beside it (tests/harness/suite.sh): nothing (the linters); the bare
# Debian 13 host image (`host`: the unit tests); the other host images
# (`hosts`: the raspberry-pi scenario, on Debian 12); the service images
# (`images`: the unit tests of the proxy's modules against
# nginx-proxy-manager; the host scenario, which runs a container of the
# slim base); or the store the test hosts of the other scenarios and of the
# demo start from (`store`, last).
step_needs() {
    case $1:$2 in
    lint:*) ;;
    pytest:unit) echo host ;;
    pytest:images) echo images ;;
    raspberry-pi:*) echo hosts ;;
    host:*) echo host images ;;
    *) echo store ;;
    esac
}

# What a lane needs to start: what its first step needs.
lane_needs() {
    case $1 in
    pytest) step_needs pytest unit ;;
    *) step_needs "$1" create ;;
    esac
}

# ready PART...: 0 when each is made, 1 when one is not yet, 2 when one
# failed, or the set-up stopped without saying (its process is gone).
# Always 0 when the set-up is not running beside the lanes (`make
# molecule` built it all first).
ready() {
    local part
    [ -n "${MUSICSIM_SETUP_DIR:-}" ] || return 0
    for part in "$@"; do
        if [ ! -e "$MUSICSIM_SETUP_DIR/$part" ]; then
            kill -0 "${MUSICSIM_SETUP_PID:-0}" 2>/dev/null || return 2
            return 1
        fi
        [ "$(cat "$MUSICSIM_SETUP_DIR/$part")" = ok ] || return 2
    done
}

# Wait until the set-up has made what a step needs.
wait_setup() {
    local needs=$1 scenario=$2 state
    while :; do
        # shellcheck disable=SC2086 # the parts are words
        ready $needs
        state=$?
        [ "$state" -eq 1 ] || break
        sleep 5
    done
    [ "$state" -eq 0 ] && return 0
    echo "=== $scenario: not run: the set-up of what it needs ($needs) failed (see setup: above)"
    return 1
}

run_scenario() {
    local scenario=$1 step name log line failed=0
    local -a steps cmd
    local -A seen=()
    case $scenario in
    lint | pytest) ;;
    *) wait_setup "$(lane_needs "$scenario")" "$scenario" || return 1 ;;
    esac
    # A scenario whose host could not be built (Ubuntu's archive did not
    # answer) is skipped, by name and with the reason, not failed:
    # .cache/skip/SCENARIO says why.
    if [ -s ".cache/skip/$scenario" ]; then
        "$here/stage.sh" --skip "$scenario" "$(cat ".cache/skip/$scenario")"
        return 0
    fi
    # A scenario that installs Docker only to stand on it (its prepare.yml
    # imports prepare-docker-host.yml) starts from the image where that is
    # done already (tests/harness/docker-host-image.sh).
    if grep -qs 'prepare-docker-host\.yml' "molecule/$scenario/prepare.yml"; then
        local -x MUSICSIM_TEST_IMAGE=${MUSICSIM_DOCKER_HOST_IMAGE:-musicsim-test/debian13-docker:trixie}
    fi
    # The ubuntu scenario's host is Ubuntu 24.04 (make ubuntu-image).
    [ "$scenario" != ubuntu ] || local -x MUSICSIM_TEST_IMAGE=${MUSICSIM_UBUNTU_IMAGE:-musicsim-test/ubuntu2404:noble}
    rm -rf "${MUSICSIM_STEP_LOGS:?}/$scenario"
    mkdir -p "$MUSICSIM_STEP_LOGS/$scenario"
    destroy_all "$scenario"
    line=$(scenario_steps "$scenario") || return 1
    read -r -a steps <<<"$line"
    [ "${#steps[@]}" -gt 0 ] || return 1
    for step in "${steps[@]}"; do
        if [ "$scenario" = demo ]; then
            cmd=("$here/demo-step.sh" "$step")
        elif [ "$scenario" = pytest ]; then
            # The two parts of the unit tests run whatever the other's result.
            wait_setup "$(step_needs pytest "$step")" "$scenario:$step" || { failed=1; continue; }
            # unit: all but the tests marked `images`; images: those.
            if [ "$step" = unit ]; then
                cmd=(pytest -q -p no:cacheprovider -m "not images" tests)
            else
                cmd=(pytest -q -p no:cacheprovider -m images tests)
            fi
        elif [ "$scenario" = lint ]; then
            case $step in
            yamllint) cmd=(yamllint --strict .) ;;
            ansible-lint) cmd=(ansible-lint --profile production) ;;
            syntax-check) cmd=("$here/syntax-check.sh") ;;
            lock) cmd=("$here/lock-check.sh") ;;
            docs) cmd=("$here/docs-check.sh") ;;
            esac
        elif [ "$step" = check ]; then
            cmd=("$here/check-mode.sh" "$scenario")
        elif [ "$step" = side_effect ]; then
            cmd=(molecule side-effect -s "$scenario")
        else
            cmd=(molecule "$step" -s "$scenario")
        fi
        # A step that comes again (create after a destroy) is step.2.
        seen[$step]=$(( ${seen[$step]:-0} + 1 ))
        name=$step
        [ "${seen[$step]}" -eq 1 ] || name=$step.${seen[$step]}
        log=$MUSICSIM_STEP_LOGS/$scenario/$name.log
        if [ "${MUSICSIM_QUIET:-0}" = 1 ]; then
            if "$here/stage.sh" "$scenario:$name" "${cmd[@]}" >"$log" 2>&1; then
                tail -n 1 "$log"
                continue
            fi
            echo "=== $scenario:$name failed; the end of $log:"
            tail -n 80 "$log"
        elif "$here/stage.sh" "$scenario:$name" "${cmd[@]}" 2>&1 | tee "$log"; then
            continue
        fi
        # A failed step ends its scenario, but for the unit tests' two parts.
        failed=1
        [ "$scenario" = pytest ] || break
    done
    destroy_all "$scenario" || true
    return "$failed"
}

if [ "${1:-}" = --one ]; then
    run_scenario "$2"
    exit
fi

# Lanes, longest first by the sum of their stages' budgets
# (stage-budgets.tsv), so that the last to start are short and no lane is
# left running alone at the end.
by_length() {
    python3 - "$here/stage-budgets.tsv" "$@" <<'PY'
import collections, sys
budgets = collections.Counter()
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith("#"):
        stage, seconds = line.split()
        budgets[stage.split(":")[0]] += int(seconds)
print(" ".join(sorted(sys.argv[2:], key=lambda name: -budgets[name])))
PY
}

jobs=${MUSICSIM_JOBS:-1}
if [ "$jobs" -gt 1 ] && [ $# -gt 1 ]; then
    # MUSICSIM_JOBS lanes at a time, each in a process of its own. When one
    # ends, the longest lane whose first step can start now starts: beside
    # the set-up (suite.sh), those that need less of it run while it goes
    # on (a lane whose set-up failed starts, to say so). Non-zero when any
    # lane failed.
    read -r -a pending <<<"$(by_length "$@")"
    declare -A running=()
    rc=0
    while [ "${#pending[@]}" -gt 0 ] || [ "${#running[@]}" -gt 0 ]; do
        alive=$(jobs -rp)
        for pid in "${!running[@]}"; do
            grep -qx "$pid" <<<"$alive" && continue
            wait "$pid" || rc=1
            unset "running[$pid]"
        done
        started=
        if [ "${#running[@]}" -lt "$jobs" ]; then
            for i in "${!pending[@]}"; do
                lane=${pending[$i]}
                # shellcheck disable=SC2046 # the parts are words
                ready $(lane_needs "$lane")
                [ $? -ne 1 ] || continue
                MUSICSIM_QUIET=1 "$0" --one "$lane" &
                running[$!]=$lane
                unset "pending[$i]"
                pending=("${pending[@]}")
                started=1
                break
            done
        fi
        [ -n "$started" ] || sleep 2
    done
    exit "$rc"
fi

rc=0
for scenario in "$@"; do
    run_scenario "$scenario" || rc=1
done
exit "$rc"
