"""The site declaration is checked as a whole before any machine changes:
with the app or MLflow on another machine than the proxy, site.yml refuses
to run until site_apps_address or site_mlops_address says where the proxy
finds it. And what the shipped inventories declare per machine: a laptop
that never sleeps."""

import json
import os
import subprocess

import yaml

from conftest import ROOT

# What a user fills in before the first run (the shipped inventories leave
# them empty on purpose, and the checks refuse them so): their key and email.
USER = {"site_admin_ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDGw/d59rSgZvp3QaKPF1rqOwvSI1Jj1Jwy1jRA4OpoN throwaway-test-key"],
        "site_admin_email": "admin@music-sim.test"}


def preflight(inventory, *extra):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", f"inventories/{inventory}", "playbooks/preflight.yml", "-e", json.dumps(USER),
         *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_two_machines_without_the_apps_address_are_refused():
    result = preflight("pi-and-laptop", "-e", "site_apps_address=")
    assert result.returncode != 0
    assert "set site_apps_address" in result.stdout
    assert "musicsim-pi" in result.stdout and "musicsim-laptop" in result.stdout


def test_two_machines_without_the_mlops_address_are_refused():
    result = preflight("pi-and-laptop", "-e", "site_mlops_address=")
    assert result.returncode != 0
    assert "set site_mlops_address" in result.stdout


def test_every_shipped_inventory_passes():
    for inventory in ("rpi", "laptop", "pi-and-laptop", "local"):
        result = preflight(inventory)
        assert result.returncode == 0, (inventory, result.stdout[-2000:])


def test_a_shipped_inventory_not_filled_in_is_refused_naming_what_to_fill():
    """As shipped, with no key and no email: the check names the site's
    variables, which the user writes, not the roles' copies of them."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible-playbook", "-i", "inventories/rpi", "playbooks/preflight.yml"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "site_admin_ssh_keys must list at least one SSH public key" in result.stdout
    assert "base_admin_ssh_keys" not in result.stdout


def test_a_laptop_never_sleeps_in_the_shipped_inventories():
    # logind suspends a laptop when its lid closes, and the whole site with
    # it: each shipped inventory's laptop turns that off (the base role's
    # base_never_sleep); a Pi has no lid and keeps the default.
    laptops = sorted(ROOT.glob("inventories/*/host_vars/musicsim-laptop.yml"))
    assert len(laptops) == 2, laptops
    for path in laptops:
        assert yaml.safe_load(path.read_text()).get("base_never_sleep") is True, path
    for path in ROOT.glob("inventories/*/host_vars/musicsim-pi.yml"):
        assert "base_never_sleep" not in yaml.safe_load(path.read_text()), path
