"""The ansible-playbook commands the README gives a user name playbooks,
inventories, tags and machines that exist: each is run as written, less the
prompts for passwords, with --list-hosts (the machines it would change) and
--list-tags. A --limit that matches no machine, or an -e that would reach a
machine it was not meant for, fails here instead of at a user's first run.
A first run (the first user's account given with -e ansible_user=) names one
machine and asks for that user's password, as a fresh Pi or Ubuntu install
lets it in."""

import re
import shlex
import subprocess

import pytest
import yaml

from conftest import ROOT

README = (ROOT / "README.md").read_text()
COMMANDS = [line.strip().split("#")[0].strip() for line in README.splitlines()
            if line.strip().startswith("ansible-playbook ")]
PROMPTS = {"--ask-pass", "--ask-become-pass", "--ask-vault-pass", "--check", "--diff"}


def inventory_hosts(inventory):
    hosts = set()

    def walk(group):
        hosts.update((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            walk(child or {})
    for group in yaml.safe_load((ROOT / inventory / "hosts.yml").read_text()).values():
        walk(group)
    return hosts


def test_the_readme_gives_commands():
    assert len(COMMANDS) >= 6, COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_command_targets_what_it_says(command):
    argv = [word for word in shlex.split(command) if word not in PROMPTS]
    inventory = argv[argv.index("-i") + 1]
    out = subprocess.run(argv + ["--list-hosts", "--list-tags"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
    listed = set(re.findall(r"^\s{4,}(\S+)$", out.stdout, flags=re.M))
    expected = inventory_hosts(inventory)
    if "--limit" in argv:
        expected = {argv[argv.index("--limit") + 1]}
    assert listed == expected, out.stdout
    if "--tags" in argv:
        tag = argv[argv.index("--tags") + 1]
        assert re.search(rf"TAGS: \[.*\b{re.escape(tag)}\b", out.stdout), f"no task is tagged {tag}"


FIRST_RUNS = [command for command in COMMANDS if "ansible_user=" in command]


def test_the_readme_gives_first_runs():
    assert FIRST_RUNS, COMMANDS


@pytest.mark.parametrize("command", FIRST_RUNS)
def test_a_first_run_reaches_one_machine_and_asks_for_the_password(command):
    argv = shlex.split(command)
    inventory = argv[argv.index("-i") + 1]
    # -e ansible_user=pi reaches every machine the run does: on two
    # machines, the laptop's user is another one.
    if len(inventory_hosts(inventory)) > 1:
        assert "--limit" in argv, f"{command}: -e ansible_user on {inventory} without --limit"
    assert "--ask-pass" in argv and "--ask-become-pass" in argv, command
