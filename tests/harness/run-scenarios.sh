#!/bin/bash
# Run each Molecule scenario named, step by step, so that every step is a
# timed stage: the first converge and the idempotent re-run of each scenario
# show up with their own durations. Goes on after a failure, so one run
# reports every scenario, and always destroys the test hosts.
#   run-scenarios.sh SCENARIO...
# The same steps as `molecule test -s SCENARIO` (see .config/molecule/config.yml).
set -u -o pipefail
here=$(dirname "$0")
# Each step's output is kept, so a scenario's tests can read what a play
# printed (that no secret is in it): $MUSICSIM_STEP_LOGS/SCENARIO/STEP.log
export MUSICSIM_STEP_LOGS=${MUSICSIM_STEP_LOGS:-$PWD/.cache/molecule-logs}
rc=0
for scenario in "$@"; do
    ok=1
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
        if ! "$here/stage.sh" "$scenario:$step" "${cmd[@]}" 2>&1 | tee "$MUSICSIM_STEP_LOGS/$scenario/$step.log"; then
            ok=0
            break
        fi
    done
    molecule destroy -s "$scenario" >/dev/null 2>&1 || true
    [ "$ok" -eq 1 ] || rc=1
done
exit "$rc"
