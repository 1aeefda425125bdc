"""Each service image, started by its compose file, is healthy and does one
real thing: the operation its stack relies on."""

import base64
import json
import pathlib
import shlex
import sys
import time

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "harness"))
from front_end import api_address  # noqa: E402  the API address the pages call, shared with other scenarios

MANIFEST = pathlib.Path(__file__).resolve().parents[3] / "tests" / "images" / "images.yml"
# Every image in the manifest runs as check-NAME (see checks/NAME/compose.yml).
CONTAINERS = [f"check-{name}" for name in yaml.safe_load(MANIFEST.read_text())["images"]]


def fetch(host, container, url, data=None):
    """GET (or POST data) with the image's own wget, as its health check does."""
    cmd = ["docker", "exec", container, "wget", "-qO-"]
    if data is not None:
        cmd += ["--header=Content-Type: application/json", f"--post-data={data}"]
    return host.check_output(" ".join(f"'{part}'" for part in cmd + [url]))


@pytest.mark.parametrize("container", CONTAINERS, ids=CONTAINERS)
def test_health_check_passes(host, container):
    state = json.loads(host.check_output(f"docker inspect --format '{{{{json .State}}}}' {container}"))
    assert state["Running"]
    assert state["Health"]["Status"] == "healthy", state["Health"]["Log"][-1:]


def test_memory_limit_applied(host):
    # Every service has a limit, none above 1 GiB: the whole site fits a 4 GB Pi.
    for container in CONTAINERS:
        limit = int(host.check_output(f"docker inspect --format '{{{{.HostConfig.Memory}}}}' {container}"))
        assert 0 < limit <= 2**30, container


def test_postgres_ran_initdb_and_answers_over_tcp(host):
    # Password login over TCP, as megapi connects (at the container's own
    # name: loopback is trusted, as in the official image); the row came
    # from initdb.d.
    out = host.check_output(
        "docker exec -e PGPASSWORD=throwaway-test-password check-postgres "
        "psql -h check-postgres -U megapi -d music -tAc 'SELECT note FROM probe'"
    )
    assert out == "written by initdb.d"


def test_postgres_15_is_debian_12s_with_the_same_contract(host):
    # The megapi role's major upgrade starts from it: its data directory
    # says 15, and the init script and password login work as on 17.
    out = host.check_output(
        "docker exec -e PGPASSWORD=throwaway-test-password check-postgres-15 "
        "psql -h check-postgres-15 -U megapi -d music -tAc "
        "\"SELECT current_setting('server_version_num')::int / 10000, note FROM probe\""
    )
    assert out == "15|written by initdb.d"
    assert host.check_output("docker exec check-postgres-15 cat /var/lib/postgresql/data/PG_VERSION") == "15"


def test_postgres_refuses_a_wrong_password(host):
    result = host.run(
        "docker exec -e PGPASSWORD=wrong check-postgres "
        "psql -h check-postgres -U megapi -d music -tAc 'SELECT 1'"
    )
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_mariadb_user_reads_its_database_over_tcp(host):
    out = host.check_output(
        "docker exec check-mariadb mariadb -h 127.0.0.1 -u mlflow "
        "-pthrowaway-test-password mlflow -N -e 'SELECT note FROM probe'"
    )
    assert out == "written by initdb.d"


def test_mariadb_user_has_no_other_database(host):
    result = host.run(
        "docker exec check-mariadb mariadb -h 127.0.0.1 -u mlflow "
        "-pthrowaway-test-password -N -e 'CREATE DATABASE intruder'"
    )
    assert result.rc != 0
    assert "Access denied" in result.stderr


def query(host, promql):
    body = fetch(host, "check-prometheus", f"http://127.0.0.1:9090/api/v1/query?query={promql}")
    return {r["metric"]["job"]: r["value"][1] for r in json.loads(body)["data"]["result"]}


def test_prometheus_scrapes_every_exporter(host):
    # node-exporter, cAdvisor, postgres-exporter (which reaches Postgres:
    # pg_up) and a blackbox probe, each scraped for real.
    deadline = time.time() + 60
    while True:
        up = query(host, "up")
        ok = up == {"prometheus": "1", "node": "1", "cadvisor": "1", "postgres": "1", "blackbox-http": "1"}
        if ok or time.time() > deadline:
            break
        time.sleep(3)
    assert ok, up
    assert query(host, "pg_up") == {"postgres": "1"}
    assert query(host, "probe_success") == {"blackbox-http": "1"}
    assert float(query(host, "node_memory_MemTotal_bytes")["node"]) > 0


def test_cadvisor_reports_each_running_container_with_its_memory_limit(host):
    body = fetch(host, "check-prometheus", "http://127.0.0.1:9090/api/v1/query?query=container_spec_memory_limit_bytes")
    limits = {r["metric"]["name"]: int(r["value"][1]) for r in json.loads(body)["data"]["result"]}
    assert limits["check-prometheus"] == 512 * 2**20 and limits["check-cadvisor"] == 128 * 2**20, limits
    # A container is reported while it runs, and no longer once stopped.
    host.check_output("docker run -d --name check-short-lived --entrypoint sleep musicsim-test/cadvisor:1 300")
    try:
        assert 'name="check-short-lived"' in fetch(host, "check-cadvisor", "http://127.0.0.1:8080/metrics")
        host.check_output("docker stop --time 1 check-short-lived")
        assert 'name="check-short-lived"' not in fetch(host, "check-cadvisor", "http://127.0.0.1:8080/metrics")
    finally:
        host.run("docker rm -f check-short-lived")


def test_prometheus_reloads_its_configuration(host):
    # --web.enable-lifecycle: the monitoring role reloads rather than restarts.
    fetch(host, "check-prometheus", "http://127.0.0.1:9090/-/reload", data="")
    metrics = fetch(host, "check-prometheus", "http://127.0.0.1:9090/metrics")
    assert "prometheus_config_last_reload_successful 1" in metrics


def test_alertmanager_accepts_and_lists_an_alert(host):
    alert = json.dumps([{"labels": {"alertname": "ImageCheck", "severity": "info"}}])
    fetch(host, "check-alertmanager", "http://127.0.0.1:9093/api/v2/alerts", data=alert)
    alerts = json.loads(fetch(host, "check-alertmanager", "http://127.0.0.1:9093/api/v2/alerts"))
    assert [a["labels"]["alertname"] for a in alerts] == ["ImageCheck"]
    receivers = [r["name"] for r in alerts[0]["receivers"]]
    assert receivers == ["discord"]


def python_http(host, container, url, data=None, headers=None, method=None):
    """An HTTP request made with Python inside a container that has no wget."""
    script = (
        "import sys, urllib.request; "
        f"r = urllib.request.Request({url!r}, data={data!r}, headers={headers or {}!r}, method={method!r}); "
        "sys.stdout.write(urllib.request.urlopen(r).read().decode())"
    )
    return host.check_output(f"docker exec {container} python3 -c {shlex.quote(script)}")


def megapi_login(host, username):
    """megapi's OAuth2 form: its `username` field is looked up as the email."""
    return host.run("docker exec check-megapi python3 -c " + shlex.quote(
        "import sys, urllib.request; "
        "r = urllib.request.Request('http://127.0.0.1:8000/auth/token', "
        f"data=b'username={username}&password=throwaway-admin-password', "
        "headers={'Content-Type': 'application/x-www-form-urlencoded'}); "
        "sys.stdout.write(urllib.request.urlopen(r).read().decode())"))


def megapi_token(host):
    login = megapi_login(host, "admin%40music-sim.test")
    assert login.rc == 0, login.stderr
    return json.loads(login.stdout)["access_token"]


def test_megapi_created_its_admin_in_postgres(host):
    out = host.check_output(
        "docker exec check-postgres psql -U megapi -d music -tAc "
        "\"SELECT email FROM users WHERE username = 'admin' AND is_admin\""
    )
    assert out == "admin@music-sim.test"


def test_megapi_login_by_email_and_metrics(host):
    token = megapi_token(host)
    me = python_http(host, "check-megapi", "http://127.0.0.1:8000/auth/users/me",
                     headers={"Authorization": f"Bearer {token}"})
    assert json.loads(me)["email"] == "admin@music-sim.test" and json.loads(me)["is_admin"]
    metrics = python_http(host, "check-megapi", "http://127.0.0.1:8000/metrics")
    assert 'http_requests_total{handler="/auth/token"' in metrics


def test_megapi_refuses_a_login_by_username(host):
    # The admin's username is not a login: megapi looks the form's
    # `username` up as an email.
    login = megapi_login(host, "admin")
    assert login.rc != 0 and "401" in login.stderr


def test_megapi_copied_the_snapshots_songs_into_postgres(host):
    # Its first start copies core/data/music.db (300 songs) into
    # music_library; its own endpoints read them back.
    assert python_http(host, "check-megapi", "http://127.0.0.1:8000/music_library/count") == "300"
    auth = {"Authorization": f"Bearer {megapi_token(host)}"}
    song = json.loads(python_http(host, "check-megapi", "http://127.0.0.1:8000/music_library/song/1", headers=auth))
    assert song["id"] == 1 and song["row"]["filepath"].endswith(".mp3")
    out = host.check_output("docker exec check-postgres psql -U megapi -d music -tAc "
                            "\"SELECT count(DISTINCT artist_folder) FROM music_library\"")
    artists = json.loads(python_http(host, "check-megapi", "http://127.0.0.1:8000/music_library/artists",
                                     headers=auth))
    assert len(artists) == int(out) > 1


def test_web_serves_upstreams_pages_with_the_api_address_baked_in(host):
    def page(path):
        return python_http(host, "check-web", "http://127.0.0.1:3000" + path)
    assert "<title>Music Similiarity</title>" in page("/")  # (sic: upstream's title)
    # The address built in (images.yml's dockerfile_args), in the script
    # the sign-in form runs.
    assert api_address(page) == "https://api.music-sim.test"
    missing = host.run("docker exec check-web python3 -c " + shlex.quote(
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/no-such-page')"))
    assert missing.rc != 0 and "HTTP Error 404" in missing.stderr


def test_the_browser_renders_the_front_ends_sign_in_form(host):
    # Chromium, headless, driven through WebDriver, as the app scenario's
    # browser test drives it; the form is what upstream's script renders.
    script = (
        "from selenium import webdriver; from selenium.webdriver.chrome.service import Service\n"
        "o = webdriver.ChromeOptions(); o.binary_location = '/usr/bin/chromium'\n"
        "[o.add_argument(a) for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage')]\n"
        "d = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=o)\n"
        "d.get('http://check-web:3000/sign-in')\n"
        "print(d.title, '|', d.find_element('id', 'email').get_attribute('placeholder')); d.quit()\n"
    )
    out = host.check_output(f"docker exec check-browser python3 -c {shlex.quote(script)}")
    assert out == "Music Similiarity | your email"


def test_node_installs_and_builds_a_locked_project_with_npm(host):
    # What the web role's Dockerfile does: npm ci from a lock file, then npm
    # run build, as an unprivileged user; no registry is needed for a project
    # without dependencies.
    package = json.dumps({"name": "p", "version": "1.0.0",
                          "scripts": {"build": "node -e \"require('fs').writeFileSync('built', 'yes')\""}})
    lock = json.dumps({"name": "p", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
                       "packages": {"": {"name": "p", "version": "1.0.0"}}})
    script = (
        "set -e; mkdir -p /tmp/p && cd /tmp/p; export npm_config_cache=/tmp/.npm; "
        f"printf %s {shlex.quote(package)} > package.json; printf %s {shlex.quote(lock)} > package-lock.json; "
        "npm ci --ignore-scripts --no-audit --no-fund >/dev/null && npm run build >/dev/null && cat built"
    )
    assert host.check_output(f"docker exec check-node sh -c {shlex.quote(script)}") == "yes"


def test_mlflow_keeps_experiments_in_mariadb(host):
    created = python_http(
        host, "check-mlflow", "http://mlflow:5000/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": "image-check"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    experiment_id = json.loads(created)["experiment_id"]
    out = host.check_output(
        "docker exec check-mariadb mariadb -u mlflow -pthrowaway-test-password mlflow -N -e "
        f"\"SELECT name FROM experiments WHERE experiment_id = {int(experiment_id)}\""
    )
    assert out == "image-check"


def test_locust_swarms_the_api(host):
    python_http(host, "check-locust", "http://127.0.0.1:8089/swarm",
                data=b"user_count=2&spawn_rate=2",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        deadline = time.time() + 60
        while True:
            stats = json.loads(python_http(host, "check-locust", "http://127.0.0.1:8089/stats/requests"))
            rows = {row["name"]: row for row in stats["stats"]}
            done = rows.get("/auth/users/me", {}).get("num_requests", 0) >= 5
            if done or time.time() > deadline:
                break
            time.sleep(2)
        assert done, rows
        assert stats["total_fail_per_sec"] == 0 and stats["fail_ratio"] == 0, stats["errors"]
    finally:
        python_http(host, "check-locust", "http://127.0.0.1:8089/stop", data=b"")


S3_CLIENT = (
    "from minio import Minio; "
    "c = Minio('minio:9000', access_key={key!r}, secret_key={secret!r}, secure=False); "
)


def s3(host, code, key="throwaway", secret="throwaway-s3-secret"):
    """Run S3 client code (the MinIO SDK, as megapi uses it) in check-megapi."""
    script = S3_CLIENT.format(key=key, secret=secret) + code
    return host.run(f"docker exec check-megapi python3 -c {shlex.quote(script)}")


def make_bucket(host, name):
    result = s3(host, f"c.bucket_exists({name!r}) or c.make_bucket({name!r})")
    assert result.rc == 0, result.stderr


def test_s3_refuses_wrong_and_missing_credentials(host):
    wrong = s3(host, "c.list_buckets()", secret="not-the-password")
    assert wrong.rc != 0 and "SignatureDoesNotMatch" in wrong.stderr
    unknown = s3(host, "c.list_buckets()", key="nobody")
    assert unknown.rc != 0 and "InvalidAccessKeyId" in unknown.stderr
    anonymous = host.run(
        "docker exec check-megapi python3 -c "
        + shlex.quote("import urllib.request; urllib.request.urlopen('http://minio:9000/')")
    )
    assert anonymous.rc != 0 and "403" in anonymous.stderr


def test_s3_health_and_console_answer(host):
    for url in ("http://minio:9000/minio/health/live", "http://minio:9000/minio/health/ready",
                "http://minio:9001/"):
        python_http(host, "check-megapi", url)


def test_megapi_round_trips_an_object_kept_on_disk(host):
    make_bucket(host, "music")
    # Written with megapi's client and credentials, read back through its
    # own endpoint (what the web front's player streams).
    result = s3(host, "import io; c.put_object('music', 'track-001.mp3', io.BytesIO(b'ID3 not really a song'), 21)")
    assert result.rc == 0, result.stderr
    auth = {"Authorization": f"Bearer {megapi_token(host)}", "Content-Type": "application/json"}
    body = python_http(host, "check-megapi", "http://127.0.0.1:8000/minio/stream-song/",
                       data=json.dumps({"file_path": "track-001.mp3"}).encode(), headers=auth)
    assert body == "ID3 not really a song"
    # The object is a file in the data volume: what a backup of it copies.
    files = host.check_output("docker exec check-minio find /data/music -type f")
    assert "/data/music/track-001.mp3._S3rver_object" in files.split()


def test_mlflow_serves_artifacts_from_s3(host):
    make_bucket(host, "mlflow")
    url = "http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/image-check/model.txt"
    python_http(host, "check-mlflow", url, data=b"weights", method="PUT")
    assert python_http(host, "check-mlflow", url) == "weights"
    files = host.check_output("docker exec check-minio find /data/mlflow -type f")
    assert "/data/mlflow/image-check/model.txt._S3rver_object" in files.split()


HTTP_REQUEST = """
import json, sys, urllib.error, urllib.request
method, url, headers, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
request = urllib.request.Request(url, data=body.encode() or None, headers=headers, method=method)


class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # a redirect is an answer to check, not to follow


try:
    reply = urllib.request.build_opener(Keep).open(request)
except urllib.error.HTTPError as error:
    reply = error
print(reply.status)
print(reply.read().decode() if reply.status < 300 or reply.status >= 400 else reply.headers["Location"])
"""


def http(host, url, method="GET", headers=None, body="", container=None):
    """Any HTTP request, made with Python on the test host or in a container;
    returns (status, body text) whatever the status."""
    where = f"docker exec {container} " if container else ""
    out = host.check_output(
        f"{where}python3 -c {shlex.quote(HTTP_REQUEST)} {method} {shlex.quote(url)} "
        f"{shlex.quote(json.dumps(headers or {}))} {shlex.quote(body)}"
    )
    status, _, text = out.partition("\n")
    return int(status), text


def grafana(host, path, password="throwaway-grafana-password"):
    """GET a Grafana API path as the admin; returns (status, body)."""
    basic = base64.b64encode(f"admin:{password}".encode()).decode()
    status, body = http(host, "http://127.0.0.1:3000" + path, headers={"Authorization": f"Basic {basic}"},
                        container="check-grafana")
    return status, json.loads(body)


def test_grafana_admin_password_comes_from_the_secret_file(host):
    assert grafana(host, "/api/datasources")[0] == 200
    assert grafana(host, "/api/datasources", password="admin")[0] == 401


def test_grafana_datasource_reaches_prometheus(host):
    status, sources = grafana(host, "/api/datasources")
    assert [(s["name"], s["url"]) for s in sources] == [("Prometheus", "http://prometheus:9090")]
    status, health = grafana(host, "/api/datasources/uid/prometheus/health")
    assert (status, health["status"]) == (200, "OK"), health


def test_grafana_loaded_the_dashboard_and_discord_contact_point(host):
    status, found = grafana(host, "/api/search")
    assert [(d["uid"], d["folderTitle"]) for d in found] == [("megapi-fastapi", "music-sim")]
    status, points = grafana(host, "/api/v1/provisioning/contact-points")
    assert [(p["name"], p["type"]) for p in points] == [("discord", "discord")]
    assert points[0]["settings"]["url"] == "https://discord.invalid/api/webhooks/0/throwaway"
    assert points[0]["settings"]["message"] == "{{ len .Alerts.Firing }} firing, cost $0"


@pytest.mark.parametrize("broken, message", [
    ("datasources/two-defaults.yaml:apiVersion: 1\ndatasources:\n"
     "  - {name: A, type: prometheus, isDefault: true}\n  - {name: B, type: loki, isDefault: true}\n",
     "Only one datasource per organization can be marked as default"),
    ("alerting/bad.yaml:contactPoints:\n  - name: discord\n    receivers:\n      - {uid: d, type: discord}\n",
     "discord needs settings.url"),
    ("datasources/bad.yaml:datasources: [name: A\n", "not valid YAML"),
])
def test_grafana_refuses_to_start_on_a_broken_provisioning_file(host, broken, message):
    # Grafana stops on these; so must the stand-in, or the tests would miss them.
    name, _, content = broken.partition(":")
    root = host.check_output("mktemp -d")
    host.check_output(f"mkdir -p {root}/datasources {root}/dashboards {root}/alerting && chmod -R a+rX {root}")
    host.check_output(f"printf %s {shlex.quote(content)} > {root}/{name} && chmod a+r {root}/{name}")
    result = host.run(f"docker run --rm -v {root}:/etc/grafana/provisioning:ro musicsim-test/grafana:1")
    host.run(f"rm -rf {root}")
    assert result.rc == 1
    assert message in result.stderr


NPM_API = "http://127.0.0.1:81/api"
NPM_ADMIN = {"identity": "admin@music-sim.test", "secret": "throwaway-npm-password"}
# nginx-proxy-manager built from its source at the role's release and the
# newest: the same checks, made inside each container (the API on 81, the
# proxy on 80).
NPM_CONTAINERS = ["check-nginx-proxy-manager-2.13.5", "check-nginx-proxy-manager-2.15.1"]


def npm(host, container, method, path, body=None, token=None):
    """Call a proxy's admin API, as the proxy role does."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, text = http(host, NPM_API + path, method, headers, json.dumps(body) if body is not None else "",
                        container=container)
    return status, json.loads(text)


@pytest.fixture(scope="module", params=NPM_CONTAINERS)
def npm_token(host, request):
    """(container, token of its admin)."""
    container = request.param
    # A fresh install has no user (2.13+): the first one is made without a token.
    if not npm(host, container, "GET", "/")[1]["setup"]:
        status, user = npm(host, container, "POST", "/users", {
            "name": "Admin", "nickname": "admin", "email": NPM_ADMIN["identity"], "roles": ["admin"],
            "is_disabled": False, "auth": {"type": "password", "secret": NPM_ADMIN["secret"]}})
        assert status == 201, user
    assert npm(host, container, "GET", "/")[1]["setup"] is True
    status, token = npm(host, container, "POST", "/tokens", NPM_ADMIN)
    assert status == 200, token
    return container, token["token"]


def proxy_host(host, npm_token, domain, upstream, **fields):
    """The proxy host for domain, created if missing (no upsert in the API)."""
    container, token = npm_token
    status, hosts = npm(host, container, "GET", "/nginx/proxy-hosts", token=token)
    found = [h for h in hosts if h["domain_names"] == [domain]]
    if found:
        return found[0]
    name, port = upstream.split(":")
    status, created = npm(host, container, "POST", "/nginx/proxy-hosts", dict(
        domain_names=[domain], forward_scheme="http", forward_host=name, forward_port=int(port), **fields),
        token=token)
    assert status == 201, created
    return created


@pytest.mark.parametrize("container, version", [
    ("check-nginx-proxy-manager-2.13.5", {"major": 2, "minor": 13, "revision": 5}),
    ("check-nginx-proxy-manager-2.15.1", {"major": 2, "minor": 15, "revision": 1}),
])
def test_npm_from_source_is_its_release_on_debian_nginx(host, container, version):
    assert npm(host, container, "GET", "/")[1]["version"] == version
    assert "nginx/1.26" in host.check_output(f"docker exec {container} nginx -v 2>&1")
    assert host.check_output(f"docker exec {container} certbot --version").startswith("certbot ")


def test_npm_makes_no_user_without_a_token_once_the_first_exists(host, npm_token):
    container, _ = npm_token
    intruder = {"name": "Intruder", "nickname": "x", "email": "x@music-sim.test", "roles": ["admin"],
                "is_disabled": False, "auth": {"type": "password", "secret": "intruder-password"}}
    # Upstream hides the route once the first user exists.
    status, reply = npm(host, container, "POST", "/users", intruder)
    assert status == 404, reply
    status, reply = npm(host, container, "POST", "/tokens", {"identity": "x@music-sim.test",
                                                             "secret": "intruder-password"})
    assert status == 400 and reply["error"]["message"] == "Invalid email or password", reply
    # Without a token, never the hosts.
    status, reply = npm(host, container, "GET", "/nginx/proxy-hosts")
    assert status == 404 and not isinstance(reply, list), reply


def test_npm_routes_a_proxy_host_to_its_upstream(host, npm_token):
    container, _ = npm_token
    proxy_host(host, npm_token, "api.music-sim.test", "check-megapi:8000")
    # Through port 80, as a browser reaches it.
    status, body = http(host, "http://127.0.0.1/openapi.json", headers={"Host": "api.music-sim.test"},
                        container=container)
    assert status == 200
    assert "/auth/token" in json.loads(body)["paths"]
    # A name no proxy host claims gets the default site, not the API.
    status, body = http(host, "http://127.0.0.1/", headers={"Host": "other.music-sim.test"}, container=container)
    assert "Congratulations" in body
    status, body = http(host, "http://127.0.0.1/openapi.json", headers={"Host": "other.music-sim.test"},
                        container=container)
    assert "/auth/token" not in body


def test_npm_access_list_denies_clients_outside_the_lan(host, npm_token):
    container, token = npm_token
    status, lists = npm(host, container, "GET", "/nginx/access-lists", token=token)
    found = [a for a in lists if a["name"] == "lan-only"]
    if not found:
        # Only a documentation range: the client's address is outside it.
        status, created = npm(host, container, "POST", "/nginx/access-lists", {
            "name": "lan-only", "satisfy_any": True, "pass_auth": False, "items": [],
            "clients": [{"address": "192.0.2.0/24", "directive": "allow"}]}, token=token)
        assert status == 201, created
        found = [created]
    proxy_host(host, npm_token, "mlflow.music-sim.test", "check-mlflow:5000", access_list_id=found[0]["id"])
    status, _ = http(host, "http://127.0.0.1/health", headers={"Host": "mlflow.music-sim.test"}, container=container)
    assert status == 403


@pytest.mark.parametrize("change, message", [
    ({"forward_port": 8000, "bogus": True}, "must NOT have additional properties"),
    ({"forward_port": 8000, "domain_names": ["api.music-sim.test"]}, "api.music-sim.test is already in use"),
])
def test_npm_refuses_what_the_upstream_schema_refuses(host, npm_token, change, message):
    container, token = npm_token
    proxy_host(host, npm_token, "api.music-sim.test", "check-megapi:8000")
    body = dict({"domain_names": ["refused.music-sim.test"], "forward_scheme": "http",
                 "forward_host": "check-megapi"}, **change)
    status, reply = npm(host, container, "POST", "/nginx/proxy-hosts", body, token=token)
    assert status == 400
    assert message in reply["error"]["message"]


def test_npm_keeps_its_hosts_across_a_restart(host, npm_token):
    # State lives in the data volume: what a backup copies and a restore brings back.
    container, _ = npm_token
    proxy_host(host, npm_token, "api.music-sim.test", "check-megapi:8000")
    host.check_output(f"docker restart {container}")
    for _ in range(60):
        if host.run(f"docker exec {container} check-health").rc == 0:
            break
        time.sleep(1)
    status, _ = http(host, "http://127.0.0.1/openapi.json", headers={"Host": "api.music-sim.test"},
                     container=container)
    assert status == 200
    assert host.run(f"docker exec {container} test -s /data/database.sqlite").rc == 0


def test_pebble_serves_its_directory_and_the_root_it_issues_from(host):
    directory = json.loads(host.check_output(
        "docker exec check-pebble curl -sf --cacert /etc/pebble/ca.pem https://localhost:14000/dir"))
    assert {"newAccount", "newNonce", "newOrder"} <= set(directory)
    root = host.check_output(
        "docker exec check-pebble curl -sf --cacert /etc/pebble/ca.pem https://localhost:15000/roots/0")
    assert root.startswith("-----BEGIN CERTIFICATE-----")


def test_sftp_host_takes_keys_only(host):
    # From the test host, which holds no key it authorizes: sshd answers,
    # offers public keys alone, and lets nobody in.
    address = host.check_output("docker inspect --format '{{.NetworkSettings.Networks.edge.IPAddress}}' check-sftp")
    attempt = host.run(f"ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                       f" -o ConnectTimeout=5 backup@{address} true")
    assert attempt.rc == 255 and "Permission denied (publickey)" in attempt.stderr, attempt.stderr
    assert host.check_output("docker exec check-sftp stat -c '%U %a' /srv/sftp") == "backup 755"
