"""The monitoring role's Grafana dashboards, checked as files: each parses,
has the uid the scenario looks for, and queries only the provisioned data
source and jobs Prometheus scrapes. (The rendered Prometheus, Alertmanager
and blackbox configurations are checked by their own programs when the role
writes them, and the alert rules by promtool's unit tests in
molecule/monitoring.)"""

import json
import re

import jinja2
import pytest
import yaml

from conftest import ROOT

ROLE = ROOT / "roles/monitoring"
BOARDS = sorted((ROLE / "files/dashboards").glob("*.json"))


def _render(template, **values):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    # The two Ansible filters these templates use.
    env.filters["to_json"] = json.dumps
    env.filters["regex_replace"] = lambda value, pattern, replacement: re.sub(pattern, replacement, value)
    return env.from_string((ROLE / "templates" / template).read_text()).render(ansible_managed="managed", **values)


def _datasources(postgres_host="megapi-postgres"):
    provisioned = yaml.safe_load(_render(
        "grafana-datasources.yaml.j2", monitoring_scrape_interval="30s", monitoring_postgres_host=postgres_host,
        monitoring_postgres_port=5432, monitoring_postgres_user="musicsim_reader",
        monitoring_postgres_database="fastapi_db"))
    return {d["uid"]: d for d in provisioned["datasources"]}


def _datasource_uids():
    return set(_datasources())


def _scraped_jobs():
    config = yaml.safe_load(_render(
        "prometheus.yml.j2", monitoring_scrape_interval="30s", monitoring_site_label="music-sim",
        monitoring_exporter_hosts=[{"name": "pi", "address": ""}], monitoring_scrape_jobs=[],
        _monitoring_probed_routes=[{"name": "api", "subdomain": "api"}], monitoring_domain="music-sim.test"))
    own = {job["job_name"] for job in config["scrape_configs"]}
    # The site's jobs: the scrape targets the roles declare (meta/site.yml).
    declared = {job["name"] for path in ROOT.glob("roles/*/meta/site.yml")
                for job in yaml.safe_load(path.read_text()).get("scrape", [])}
    assert declared == {"megapi-log", "postgres"}
    return own | declared


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_there_are_dashboards():
    assert [b.stem for b in BOARDS] == ["containers", "host", "megapi", "overview", "postgres", "probes"]


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.stem)
def test_a_dashboard_parses_and_has_its_uid_and_unique_panels(board):
    content = json.loads(board.read_text())
    assert content["uid"] == f"musicsim-{board.stem}"
    ids = [panel["id"] for panel in content["panels"]]
    assert ids and len(ids) == len(set(ids))


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.stem)
def test_a_dashboard_uses_only_the_provisioned_data_source(board):
    content = json.loads(board.read_text())
    used = {node["datasource"]["uid"] for node in _walk(content) if isinstance(node.get("datasource"), dict)}
    assert used and used <= _datasource_uids(), used


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.stem)
def test_a_dashboard_queries_only_jobs_prometheus_scrapes(board):
    content = json.loads(board.read_text())
    exprs = [node["expr"] for node in _walk(content) if "expr" in node]
    assert exprs
    jobs = {job for expr in exprs for job in re.findall(r'job="([^"]+)"', expr)}
    assert jobs <= _scraped_jobs(), jobs


def test_the_megapi_dashboard_queries_the_job_of_the_seeds():
    content = (ROLE / "files/dashboards/megapi.json").read_text()
    assert content.count('job=\\"megapi-log\\"') >= 5


def test_the_library_data_source_is_read_only_and_keeps_its_password_in_a_file():
    library = _datasources()["library"]
    assert library["url"] == "megapi-postgres:5432"
    assert library["user"] == "musicsim_reader" and library["jsonData"]["database"] == "fastapi_db"
    assert library["secureJsonData"] == {"password": "$__file{/run/secrets/grafana/postgres_password}"}
    # No Postgres host (an inventory without the app): Prometheus only.
    assert set(_datasources(postgres_host="")) == {"prometheus"}


def test_the_library_panels_read_megapis_table():
    table = yaml.safe_load((ROOT / "roles/megapi/defaults/main.yml").read_text())["megapi_music_table"]
    content = json.loads((ROLE / "files/dashboards/postgres.json").read_text())
    queries = [node["rawSql"] for node in _walk(content) if "rawSql" in node]
    assert len(queries) >= 3
    assert all(re.search(rf"\bFROM {table}\b", query) for query in queries), queries
