#!/bin/bash
# Run one stage of the tests, time it, and record the result.
#   stage.sh NAME COMMAND [ARG...]
# Appends "NAME<TAB>pass|fail<TAB>SECONDS" to $MUSICSIM_STAGES (default
# .cache/stages.tsv); summary.sh prints the table. Exits with the command's code.
#   stage.sh --skip NAME REASON
# records "NAME<TAB>skip<TAB>0": a stage that could not run here, and why.
set -u
stages=${MUSICSIM_STAGES:-.cache/stages.tsv}
mkdir -p "$(dirname "$stages")"
if [ "$1" = --skip ]; then
    printf '%s\tskip\t0\n' "$2" >>"$stages"
    echo "=== $2: skipped: $3"
    exit 0
fi
name=$1
shift
# Seconds since boot, not the wall clock: a test host that syncs time (it
# has CAP_SYS_TIME) may step the shared clock while a stage runs.
uptime() { local up; read -r up _ </proc/uptime; echo "${up%.*}"; }
echo "=== $name: $*"
start=$(uptime)
"$@"
rc=$?
seconds=$(($(uptime) - start))
if [ "$rc" -eq 0 ]; then result=pass; else result=fail; fi
printf '%s\t%s\t%s\n' "$name" "$result" "$seconds" >>"$stages"
echo "=== $name: $result in ${seconds} s"
exit "$rc"
