"""What each role declares it owns (roles/<role>/meta/site.yml), and the
site's lists group_vars/all/main.yml derives from the declarations
(plugins/vars/musicsim_roles.py, plugins/filter/musicsim_site.py)."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site = _load("plugins/filter/musicsim_site.py", "musicsim_site")

# The vars plugin, run in a process of its own with a loader that parses
# the files: importing Ansible's controller code into this one would turn
# the module tests' warnings into printed ones. The plays below run the
# plugin through Ansible itself.
_PLUGIN = """
import importlib.util, json, pathlib, sys, yaml
spec = importlib.util.spec_from_file_location("musicsim_roles", sys.argv[1])
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
class Loader:
    def load_from_file(self, path, **_):
        return yaml.safe_load(pathlib.Path(path).read_text())
print(json.dumps(plugin.site_vars(Loader())))
"""
DECLARED = json.loads(subprocess.run([sys.executable, "-c", _PLUGIN, str(ROOT / "plugins/vars/musicsim_roles.py")],
                                     check=True, capture_output=True, text=True).stdout)
ROLES = DECLARED["site_roles"]
GROUPS = DECLARED["site_role_groups"]


def test_the_groups_are_the_plays_of_site_yml():
    assert GROUPS == {
        "musicsim": ["base", "security", "docker", "exporters"],
        "apps": ["megapi", "web"],
        "mlops": ["mlflow", "locust"],
        "edge": ["proxy", "ddns"],
        "monitoring": ["monitoring"],
        "backup": ["backup"],
    }


def test_every_role_with_a_main_entry_point_runs_in_a_group():
    """A role missing from site.yml's plays would go unchecked by
    role-checks.yml and undeclared to monitoring and backups. The upgrade
    role owns nothing: it applies the site's roles (playbooks/upgrade.yml)."""
    runnable = {p.parents[1].name for p in ROOT.glob("roles/*/tasks/main.yml")} - {"upgrade"}
    assert runnable == {role for roles in GROUPS.values() for role in roles}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_declared_container_is_one_the_role_runs(role):
    """The names in meta/site.yml are the container_name of the role's
    compose file (or of a variable it sets there), and every container
    the compose file names is declared."""
    compose = (ROOT / f"roles/{role}/templates/compose.yaml.j2").read_text()
    named = re.findall(r"container_name:\s*(.+?)\s*$", compose, re.MULTILINE)
    role_vars = yaml.safe_load((ROOT / f"roles/{role}/vars/main.yml").read_text()) \
        if (ROOT / f"roles/{role}/vars/main.yml").exists() else {}
    resolved = [role_vars[m.group(1)] if (m := re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", n)) else n for n in named]
    assert sorted(ROLES[role]["containers"]) == sorted(resolved)
    for key in ("routes", "scrape"):
        for item in ROLES[role].get(key, []):
            assert item["container"] in ROLES[role]["containers"], (key, item)


def test_each_site_route_is_declared_by_a_role():
    routes = yaml.safe_load((ROOT / "group_vars/all/main.yml").read_text())["site_routes"]
    declared = {item["name"] for decl in ROLES.values() for item in decl.get("routes", [])}
    assert {route["name"] for route in routes} == declared


def test_a_route_takes_its_upstream_from_the_role_that_declares_it():
    declared = site.musicsim_declared(GROUPS, ROLES, "routes")
    routes = [{"name": "api", "subdomain": "api", "exposure": "public"},
              {"name": "grafana", "subdomain": "monitor", "exposure": "public", "probe_path": "/login"},
              {"name": "blog", "subdomain": "blog", "exposure": "public",
               "upstream": {"host": "192.168.1.30", "port": 2368}, "group": "edge"},
              {"name": "typo", "subdomain": "x", "exposure": "lan"}]
    resolved = site.musicsim_routes(routes, declared, {"apps": "192.168.1.20", "mlops": ""})
    assert resolved[0] == {**routes[0], "upstream": {"host": "192.168.1.20", "port": 8000}, "group": "apps",
                           "probe_path": "/docs"}
    assert resolved[1]["upstream"] == {"host": "grafana", "port": 3000}
    assert resolved[1]["probe_path"] == "/login"
    assert resolved[2:] == routes[2:]


def test_scrape_jobs_and_expected_containers_follow_the_machines():
    declared = site.musicsim_declared(GROUPS, ROLES, "scrape")
    groups = {"apps": ["laptop"], "monitoring": ["pi"], "edge": ["pi"]}
    jobs = site.musicsim_scrape_jobs(declared, groups, {"apps": "192.168.1.20"})
    assert jobs == [
        {"name": "megapi-log", "targets": ["192.168.1.20:8000"], "labels": {"host": "laptop"}},
        {"name": "postgres", "targets": ["192.168.1.20:9187"], "labels": {"host": "laptop"}},
    ]
    assert site.musicsim_scrape_jobs(declared, {"monitoring": ["pi"]}, {}) == []
    expected = site.musicsim_per_machine(site.musicsim_declared(GROUPS, ROLES, "containers"), groups)
    assert {"host": "laptop", "name": "megapi"} in expected
    assert {"host": "pi", "name": "nginx-proxy-manager"} in expected
    assert not [e for e in expected if e["name"] in ("node-exporter", "mlflow")]  # no musicsim or mlops machine


DUMP = """
- name: The site's derived lists
  hosts: musicsim
  gather_facts: false
  tasks:
    - name: Write them
      ansible.builtin.copy:
        dest: "{{ dump_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'backup_databases': backup_databases, 'backup_paths': backup_paths,
                      'backup_volumes': backup_volumes, 'proxy_routes': proxy_routes,
                      'monitoring_scrape_jobs': monitoring_scrape_jobs,
                      'monitoring_expected_containers': monitoring_expected_containers,
                      'monitoring_exporter_hosts': monitoring_exporter_hosts} | to_json }}"
        mode: "0600"
      delegate_to: localhost
"""


def _derived(tmp_path, *extra):
    """inventories/pi-and-laptop, the lists as every play sees them
    (group_vars/all/main.yml beside the playbook, as in playbooks/)."""
    playbook = tmp_path / "derived.yml"
    playbook.write_text(DUMP)
    (tmp_path / "group_vars").symlink_to(ROOT / "group_vars")
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", "inventories/pi-and-laptop", str(playbook), "-e", f"dump_dir={tmp_path}",
         "-e", "ansible_connection=local", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    return (json.loads((tmp_path / "musicsim-pi.json").read_text()),
            json.loads((tmp_path / "musicsim-laptop.json").read_text()))


def test_two_machines_each_back_up_what_they_run_and_the_pi_watches_both(tmp_path):
    pi, laptop = _derived(tmp_path)

    assert [d["name"] for d in laptop["backup_databases"]] == ["megapi", "mlflow", "mlflow-auth"]
    assert laptop["backup_databases"][0]["project_dir"] == "/opt/musicsim/megapi"
    assert laptop["backup_databases"][2] == {"name": "mlflow-auth", "kind": "sqlite",
                                             "path": "/srv/musicsim/mlflow/auth/basic_auth.db"}
    assert laptop["backup_volumes"] == ["megapi_minio"]
    assert laptop["backup_paths"] == ["/opt/musicsim/megapi", "/opt/musicsim/mlflow", "/srv/musicsim/mlflow"]
    assert pi["backup_databases"] == [
        {"name": "nginx-proxy-manager", "kind": "sqlite", "path": "/srv/musicsim/proxy/data/database.sqlite"},
        {"name": "grafana", "kind": "sqlite", "path": "/srv/musicsim/monitoring/grafana/grafana.db"}]
    assert pi["backup_volumes"] == []
    assert pi["backup_paths"] == ["/opt/musicsim/proxy", "/srv/musicsim/proxy", "/opt/musicsim/monitoring",
                                  "/srv/musicsim/monitoring/grafana", "/srv/musicsim/monitoring/prometheus"]

    upstreams = {r["name"]: (r["upstream"]["host"], r["upstream"]["port"], r["group"]) for r in pi["proxy_routes"]}
    assert upstreams["api"] == ("192.168.1.20", 8000, "apps")
    assert upstreams["mlflow"] == ("192.168.1.20", 5000, "mlops")
    assert upstreams["grafana"] == ("grafana", 3000, "monitoring")
    assert pi["monitoring_scrape_jobs"][0] == {"name": "megapi-log", "targets": ["192.168.1.20:8000"],
                                               "labels": {"host": "musicsim-laptop"}}
    watched = {(c["host"], c["name"]) for c in pi["monitoring_expected_containers"]}
    assert {("musicsim-laptop", "megapi"), ("musicsim-laptop", "locust"), ("musicsim-pi", "grafana"),
            ("musicsim-pi", "node-exporter"), ("musicsim-laptop", "node-exporter")} <= watched
    assert ("musicsim-pi", "megapi") not in watched
    exporters = {h["name"]: h["address"] for h in pi["monitoring_exporter_hosts"]}
    assert exporters["musicsim-pi"] == "" and exporters["musicsim-laptop"]


def test_a_role_turned_off_owns_nothing(tmp_path):
    """mlflow_enabled: false on the laptop: no MariaDB dump, no data path,
    no container expected, no route to MLflow; the rest as before."""
    pi, laptop = _derived(tmp_path, "-e", "mlflow_enabled=false")
    assert [d["name"] for d in laptop["backup_databases"]] == ["megapi"]
    assert laptop["backup_paths"] == ["/opt/musicsim/megapi"]
    watched = {(c["host"], c["name"]) for c in pi["monitoring_expected_containers"]}
    assert ("musicsim-laptop", "locust") in watched
    assert not {("musicsim-laptop", "mlflow"), ("musicsim-laptop", "mlflow-mariadb")} & watched
    routes = {r["name"] for r in pi["proxy_routes"]}
    assert "mlflow" not in routes and {"api", "locust", "grafana"} <= routes


def test_roles_off_reads_each_groups_machine():
    hostvars = {"pi": {"monitoring_enabled": "false"}, "laptop": {"megapi_enabled": True}}
    groups = {"apps": ["laptop"], "monitoring": ["pi"], "edge": ["pi"]}
    assert site.musicsim_roles_off(GROUPS, groups, hostvars) == ["monitoring"]
    assert site.musicsim_roles_of(GROUPS, ["apps", "musicsim"], ["web"]) == ["base", "security", "docker",
                                                                           "exporters", "megapi"]
