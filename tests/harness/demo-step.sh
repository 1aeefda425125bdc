#!/bin/bash
# The newcomer's path as a test lane: the README's `make bench` (which
# rebuilds the demo host with `make demo` and times site.yml), `make demo`
# again, the site scenario's tests against the demo host, then `make
# demo-destroy`. tests/harness/run-scenarios.sh runs it as the lane "demo",
# one timed stage per step:
#   bench        make bench: make demo-destroy, make demo (the demo host from
#                the test hosts' platform, prepared, site.yml through
#                inventories/local, the report), a site.yml re-run that
#                changes nothing, a check-mode preview that predicts nothing
#   idempotence  make demo again: every play of it reports changed=0
#   verify       molecule/site/tests against the demo host
#   destroy      make demo-destroy
# Every play runs at -vvv with its output kept by Ansible (ANSIBLE_LOG_PATH),
# as in the site scenario: its tests look for the vault's values there.
#   demo-step.sh STEP
set -u -o pipefail
logs=${MUSICSIM_STEP_LOGS:-$PWD/.cache/molecule-logs}/demo
mkdir -p "$logs"
export ANSIBLE_LOG_PATH=$logs/plays.log

# Each play recap of the output on stdin says changed=0 (and there is one).
no_change() {
    local out
    out=$(tee /dev/stderr | grep -E '^\S+ +: ok=') || { echo "no play recap in the output" >&2; return 1; }
    if grep -vqE 'changed=0 ' <<<"$out"; then
        echo "a play changed something:" >&2
        echo "$out" >&2
        return 1
    fi
}

case ${1:-} in
bench)
    ANSIBLE_VERBOSITY=3 make --no-print-directory bench
    ;;
idempotence)
    ANSIBLE_VERBOSITY=3 make --no-print-directory demo 2>&1 | no_change
    ;;
verify)
    pytest -v -p no:cacheprovider --connection=ansible --ansible-inventory=inventories/local/hosts.yml \
        --hosts=musicsim-demo molecule/site/tests
    ;;
destroy)
    make --no-print-directory demo-destroy
    ;;
*)
    echo "usage: $0 bench|idempotence|verify|destroy" >&2
    exit 2
    ;;
esac
