"""The site declaration is checked as a whole before any machine changes:
with the app or MLflow on another machine than the proxy, site.yml refuses
to run until site_apps_address or site_mlops_address says where the proxy
finds it."""

import os
import subprocess

from conftest import ROOT


def preflight(inventory, *extra):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", f"inventories/{inventory}", "playbooks/preflight.yml", *extra],
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
