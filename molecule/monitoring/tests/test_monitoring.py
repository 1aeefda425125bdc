"""Monitoring as the site runs it: every declared target up, each public
route probed through the proxy with its certificate, the alert rules pass
their unit tests and the deployed configuration its checkers, Grafana
serves the provisioned data source and dashboards to its admin alone,
nothing is published, the secrets stay in their files, and the side effect
(megapi stopped) reached the Discord webhook as an alert; and (faults.yml) a
killed server and restarts of the machine left every service up with its
data."""

import base64
import json
import os
import pathlib
import re
import shlex
import time
import urllib.parse

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
    # Fresh certificates from the ACME test server, 90 days as Let's
    # Encrypt's: nothing to alert on.
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
    # The 300 songs megapi copied from its snapshot at its first start.
    assert out.rc == 0 and int(out.stdout) == 300, out.stdout + out.stderr
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
    assert _psql_as_reader(host, "SELECT count(*) FROM music_library").stdout.strip() == "300"


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


def _panel_queries():
    """(dashboard, panel title, refId, data source uid, query) of every panel."""
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))
    for path in sorted((HERE / "../../../roles/monitoring/files/dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                source = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                yield path.stem, panel["title"], target["refId"], source, target.get("expr") or target.get("rawSql")


# Panels with nothing to show on this scenario's site, and why. A panel
# listed here that shows data fails too: the reason no longer holds.
EXPECTED_EMPTY = {
    ("host", "Last good backup"): "no backup runs in this scenario (molecule/backup and the demo's backup step "
                                  "write the figure, and the demo's site checks it)",
}


def _resolved(host, board, query):
    """The query with the dashboard's variables as Grafana sets them on
    opening it: each query variable's first value."""
    spec = json.loads((HERE / f"../../../roles/monitoring/files/dashboards/{board}.json").read_text())
    for variable in spec.get("templating", {}).get("list", []):
        metric, label = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"]).groups()
        values = prometheus(host, "/api/v1/label/" + label + "/values?" + urllib.parse.urlencode({"match[]": metric}))
        assert values["data"], f"{board}: no value for ${variable['name']}"
        query = query.replace("${" + variable["name"] + "}", values["data"][0]).replace("$" + variable["name"], values["data"][0])
    assert "$" not in query, f"{board}: a variable this test does not know in {query}"
    return query


@pytest.mark.parametrize("board, title, ref, source, query", list(_panel_queries()),
                         ids=[f"{b}:{t}:{r}" for b, t, r, _, _ in _panel_queries()])
def test_every_dashboard_panel_shows_data(host, board, title, ref, source, query):
    """Each panel's query as Grafana sends it on opening the dashboard (the
    last 6 hours, variables resolved): PromQL through Prometheus's API, SQL
    as the read-only user. A panel that shows nothing fails, unless listed
    in EXPECTED_EMPTY with its reason."""
    query = _resolved(host, board, query)
    if source == "library":
        out = _psql_as_reader(host, query)
        assert out.rc == 0, out.stderr
        rows = [line for line in out.stdout.splitlines() if line.strip()]
    else:
        assert source == "prometheus", source
        end = time.time()
        rows = prometheus(host, "/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": query, "start": end - 6 * 3600, "end": end, "step": 20}))["data"]["result"]
    if (board, title) in EXPECTED_EMPTY:
        assert rows == [], f"listed as empty ({EXPECTED_EMPTY[board, title]}) but shows {rows[:3]}"
    else:
        assert rows, f"{board}: {title} ({ref}) shows nothing: {query}"


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


DISCORD = "/api/webhooks/1/throwaway-discord-token"


def _discord_titles(host):
    return [(r["time"], e.get("title", "")) for r in _received(host) if r["path"] == DISCORD
            for e in r["body"].get("embeds", [])]


def _times(host):
    return json.loads(host.file("/var/tmp/alert-times.json").content_string)


@pytest.mark.parametrize("alert, label", [("TargetMissing", "megapi-log"), ("ContainerAbsent", "megapi")])
def test_the_stopped_container_reached_discord_as_an_alert(host, alert, label):
    """The side effect stopped megapi: the alert fired and Alertmanager
    posted it to the Discord webhook, in Discord's format."""
    titles = _discord_titles(host)
    firing = [(when, t) for when, t in titles if alert in t and label in t and "FIRING" in t]
    assert firing, titles
    print(f"\n{alert}: on Discord {firing[0][0] - _times(host)['megapi_stopped']:.0f} s after megapi stopped")


def test_the_alert_is_resolved_on_discord_when_the_container_is_back(host):
    titles = _discord_titles(host)
    resolved = [when for when, t in titles if t.startswith("[RESOLVED] ContainerAbsent")]
    assert resolved, titles
    print(f"\nContainerAbsent resolved on Discord {resolved[0] - _times(host)['megapi_started']:.0f} s "
          "after megapi started")


def test_a_data_disk_at_95_percent_reached_discord_and_resolved(host):
    """The side effect mounted a small disk of its own after node-exporter
    started and filled it to 95%: node-exporter measured it there (not the
    directory under it), HostDiskAlmostFull named it on Discord, and
    resolved once the disk was gone."""
    disk = "/srv/data-disk"
    messages = [(r["time"], json.dumps(r["body"])) for r in _received(host) if r["path"] == DISCORD]
    firing = [when for when, body in messages if "[FIRING" in body and "HostDiskAlmostFull" in body
              and f"{disk} 95% full" in body]
    assert firing, messages
    resolved = [when for when, body in messages if "[RESOLVED] HostDiskAlmostFull" in body and disk in body]
    assert resolved and resolved[0] > firing[0]
    print(f"\nHostDiskAlmostFull: on Discord {firing[0] - _times(host)['disk_filled']:.0f} s after the disk"
          f" was filled, resolved {resolved[0] - _times(host)['disk_alerted']:.0f} s after it was freed")


def test_every_message_to_discord_is_one_discord_accepts(host):
    """The receiver checks each as Discord does (content, embed and size
    limits) and would have answered 400 to a message Discord refuses."""
    discord = [r for r in _received(host) if r["path"].startswith("/api/webhooks/")]
    assert len(discord) >= 3
    assert [r["errors"] for r in discord if r["errors"]] == []


def test_the_dead_mans_switch_hears_nothing_once_prometheus_stops(host):
    """The side effect stopped Prometheus: the Watchdog left Alertmanager and
    no ping reached the dead man's switch for two of its intervals (20 s
    here), which is what makes its service raise the alarm."""
    times = _times(host)
    pings = [r["time"] for r in _received(host) if r["path"].startswith("/deadman/")]
    assert any(t < times["prometheus_stopped"] for t in pings), "no ping before Prometheus stopped"
    assert times["silence_end"] - times["watchdog_gone"] >= 40
    heard = [t for t in pings if times["watchdog_gone"] <= t <= times["silence_end"]]
    assert heard == []
    last = max(t for t in pings if t < times["watchdog_gone"])
    print(f"\nPrometheus stopped: the last ping {last - times['prometheus_stopped']:.0f} s later, then none "
          f"for {times['silence_end'] - last:.0f} s")


def test_the_watchdog_goes_to_the_dead_mans_switch_only(host):
    # Sent every 20 s in this scenario, again once Prometheus is back.
    silence_end = _times(host)["silence_end"]
    for _ in range(30):
        received = _received(host)
        if any(r["path"].startswith("/deadman/") and r["time"] > silence_end for r in received):
            break
        time.sleep(5)
    assert any(r["path"].startswith("/deadman/") and r["time"] > silence_end for r in received), \
        "no ping once Prometheus was back"
    deadman = [r["body"] for r in received if r["path"].startswith("/deadman/")]
    assert any(a["labels"]["alertname"] == "Watchdog" for body in deadman for a in body["alerts"])
    discord = json.dumps([r["body"] for r in received if r["path"].startswith("/api/webhooks/")])
    assert "Watchdog" not in discord


def _faults(host):
    return json.loads(host.file("/var/tmp/faults.json").content_string)


def test_a_killed_server_is_started_again_by_docker(host):
    """The side effect killed Postgres's server from outside Docker, as the
    OOM killer would: Docker started it again, healthy."""
    killed = _faults(host)["postgres_killed"]
    print(f"\nPostgres killed: healthy again within {killed['seconds']} s")
    assert killed["restarts_after"] > killed["restarts_before"]


def test_every_service_comes_back_after_each_restart_of_the_machine(host):
    """The side effect restarted the machine ten times over, as reboots
    would: each time every service came back healthy with nothing done (an
    unless-stopped service Docker had signalled stayed down)."""
    faults = _faults(host)
    seconds = [r["seconds"] for r in faults["restarts"]]
    watching = [r["watching"] for r in faults["restarts"]]
    print(f"\n{len(seconds)} restarts; every service healthy after {seconds} s, "
          f"every Prometheus target up after {watching} s")
    assert len(seconds) >= 10
    for restart in faults["restarts"]:
        assert len(restart["services"]) == faults["services"]
        assert all(line.endswith("(healthy)") for line in restart["services"]), restart["services"]


def test_the_data_outlives_the_restarts(host):
    """The library in Postgres is the same, and Prometheus still answers
    for a time before the first restart."""
    faults = _faults(host)
    assert faults["library_before"].startswith("300 ") and faults["library_after"] == faults["library_before"]
    before = faults["first_restart"] - 30
    result = prometheus(host, f"/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D&time={before}")["data"]["result"]
    assert [r["value"][1] for r in result] == ["1"], result
