#!/usr/bin/env python3
"""Run an Ansible command and cut it off half-way, as a laptop closed or an
SSH session dropped would: the whole process group killed (SIGKILL) when
the chosen task (or handler) starts, with no chance to clean up or run
the handlers left.

  interrupt.py --at N -- COMMAND...          at the Nth task (counted from 1)
  interrupt.py --random M [--seed S] -- ...   at a task drawn from 1..M
  interrupt.py --after REGEX -- ...           once the first task whose name
                                              matches REGEX has finished

Prints which task it cut off at (and the seed, to run the same again), and
exits 0 when it did cut the run off, 3 when the run ended first (its own
exit status is printed).
"""

import argparse
import os
import random
import re
import signal
import subprocess
import sys

# A task or a handler starting, as ansible-playbook prints it, or Molecule
# around it (a margin, colours).
TASK = re.compile(r"\b(?:TASK|RUNNING HANDLER) \[(?P<name>[^\]]*)\]")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", type=int)
    where.add_argument("--random", type=int, metavar="M")
    where.add_argument("--after")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")

    at = args.at
    if args.random is not None:
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
        at = random.Random(seed).randint(1, args.random)
        print(f"interrupt: at task {at} of {args.random} (seed {seed})", flush=True)
    after = re.compile(args.after) if args.after else None

    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    count, matched = 0, False
    for line in run.stdout:
        sys.stdout.write(line)
        task = TASK.search(line)
        if not task:
            continue
        count += 1
        if (at is not None and count == at) or (after is not None and matched):
            sys.stdout.flush()
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            print(f"\ninterrupt: killed at task {count}: {task['name']}", flush=True)
            return 0
        matched = matched or (after is not None and bool(after.search(task["name"])))
    status = run.wait()
    print(f"\ninterrupt: the run ended first, after {count} tasks, with status {status}", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main())
