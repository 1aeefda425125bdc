#!/bin/bash
# Print the stages recorded by stage.sh, their durations and the pass/fail
# count. Exits non-zero if a stage failed or none ran.
set -u
stages=${MUSICSIM_STAGES:-.cache/stages.tsv}
if [ ! -s "$stages" ]; then
    echo "no test stage ran" >&2
    exit 1
fi
printf '\n%-28s %-6s %8s\n' STAGE RESULT SECONDS
awk -F'\t' '{ printf "%-28s %-6s %8d\n", $1, $2, $3; total += $3;
              if ($2 == "pass") pass++; else fail++ }
            END { printf "%-28s %-6s %8d\n", "total", "", total;
                  printf "\n%d passed, %d failed\n", pass, fail; exit (fail > 0) }' "$stages"
