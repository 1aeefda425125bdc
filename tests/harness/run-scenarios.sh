#!/bin/bash
# Run each Molecule scenario named, step by step, so that every step is a
# timed stage: the first converge and the idempotent re-run of each scenario
# show up with their own durations. Goes on after a failure, so one run
# reports every scenario, and always destroys the test hosts.
#   run-scenarios.sh SCENARIO...
# The same steps as `molecule test -s SCENARIO` (see .config/molecule/config.yml).
set -u
here=$(dirname "$0")
rc=0
for scenario in "$@"; do
    ok=1
    molecule destroy -s "$scenario" >/dev/null 2>&1
    for step in create prepare converge idempotence check verify; do
        if [ "$step" = check ]; then
            cmd=("$here/check-mode.sh" "$scenario")
        else
            cmd=(molecule "$step" -s "$scenario")
        fi
        if ! "$here/stage.sh" "$scenario:$step" "${cmd[@]}"; then
            ok=0
            break
        fi
    done
    molecule destroy -s "$scenario" >/dev/null 2>&1 || true
    [ "$ok" -eq 1 ] || rc=1
done
exit "$rc"
