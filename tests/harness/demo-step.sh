#!/bin/bash
# The newcomer's path as a test lane, and the whole-site checks on the host
# it converges: the README's `make bench` (which rebuilds the demo host and
# runs `make demo` twice, timing site.yml), then the site, exposure and
# disaster-recovery scenarios' checks on that one converged host, then
# `make demo-destroy`. tests/harness/run-scenarios.sh runs it as the lane
# "demo", one timed stage per step:
#   bench        make bench: make demo-destroy, make demo (the demo host from
#                the test hosts' platform, prepared, site.yml through
#                inventories/local, the report), make demo again (every play
#                of it reports changed=0), a check-mode preview that
#                predicts nothing
#   bad-change   a change of the proxy that cannot start, which must leave
#                it serving as before (molecule/site/side_effect.yml)
#   verify       molecule/site/tests against the demo host, but the auditors
#   audit        lynis, ssh-audit and docker-bench-security on the demo host,
#                their figures held to the goals
#                (molecule/site/tests/test_auditors.py)
#   exposure     a LAN and an internet client linked to the demo host
#                (molecule/exposure/clients.yml), molecule/exposure/tests
#   backup       the site's data written through its services, backed up to
#                the demo host's outside disk and fingerprinted
#                (molecule/disaster-recovery/back-up.yml)
#   disaster     the demo host removed, its outside disk kept
#   rebuild      a new demo host under the same name, prepared; it starts
#                from the test host image with Docker installed
#                (docker-host-image.sh), which the tests need to load the
#                images into (no registry): playbooks/restore.yml runs the
#                docker role on it again, as on a bare machine, and the bench
#                step has shown that role installing the engine on a bare one
#   restore      playbooks/restore.yml, timed until every container is
#                healthy, and the data fingerprinted again
#                (molecule/disaster-recovery/side_effect.yml)
#   verify-restore  molecule/disaster-recovery/tests: nothing lost
#   upgrade      on the restored host, playbooks/upgrade.yml with a backup
#                that fails (nothing may change), to a megapi version that
#                damages its data and fails, which must be rolled back, then
#                to one that works with nginx-proxy-manager 2.15.1, the data
#                fingerprinted after each (molecule/upgrade/side_effect.yml)
#   verify-upgrade  molecule/upgrade/tests: nothing done without a backup,
#                the rollback, the proxy's upgrade, the data as before
#   destroy      make demo-destroy
# The make commands run at -vvv with every play's output kept by Ansible
# (ANSIBLE_LOG_PATH), as in the site scenario: its tests look for the
# vault's values there.
#   demo-step.sh STEP
set -u -o pipefail
logs=${MUSICSIM_STEP_LOGS:-$PWD/.cache/molecule-logs}/demo
mkdir -p "$logs"
export ANSIBLE_LOG_PATH=$logs/plays.log

# The site scenario's tests and the others', against the demo host. They
# read the plays' log; their own Ansible calls (testinfra reads the
# inventory, every variable of it) are kept out of it.
testinfra() {
    MUSICSIM_PLAYS_LOG=$ANSIBLE_LOG_PATH ANSIBLE_LOG_PATH=/dev/null pytest -v -p no:cacheprovider --connection=ansible --ansible-inventory=inventories/local/hosts.yml \
        --hosts=musicsim-demo "$@"
}

case ${1:-} in
bench)
    ANSIBLE_VERBOSITY=3 make --no-print-directory bench
    ;;
bad-change)
    ansible-playbook -i inventories/local molecule/site/side_effect.yml
    ;;
verify)
    testinfra molecule/site/tests --ignore=molecule/site/tests/test_auditors.py
    ;;
audit)
    MUSICSIM_FIGURES_STAGE=demo:audit testinfra molecule/site/tests/test_auditors.py
    ;;
exposure)
    ansible-playbook -i inventories/local molecule/exposure/clients.yml && testinfra -s molecule/exposure/tests
    ;;
backup)
    ansible-playbook -i inventories/local molecule/disaster-recovery/back-up.yml
    ;;
disaster)
    ansible-playbook playbooks/demo-host.yml -e demo_host_state=absent -e demo_host_keep_outside=true
    ;;
rebuild)
    MUSICSIM_TEST_IMAGE=${MUSICSIM_DOCKER_HOST_IMAGE:-musicsim-test/debian13-docker:trixie} \
        ansible-playbook playbooks/demo-host.yml &&
        ansible-playbook -i inventories/local tests/harness/prepare-site-host.yml
    ;;
restore)
    ansible-playbook -i inventories/local molecule/disaster-recovery/side_effect.yml
    ;;
verify-restore)
    testinfra -s molecule/disaster-recovery/tests
    ;;
upgrade)
    ansible-playbook -i inventories/local molecule/upgrade/side_effect.yml
    ;;
verify-upgrade)
    testinfra -s molecule/upgrade/tests
    ;;
destroy)
    make --no-print-directory demo-destroy
    ;;
*)
    echo "usage: $0 bench|bad-change|verify|audit|exposure|backup|disaster|rebuild|restore|verify-restore|upgrade|verify-upgrade|destroy" >&2
    exit 2
    ;;
esac
