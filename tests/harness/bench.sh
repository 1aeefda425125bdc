#!/bin/bash
# `make bench`: how long site.yml takes on this machine, on the demo host.
# Rebuilds the demo host from scratch (make demo-destroy), then runs
# `make demo` twice, as a newcomer would, with site.yml timed each time: the
# first converge (Docker and the service images already loaded, as on any
# test host), then the re-run, where every play of `make demo` must change
# nothing and write no file the roles read first as already right; then a
# --check --diff preview (it must predict no change). Prints the three
# durations, the tasks of the re-run and the seconds per task. A
# benchmark, not a timed test: nothing fails for being slow. Leaves the demo
# host converged.
set -u -o pipefail
cd "$(dirname "$0")/../.."
here=tests/harness
out=${MUSICSIM_BENCH_DIR:-$PWD/.cache/bench}
rm -rf "$out"
mkdir -p "$out"
export MUSICSIM_STAGES=$out/timings.tsv

# The play recaps of the output on stdin say changed=0 (and there is one).
no_change() {
    local recap
    recap=$(tee "$1" | grep -E '^\S+ +: ok=') || { echo "no play recap in the output" >&2; return 1; }
    if grep -vqE 'changed=0 ' <<<"$recap"; then
        echo "a run that should change nothing changed something:" >&2
        echo "$recap" >&2
        return 1
    fi
}

# The re-run's log on stdin (-vvv or not) shows no task that writes a file
# or a directory the roles read first (plugins/filter/musicsim_stale.py)
# doing anything but skip. Were what the filter compares to drift from what
# the modules write (a template rendered differently), every re-run would
# run them again, unchanged and slower, and no other check would fail.
read_first_and_skipped() {
    local ran
    ran=$(awk '/^(RUNNING HANDLER|PLAY) / { task = "" } /^TASK \[/ { task = $0; sub(/ \*+$/, "", task) }
        /^(ok|changed): \[/ && task ~ /compose_stack : (Create the directories|Write the env files|Write the compose file)|monitoring : (Write|Copy|Create the secrets)|backup : (Create the directories|Install the backup program|Write the files|Install the services|Write the repository.s)/ { print task }' \
        | sort -u)
    if [ -n "$ran" ]; then
        echo "a no-change re-run wrote files it had read as already right:" >&2
        echo "$ran" >&2
        return 1
    fi
}

make --no-print-directory demo-destroy >"$out/destroy.log" 2>&1 || { tail -20 "$out/destroy.log"; exit 1; }
make --no-print-directory demo DEMO_TIMER="$here/stage.sh first-converge" 2>&1 | tee "$out/first.log" \
    || exit 1
make --no-print-directory demo DEMO_TIMER="$here/stage.sh re-run" 2>&1 | no_change "$out/re-run.log" \
    || exit 1
read_first_and_skipped <"$out/re-run.log" || exit 1
"$here/stage.sh" check-mode ansible-playbook -i inventories/local site.yml --check --diff 2>&1 \
    | no_change "$out/check.log" || exit 1

# Tasks of site.yml's re-run (make echoes each command: the recap between
# site.yml's command and the report's): those that ran (ok) and those
# skipped, on every host.
tasks=$(awk '/ansible-playbook -i inventories\/local site\.yml$/ { on = 1 } /demo-report\.yml$/ { on = 0 } on' \
    "$out/re-run.log" | grep -E '^\S+ +: ok=' \
    | sed -E 's/.* ok=([0-9]+) .* skipped=([0-9]+) .*/\1 \2/' | awk '{ n += $1 + $2 } END { print n }')
python3 - "$MUSICSIM_STAGES" "$tasks" <<'PY'
import sys
stages, tasks = sys.argv[1], int(sys.argv[2])
seconds = {name: int(s) for name, _, s in (line.split("\t") for line in open(stages).read().splitlines())}
print("\nsite.yml on the demo host (inventories/local)")
for name in ("first-converge", "re-run", "check-mode"):
    print(f"  {name:<16} {seconds[name]:>5} s")
print(f"  {'tasks (re-run)':<16} {tasks:>5}")
print(f"  {'s per task':<16} {seconds['re-run'] / tasks:>7.2f}")
PY
