"""A broken site declaration stops site.yml before the machine changes.

In site.yml the machine's roles (base, security, docker) run before the
stacks'. playbooks/role-checks.yml runs the checks of every role a machine
gets first; these cases prove that a mistake found by the last role's checks
still leaves a new machine untouched: site.yml fails in that first play,
changed=0, and the container's file system is as it was.

Each case takes the site scenario's inventory (one host in every group, the
test vault's throwaway values) and breaks one thing in it.
"""

import os
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, changed_paths

SITE_HOST_VARS = yaml.safe_load((ROOT / "molecule/site/molecule.yml").read_text())[
    "provisioner"]["inventory"]["host_vars"]["musicsim-site"]
GROUPS = ["edge", "apps", "monitoring", "mlops"]
FIRST_CHANGE_PLAY = "PLAY [OS baseline, defences and Docker engine]"

# The site's own routes (group_vars/all/main.yml), api second.
ROUTES = yaml.safe_load((ROOT / "group_vars/all/main.yml").read_text())["site_routes"]
assert ROUTES[1]["name"] == "api"
WITHOUT_UPSTREAM = [ROUTES[0], {k: v for k, v in ROUTES[1].items() if k != "upstream"}, *ROUTES[2:]]

CASES = [
    # (id, host_vars changed (None removes one), text the failure must contain)
    ("route-without-upstream",
     {"site_routes": WITHOUT_UPSTREAM}, "proxy_routes[1] (api)"),
    ("public-database-port",
     {"site_routes": [*ROUTES, {"name": "db", "subdomain": "db", "group": "apps", "exposure": "public",
                                 "upstream": {"host": "megapi-postgres", "port": 5432}}]},
     "db routes the internet to megapi-postgres:5432"),
    ("public-object-store-console",
     {"site_routes": [*ROUTES, {"name": "minio", "subdomain": "s3", "group": "apps", "exposure": "public",
                                 "upstream": {"host": "megapi-minio", "port": 9001}}]},
     "minio routes the internet to megapi-minio:9001"),
    ("missing-vault-secret", {"vault_megapi_secret_key": None}, "vault_megapi_secret_key"),
    ("missing-vault-webhook", {"vault_monitoring_discord_webhook_url": None}, "vault_monitoring_discord_webhook_url"),
    ("ssh-for-an-account-nobody-makes", {"security_admin_user": "operator"}, "operator does not exist"),
    ("ssh-without-an-admin-key", {"site_admin_ssh_keys": []}, "base_admin_ssh_keys"),
    ("ssh-from-no-network", {"site_lan_ranges": []}, "security_lan_ranges"),
    ("argument-of-the-wrong-type", {"docker_address_pools": "172.30.0.0/16"}, "docker_address_pools"),
]


def _inventory(tmp_path, host, changes):
    host_vars = dict(SITE_HOST_VARS, ansible_connection="community.docker.docker")
    for key, value in changes.items():
        if value is None:
            host_vars.pop(key)
        else:
            host_vars[key] = value
    children = {group: {"hosts": {host: None}} for group in GROUPS}
    children["edge"]["hosts"][host] = host_vars
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"musicsim": {"children": children}}))
    return path


def _run(playbook, inventory):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_VERBOSITY="0")
    return subprocess.run(["ansible-playbook", playbook, "-i", str(inventory)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def _recap(output):
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-2000:]
    return {k: int(v) for k, v in zip(("ok", "changed", "unreachable", "failed"), match.groups())}


@pytest.mark.parametrize("changes,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_site_stops_before_any_change(fresh_host, tmp_path, changes, needle):
    result = _run("site.yml", _inventory(tmp_path, fresh_host, changes))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    failure = output[output.find("fatal:"):] if "fatal:" in output else output
    assert needle in failure, failure[-3000:]
    assert FIRST_CHANGE_PLAY not in output, "site.yml got past its checks"
    recap = _recap(output)
    assert recap["failed"] == 1 and recap["changed"] == 0, recap
    touched = [p for p in changed_paths(fresh_host) if not p.startswith(("/root", "/tmp"))]
    assert touched == [], touched


def test_the_site_declaration_passes_its_checks(fresh_host, tmp_path):
    """The control: the unbroken inventory passes every role's checks, argument
    specs included, on the same new machine."""
    result = _run("playbooks/role-checks.yml", _inventory(tmp_path, fresh_host, {}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert _recap(output)["changed"] == 0
    # Every role of site.yml but ddns, which the site leaves off.
    checked = set(re.findall(r"TASK \[(\w+) : Validating arguments against arg spec 'preflight'", output))
    assert checked == {"base", "security", "docker", "exporters", "megapi", "web", "mlflow", "locust", "proxy",
                       "monitoring"}, checked


def test_the_checks_cover_the_roles_site_yml_runs():
    """role-checks.yml lists, per group, the roles the playbooks run there:
    a role added to a playbook and not to the list would go unchecked."""
    checks = yaml.safe_load((ROOT / "playbooks/role-checks.yml").read_text())[0]["vars"]["_site_roles_by_group"]
    runs = {}
    for entry in yaml.safe_load((ROOT / "site.yml").read_text()):
        for play in yaml.safe_load((ROOT / entry["ansible.builtin.import_playbook"]).read_text()):
            roles = [r["role"] for r in play.get("roles", [])]
            if roles:
                runs.setdefault(play["hosts"], []).extend(roles)
    assert checks == runs
