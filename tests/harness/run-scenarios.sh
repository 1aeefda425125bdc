#!/bin/bash
# Run each Molecule scenario named, step by step, so that every step is a
# timed stage: the first converge and the idempotent re-run of each scenario
# show up with their own durations. Goes on after a failure, so one run
# reports every scenario, and always destroys the test hosts.
#   run-scenarios.sh SCENARIO...
# The same steps as `molecule test -s SCENARIO` (see .config/molecule/config.yml).
#
# MUSICSIM_JOBS=N runs N scenarios at a time (each on its own test host, with
# its own Docker engine), the next one starting as soon as one ends; a
# scenario's output then goes to its step logs only, and a failing step's
# last lines are printed.
set -u -o pipefail
here=$(dirname "$0")
# Each step's output is kept, so a scenario's tests can read what a play
# printed (that no secret is in it): $MUSICSIM_STEP_LOGS/SCENARIO/STEP.log
export MUSICSIM_STEP_LOGS=${MUSICSIM_STEP_LOGS:-$PWD/.cache/molecule-logs}

run_scenario() {
    local scenario=$1 step log
    local -a steps cmd
    rm -rf "${MUSICSIM_STEP_LOGS:?}/$scenario"
    mkdir -p "$MUSICSIM_STEP_LOGS/$scenario"
    molecule destroy -s "$scenario" >/dev/null 2>&1
    steps=(create prepare converge idempotence check verify)
    # A scenario with a side effect (a change made after the checks of the
    # converged host) runs it before verify, as `molecule test` does.
    if [ -f "molecule/$scenario/side_effect.yml" ]; then
        steps=(create prepare converge idempotence check side_effect verify)
    fi
    for step in "${steps[@]}"; do
        if [ "$step" = check ]; then
            cmd=("$here/check-mode.sh" "$scenario")
        elif [ "$step" = side_effect ]; then
            cmd=(molecule side-effect -s "$scenario")
        else
            cmd=(molecule "$step" -s "$scenario")
        fi
        log=$MUSICSIM_STEP_LOGS/$scenario/$step.log
        if [ "${MUSICSIM_QUIET:-0}" = 1 ]; then
            if "$here/stage.sh" "$scenario:$step" "${cmd[@]}" >"$log" 2>&1; then
                tail -n 1 "$log"
            else
                echo "=== $scenario:$step failed; the end of $log:"
                tail -n 80 "$log"
                molecule destroy -s "$scenario" >/dev/null 2>&1 || true
                return 1
            fi
        elif ! "$here/stage.sh" "$scenario:$step" "${cmd[@]}" 2>&1 | tee "$log"; then
            molecule destroy -s "$scenario" >/dev/null 2>&1 || true
            return 1
        fi
    done
    molecule destroy -s "$scenario" >/dev/null 2>&1 || true
}

if [ "${1:-}" = --one ]; then
    run_scenario "$2"
    exit
fi

jobs=${MUSICSIM_JOBS:-1}
if [ "$jobs" -gt 1 ] && [ $# -gt 1 ]; then
    # xargs starts the next scenario when one ends, and exits non-zero when
    # any of them failed.
    printf '%s\n' "$@" | MUSICSIM_QUIET=1 xargs -P "$jobs" -n 1 "$0" --one
    exit
fi

rc=0
for scenario in "$@"; do
    run_scenario "$scenario" || rc=1
done
exit "$rc"
