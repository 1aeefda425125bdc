#!/bin/bash
# A --check --diff run of a scenario's converge on its converged host: it must
# succeed and predict no change at all (`molecule check` would instead
# rebuild the host first).
#   check-mode.sh SCENARIO
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
molecule converge -s "$1" -- --check --diff 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || exit "$rc"
if grep -E '^\S+ +: ok=' "$out" | grep -vqE 'changed=0 '; then
    echo "check mode predicted changes on a converged host:" >&2
    grep -E '^\S+ +: ok=' "$out" >&2
    exit 1
fi
