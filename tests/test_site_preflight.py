"""A broken site declaration stops site.yml before the machine changes.

In site.yml the machine's roles (base, security, docker) run before the
stacks'. playbooks/role-checks.yml runs the checks of every role a machine
gets first; these cases prove that a mistake found by the last role's checks
still leaves a new machine untouched: site.yml fails in that first play,
changed=0, and the container's file system is as it was.

Each case takes the site scenario's values (one host in every group, the
test vault's throwaway values) and breaks one thing in it.
"""

import os
import re
import subprocess
import uuid

import pytest
import yaml

from conftest import ROOT, changed_paths, start_command

# The test site of the site and exposure scenarios.
TEST_SITE = yaml.safe_load((ROOT / "inventories/local/group_vars/musicsim.yml").read_text())
GROUPS = ["edge", "apps", "monitoring", "mlops", "backup"]
# The first play that changes a machine: site.yml must not get to it.
FIRST_CHANGE_PLAY = f"PLAY [{yaml.safe_load((ROOT / 'playbooks/host.yml').read_text())[0]['name']}]"

# The site's own routes (group_vars/all/main.yml).
ROUTES = yaml.safe_load((ROOT / "group_vars/all/main.yml").read_text())["site_routes"]

CASES = [
    # (id, host_vars changed (None removes one), text the failure must contain)
    ("route-no-role-serves-without-upstream",
     {"site_routes": [*ROUTES, {"name": "blog", "subdomain": "blog", "exposure": "public"}]},
     f"site_routes[{len(ROUTES)}] (blog)"),
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
    # A site_* value is named as the user wrote it, not as a role's copy of it.
    ("ssh-without-an-admin-key", {"site_admin_ssh_keys": []}, "site_admin_ssh_keys must list"),
    ("ssh-from-no-network", {"site_lan_ranges": []}, "site_lan_ranges must list"),
    ("lan-range-not-a-network", {"site_lan_ranges": ["192.168.1.0/24", "home"]}, "site_lan_ranges must list"),
    ("domain-not-a-domain-name", {"site_domain": "Music Sim"}, "site_domain must be"),
    ("timezone-not-a-zone-name", {"site_timezone": "Paris, France"}, "site_timezone must be"),
    ("admin-email-not-an-address", {"site_admin_email": "admin"}, "site_admin_email must be"),
    # Two services on one port: the proxy's admin UI on SSH's would take it.
    ("proxy-port-on-the-ssh-port", {"proxy_admin_port": 22}, "Port 22 of"),
    ("argument-of-the-wrong-type", {"docker_address_pools": "172.30.0.0/16"},
     "option 'docker_address_pools'"),
]


def _bare_host_values(**changes):
    """The test site's group values as a bare host's own, changed. The bare
    host has no ACME test server (tests/harness/acme-server.yml): the proxy
    uses its default, Let's Encrypt, which the checks do not reach."""
    values = dict(TEST_SITE, ansible_connection="community.docker.docker", **changes)
    for key in ("proxy_acme_server", "proxy_acme_ca_file"):
        values.pop(key)
    return values


def _inventory(tmp_path, host, changes):
    host_vars = _bare_host_values()
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
    # Every role of site.yml but ddns, off in the test site (a role turned
    # off needs none of its input).
    checked = set(re.findall(r"TASK \[(\w+) : Validating arguments against arg spec 'preflight'", output))
    assert checked == {"base", "security", "docker", "exporters", "megapi", "web", "mlflow", "locust", "proxy",
                       "monitoring", "backup"}, checked


@pytest.fixture
def second_host(fresh_host):
    """Another bare container beside fresh_host: the laptop of a two-machine site."""
    name = f"musicsim-pytest-{uuid.uuid4().hex[:8]}"
    subprocess.run(start_command(name), check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_one_machine_failing_its_checks_stops_the_others(fresh_host, second_host, tmp_path):
    """The pi-and-laptop layout with the laptop's megapi secret missing: the
    Pi, whose own checks pass, is not set up either."""
    pi, laptop = fresh_host, second_host
    laptop_address = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", laptop],
        check=True, capture_output=True, text=True).stdout.strip()
    values = _bare_host_values(site_apps_address=laptop_address, site_mlops_address=laptop_address)
    values.pop("vault_megapi_secret_key")
    inventory = tmp_path / "hosts.yml"
    # As each host's own values: an inventory's group vars lose to group_vars/all.
    inventory.write_text(yaml.safe_dump({"musicsim": {"children": {
        "edge": {"hosts": {pi: values}}, "monitoring": {"hosts": {pi: None}},
        # Its ansible_host is the container's name (Docker connection): the
        # address its exporters are published on is given as such.
        "apps": {"hosts": {laptop: dict(values, exporters_publish_address=laptop_address)}},
        "mlops": {"hosts": {laptop: None}}}}}))
    result = _run("site.yml", inventory)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "must be set in the vault as vault_megapi_secret_key" in output, output[-3000:]
    assert FIRST_CHANGE_PLAY not in output, "site.yml got past its checks"
    for host in (pi, laptop):
        recap = re.search(rf"{host}\s+: ok=\d+\s+changed=(\d+)", output)
        assert recap and recap.group(1) == "0", (host, output[-2000:])
        touched = [p for p in changed_paths(host) if not p.startswith(("/root", "/tmp"))]
        assert touched == [], (host, touched)
