"""Monitoring as the site runs it: every declared target up, each public
route probed through the proxy with its certificate, the alert rules pass
their unit tests and the deployed configuration its checkers, Grafana
serves the provisioned data source and dashboards to its admin alone,
nothing is published, the secrets stay in their files, and the side effect
(megapi stopped) reached the Discord webhook as an alert."""

import base64
import json
import os
import pathlib
import re
import shlex
import time

import pytest

HERE = pathlib.Path(__file__).parent
PROJECT = "/opt/musicsim/monitoring"
GRAFANA_ADMIN = ("admin", "throwaway-grafana-password")
READER = ("musicsim_reader", "throwaway-mon-reader-password")
SECRETS = ["throwaway-grafana-password", "throwaway-discord-token", "throwaway-deadman-token", READER[1]]
DASHBOARDS = sorted(p.stem for p in (HERE / "../../../roles/monitoring/files/dashboards").glob("*.json"))
PUBLIC_ROUTES = {"web": "https://music-sim.test/", "api": "https://api.music-sim.test/docs",
                 "grafana": "https://monitor.music-sim.test/api/health"}


def prometheus(host, path):
    return json.loads(host.check_output(f"docker exec prometheus wget -q -O - {shlex.quote('http://127.0.0.1:9090' + path)}"))


def grafana(host, path, auth=GRAFANA_ADMIN):
    """Status and body of a request to Grafana, from a container on its network."""
    token = base64.b64encode(":".join(auth).encode()).decode()
    code = ("import sys, urllib.request, urllib.error\n"
            "r = urllib.request.Request('http://grafana:3000' + sys.argv[1], headers={'Authorization': 'Basic ' + sys.argv[2]})\n"
            "try:\n    reply = urllib.request.urlopen(r, timeout=10)\nexcept urllib.error.HTTPError as e:\n    reply = e\n"
            "print(reply.status)\nprint(reply.read().decode())\n")
    out = host.check_output(f"docker run --rm --network monitoring --entrypoint python3 musicsim-test/grafana:1 "
                            f"-c {shlex.quote(code)} {shlex.quote(path)} {token}")
    status, _, body = out.partition("\n")
    return int(status), body


def inspect(host, name):
    return json.loads(host.check_output(f"docker inspect {name}"))[0]


@pytest.mark.parametrize("name, memory", [("prometheus", 512), ("alertmanager", 64), ("blackbox-exporter", 64),
                                          ("grafana", 256), ("node-exporter", 64), ("cadvisor", 192),
                                          ("megapi-postgres-exporter", 64)])
def test_each_service_is_healthy_with_a_memory_limit_and_nothing_published(host, name, memory):
    state = inspect(host, name)
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == memory * 1024 * 1024
    assert not any(state["NetworkSettings"]["Ports"].get(p) for p in state["NetworkSettings"]["Ports"] or {})


def test_every_declared_target_is_up(host):
    targets = prometheus(host, "/api/v1/targets?state=active")["data"]["activeTargets"]
    jobs = {t["labels"]["job"] for t in targets}
    # The role's own jobs, the exporters', megapi's and its Postgres
    # exporter's (the inventory has an apps machine), the probes.
    assert jobs == {"prometheus", "alertmanager", "node", "cadvisor", "blackbox", "megapi-log", "postgres", "probe"}
    down = [(t["labels"]["job"], t["labels"]["instance"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert down == []


def test_each_public_route_is_probed_through_the_proxy_and_answers(host):
    result = prometheus(host, "/api/v1/query?query=probe_success")["data"]["result"]
    probed = {r["metric"]["route"]: (r["metric"]["instance"], r["value"][1]) for r in result}
    assert probed == {route: (url, "1") for route, url in PUBLIC_ROUTES.items()}


def test_the_certificates_expiry_is_read_from_each_route(host):
    query = "probe_ssl_earliest_cert_expiry - time()"
    result = prometheus(host, "/api/v1/query?query=" + query.replace(" ", "%20").replace("+", "%2B"))["data"]["result"]
    days = {r["metric"]["route"]: float(r["value"][1]) / 86400 for r in result}
    assert set(days) == set(PUBLIC_ROUTES)
    # The test proxy's certificates are fresh, 90 days: nothing to alert on.
    assert all(80 < d <= 90 for d in days.values()), days


def test_every_running_container_is_one_the_alerts_expect(host):
    """ContainerAbsent covers what runs: no container unwatched, none
    expected that the site does not run."""
    groups = prometheus(host, "/api/v1/rules")["data"]["groups"]
    rule = next(r for g in groups for r in g["rules"] if r["name"] == "ContainerAbsent")
    expected = set(re.findall(r'host="musicsim-monitoring",\s*name="([^"]+)"', rule["query"]))
    running = set(host.check_output("docker ps --format '{{.Names}}'").split())
    assert expected == running


def test_cadvisor_reports_each_container_of_the_site(host):
    result = prometheus(host, "/api/v1/query?query=container_last_seen")["data"]["result"]
    seen = {(r["metric"]["host"], r["metric"]["name"]) for r in result}
    running = set(host.check_output("docker ps --format '{{.Names}}'").split())
    assert seen == {("musicsim-monitoring", name) for name in running}


def test_megapi_is_scraped_as_the_dashboards_expect(host):
    result = prometheus(host, "/api/v1/query?query=http_requests_total%7Bjob%3D%22megapi-log%22%7D")["data"]["result"]
    assert result, "no http_requests_total for job megapi-log"


def test_postgres_is_up_as_its_exporter_sees_it_with_the_read_only_user(host):
    result = prometheus(host, "/api/v1/query?query=pg_up")["data"]["result"]
    assert [(r["metric"]["job"], r["metric"]["host"], r["value"][1]) for r in result] == \
        [("postgres", "musicsim-monitoring", "1")]
    # The exporter reads the server's statistics (pg_monitor): the database's size.
    result = prometheus(host, "/api/v1/query?query=pg_database_size_bytes%7Bdatname%3D%22fastapi_db%22%7D")["data"]["result"]
    assert result and float(result[0]["value"][1]) > 0


def _psql_as_reader(host, sql):
    """A query as the read-only user, over TCP with its password, as Grafana logs in."""
    return host.run(f"docker exec -e PGPASSWORD={READER[1]} megapi-postgres psql -h postgres -U {READER[0]} "
                    f"-d fastapi_db -tA -c {shlex.quote(sql)}")


def test_the_read_only_user_reads_the_library_and_nothing_else(host):
    out = _psql_as_reader(host, "SELECT count(*) FROM music_library")
    assert out.rc == 0 and int(out.stdout) == 3, out.stdout + out.stderr
    # The password is checked: over the network, the wrong one is refused.
    wrong = host.run("docker exec -e PGPASSWORD=wrong megapi-postgres psql -h postgres -U musicsim_reader "
                     "-d fastapi_db -tAc 'SELECT 1'")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr
    # Not the users and their password hashes.
    out = _psql_as_reader(host, "SELECT count(*) FROM users")
    assert out.rc != 0 and "permission denied" in out.stderr
    # No write, even where a grant would allow it: read-only transactions.
    out = _psql_as_reader(host, "CREATE TABLE intruder (id int)")
    assert out.rc != 0 and "read-only transaction" in out.stderr
    out = _psql_as_reader(host, "BEGIN READ WRITE; DELETE FROM music_library; COMMIT")
    assert out.rc != 0 and "permission denied" in out.stderr
    assert _psql_as_reader(host, "SELECT count(*) FROM music_library").stdout.strip() == "3"


def test_postgres_is_on_no_network_of_the_proxy_and_published_nowhere(host):
    state = inspect(host, "megapi-postgres")
    assert set(state["NetworkSettings"]["Networks"]) == {"megapi_internal", "db-readers"}
    assert not any(state["NetworkSettings"]["Ports"].get(p) for p in state["NetworkSettings"]["Ports"] or {})
    assert set(inspect(host, "grafana")["NetworkSettings"]["Networks"]) == {"monitoring", "edge", "db-readers"}


def test_the_alert_rules_pass_their_unit_tests(host):
    tests = (HERE / "alerts.test.yml").read_text()
    host.check_output(f"printf %s {shlex.quote(tests)} > /tmp/alerts.test.yml")
    out = host.run(f"docker run --rm --user 0:0 --network none -v {PROJECT}/prometheus/rules:/etc/prometheus/rules:ro "
                   "-v /tmp/alerts.test.yml:/alerts.test.yml:ro --entrypoint promtool musicsim-test/prometheus:2 "
                   "test rules /alerts.test.yml")
    assert out.rc == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_the_deployed_configuration_passes_its_checkers(host):
    # Fully this time, with the rule files and the secret files in place.
    out = host.run("docker exec prometheus promtool check config /etc/prometheus/musicsim/prometheus.yml")
    assert out.rc == 0 and "1 rule files found" in out.stdout, out.stdout + out.stderr
    out = host.run("docker exec alertmanager amtool check-config /etc/alertmanager/musicsim/alertmanager.yml")
    assert out.rc == 0, out.stdout + out.stderr
    rules = prometheus(host, "/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in rules} == {"host", "containers", "targets", "probes", "postgres", "backup", "meta"}


def test_grafana_serves_the_provisioned_data_sources_to_its_admin_alone(host):
    assert grafana(host, "/api/datasources", ("admin", "wrong-password"))[0] == 401
    status, body = grafana(host, "/api/datasources")
    assert status == 200
    assert [(d["uid"], d["type"], d.get("isDefault", False)) for d in json.loads(body)] == [
        ("prometheus", "prometheus", True), ("library", "grafana-postgresql-datasource", False)]
    assert READER[1] not in body
    # Each answers: Prometheus a query, the library a login as the read-only user.
    for uid in ("prometheus", "library"):
        status, body = grafana(host, f"/api/datasources/uid/{uid}/health")
        assert status == 200 and json.loads(body)["status"] == "OK", body


def test_grafana_loads_every_provisioned_dashboard(host):
    status, body = grafana(host, "/api/search")
    assert status == 200
    found = {d["uid"]: d["folderTitle"] for d in json.loads(body)}
    assert found == {f"musicsim-{name}": "music-sim" for name in DASHBOARDS}
    for uid in found:
        status, body = grafana(host, f"/api/dashboards/uid/{uid}")
        assert status == 200 and json.loads(body)["dashboard"]["panels"], uid


def test_grafana_is_closed_to_sign_up_and_anonymous_visitors(host):
    env = dict(e.split("=", 1) for e in inspect(host, "grafana")["Config"]["Env"])
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env  # only its __FILE variant
    assert env["GF_SERVER_ROOT_URL"] == "https://monitor.music-sim.test"


def test_the_data_directories_belong_to_each_image_user(host):
    assert host.file("/srv/musicsim/monitoring/grafana").uid == 472
    assert host.file("/srv/musicsim/monitoring/prometheus").uid == 65534
    # Prometheus and Grafana write there: their data is on the host, for backups.
    assert host.file("/srv/musicsim/monitoring/grafana/grafana-stand-in.json").exists
    assert host.run("ls /srv/musicsim/monitoring/prometheus/wal").rc == 0


@pytest.mark.parametrize("path, uid", [("alertmanager/discord_webhook_url", 65534),
                                       ("alertmanager/deadman_url", 65534),
                                       ("grafana/admin_password", 472),
                                       ("grafana/postgres_password", 472)])
def test_each_secret_is_a_file_of_its_reader_alone(host, path, uid):
    secret = host.file(f"{PROJECT}/secrets/{path}")
    assert secret.mode == 0o600 and secret.uid == uid


def test_no_secret_is_in_a_configuration_file_or_a_play_output(host):
    configs = host.check_output(f"cat {PROJECT}/compose.yaml {PROJECT}/alertmanager/alertmanager.yml "
                                f"{PROJECT}/prometheus/prometheus.yml {PROJECT}/grafana/provisioning/*/*.yaml")
    # Every play's output (MUSICSIM_PLAYS_LOG, .config/molecule/config.yml).
    outputs = pathlib.Path(os.environ["MUSICSIM_PLAYS_LOG"]).read_text(errors="replace")
    assert "monitoring : " in outputs
    for secret in SECRETS:
        assert secret not in configs
        assert secret not in outputs, secret


@pytest.mark.parametrize("port", [9090, 9093, 9100, 8080, 9115, 3000])
def test_no_monitoring_port_answers_on_the_host_address(host, port):
    address = host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]
    assert host.run(f"timeout 3 bash -c '</dev/tcp/{address}/{port}'").rc != 0


def _received(host):
    lines = host.check_output("cat /var/lib/alert-sink/requests.jsonl 2>/dev/null || true").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("alert, label", [("TargetMissing", "megapi-log"), ("ContainerAbsent", "megapi")])
def test_the_stopped_container_reached_discord_as_an_alert(host, alert, label):
    """The side effect stopped megapi: the alert fired and Alertmanager
    posted it to the Discord webhook, in Discord's format."""
    discord = [r for r in _received(host) if r["path"] == "/api/webhooks/1/throwaway-discord-token"]
    titles = [e.get("title", "") for r in discord for e in r["body"].get("embeds", [])]
    firing = [t for t in titles if alert in t and label in t]
    assert firing, titles
    assert "FIRING" in firing[0]


def test_the_watchdog_goes_to_the_dead_mans_switch_only(host):
    # Sent every minute in this scenario; the side effect emptied the log.
    for _ in range(30):
        received = _received(host)
        if any(r["path"].startswith("/deadman/") for r in received):
            break
        time.sleep(5)
    deadman = [r["body"] for r in received if r["path"].startswith("/deadman/")]
    assert any(a["labels"]["alertname"] == "Watchdog" for body in deadman for a in body["alerts"])
    discord = json.dumps([r["body"] for r in received if r["path"].startswith("/api/webhooks/")])
    assert "Watchdog" not in discord
