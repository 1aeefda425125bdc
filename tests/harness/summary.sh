#!/bin/bash
# Print the stages recorded by stage.sh, their durations against their
# budgets (tests/harness/stage-budgets.tsv), and the pass/fail count. A stage
# more than 25% over its budget, or without one, is flagged: growth shows
# before it breaks CI's time limit. Then the figures the tests measured
# against their goals ($MUSICSIM_FIGURES: the auditors' findings on the site
# host, written by molecule/site/tests/test_auditors.py). Exits non-zero if
# a stage failed or none ran (a stage over its budget only warns; a figure
# off its goal fails the test that measured it; a skipped stage, one whose
# test host could not be built here, is named in the count).
set -u
stages=${MUSICSIM_STAGES:-.cache/stages.tsv}
figures=${MUSICSIM_FIGURES:-$(dirname "$stages")/figures.tsv}
budgets=${MUSICSIM_BUDGETS:-$(dirname "$0")/stage-budgets.tsv}
if [ ! -s "$stages" ]; then
    echo "no test stage ran" >&2
    exit 1
fi
# MUSICSIM_STARTED (seconds since boot, set by .ci/run) gives the wall time.
python3 - "$stages" "$budgets" "${MUSICSIM_STARTED:-}" "$figures" <<'PY'
import sys

stages_file, budgets_file, started, figures_file = sys.argv[1:]
budgets = {}
import os
for line in (open(budgets_file) if os.path.exists(budgets_file) else []):
    if line.strip() and not line.startswith("#"):
        name, seconds = line.split()[:2]
        budgets[name] = int(seconds)

def flag(seconds, budget):
    if budget is None:
        return "no budget"
    if seconds > budget * 1.25:
        return f"OVER +{round(100 * (seconds - budget) / budget)}%"
    return ""

rows = [line.rstrip("\n").split("\t") for line in open(stages_file) if line.strip()]
print(f"\n{'STAGE':<30} {'RESULT':<6} {'SECONDS':>8} {'BUDGET':>8}  FLAG")
for name, result, seconds in rows:
    budget = budgets.get(name)
    mark = "skipped" if result == "skip" else flag(int(seconds), budget)
    print(f"{name:<30} {result:<6} {int(seconds):>8} {budget if budget is not None else '-':>8}  {mark}")
total = sum(int(seconds) for _, _, seconds in rows)
print(f"{'total of the stages':<30} {'':<6} {total:>8}")
if started:
    with open("/proc/uptime") as uptime:
        wall = int(float(uptime.read().split()[0])) - int(started)
    budget = budgets.get("wall")
    print(f"{'wall':<30} {'':<6} {wall:>8} {budget if budget is not None else '-':>8}  {flag(wall, budget)}")
over = [name for name, result, seconds in rows if result != "skip" and flag(int(seconds), budgets.get(name))]
passed = sum(1 for row in rows if row[1] == "pass")
skipped = [row[0] for row in rows if row[1] == "skip"]
failed = len(rows) - passed - len(skipped)
if over:
    print(f"\n{len(over)} stage(s) over budget or without one: {', '.join(over)}")
# "STAGE<TAB>FIGURE<TAB>VALUE<TAB>GOAL<TAB>met|missed", one line a figure.
figures = [line.rstrip("\n").split("\t") for line in (open(figures_file) if os.path.exists(figures_file) else []) if line.strip()]
if figures:
    print(f"\n{'STAGE':<22} {'FIGURE':<40} {'VALUE':>6} {'GOAL':>8}  RESULT")
    for stage, figure, value, goal, met in figures:
        print(f"{stage:<22} {figure:<40} {value:>6} {goal:>8}  {met}")
print(f"\n{passed} passed, {failed} failed" + (f", {len(skipped)} skipped: {', '.join(skipped)}" if skipped else ""))
sys.exit(1 if failed else 0)
PY
