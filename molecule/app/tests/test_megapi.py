"""megapi behind the proxy on a test host: the api route reaches the API
over HTTPS (a certificate certbot got from the ACME test server, verified),
the API writes and reads Postgres and MinIO, the buckets megapi expects
exist, a Prometheus on the edge network scrapes megapi's /metrics, Postgres
and MinIO are not reachable from outside the host, the env files are root's
alone and never printed by a play, a new revision rebuilds and recreates
megapi alone, and a new major version of Postgres keeps every row."""

import json
import os
import pathlib
import shlex
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "harness"))
import port_probe  # noqa: E402  a port as a client sees it, shared with other scenarios

API = "api.music-sim.test"
ADMIN = ("admin@music-sim.test", "throwaway-admin-password")
SECRETS = ["throwaway-db-pass$word", "throwaway-db-pass%24word", "throwaway-admin-password",
           "throwaway-secret-key-of-at-least-32-chars", "throwaway-minio-password", "throwaway-reader-password"]
BUCKETS = ["music", "temp", "music-net", "openl3"]

# An HTTPS request to the api route, from the client on the edge network
# (prepare.yml: it trusts the ACME server's root). Prints the status, then
# the body.
REQUEST = r"""
import sys, urllib.request, urllib.error
method, path, token, body, ctype = sys.argv[1:6]
r = urllib.request.Request("https://api.music-sim.test" + path, method=method, data=body.encode() or None)
if ctype: r.add_header("Content-Type", ctype)
if token: r.add_header("Authorization", "Bearer " + token)
try:
    reply = urllib.request.urlopen(r, timeout=20)
except urllib.error.HTTPError as e:
    reply = e
print(reply.status)
print(reply.read().decode())
"""


def api(host, method, path, token="", body="", ctype=""):
    out = host.check_output("docker exec browser python3 -c "
                            + " ".join(shlex.quote(a) for a in (REQUEST, method, path, token, body, ctype)))
    status, _, text = out.partition("\n")
    return int(status), text


def login(host, username, password):
    # megapi's OAuth2 form: its `username` field is looked up as the email.
    form = urllib.parse.urlencode({"username": username, "password": password})
    return api(host, "POST", "/auth/token", body=form, ctype="application/x-www-form-urlencoded")


@pytest.fixture(scope="module")
def token(host):
    status, text = login(host, *ADMIN)
    assert status == 200, text
    return json.loads(text)["access_token"]


def inspect(host, name):
    return json.loads(host.check_output(f"docker inspect {name}"))[0]


@pytest.mark.parametrize("name, memory", [("megapi", 512), ("megapi-postgres", 256), ("minio", 512),
                                          ("megapi-postgres-exporter", 64)])
def test_each_service_is_healthy_with_a_memory_limit(host, name, memory):
    state = inspect(host, name)
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == memory * 1024 * 1024


def test_the_api_route_reaches_megapi_through_the_proxy(host):
    status, text = api(host, "GET", "/metrics")
    assert status == 200 and "http_request" in text, text[:500]


def test_the_first_admin_logs_in_by_email_and_is_a_row_in_postgres(host, token):
    status, text = api(host, "GET", "/auth/users/me", token=token)
    assert status == 200 and json.loads(text)["is_admin"] is True
    assert json.loads(text)["email"] == ADMIN[0]
    # Its username is no login: megapi looks the form's field up as an email.
    assert login(host, "admin", ADMIN[1]) == (401, '{"detail":"Invalid credentials"}')
    rows = host.check_output("docker exec megapi-postgres psql -U megapi -d fastapi_db -tAc "
                             "\"SELECT username || ' ' || email FROM users WHERE is_admin\"")
    assert rows == "admin admin@music-sim.test"


def test_the_library_copied_at_first_start_is_read_through_the_route(host, token):
    # megapi's first start copied its snapshot's 300 songs (core/data/music.db)
    # into Postgres; its own endpoints read them back through the proxy.
    assert api(host, "GET", "/music_library/count") == (200, "300")
    status, text = api(host, "GET", "/music_library/artists", token=token)
    rows = host.check_output("docker exec megapi-postgres psql -U megapi -d fastapi_db -tAc "
                             "'SELECT count(DISTINCT artist_folder) FROM music_library'")
    assert status == 200 and len(json.loads(text)) == int(rows) > 1


def test_an_object_in_minio_is_streamed_through_the_api(host, token):
    body = "a music file, or near enough"
    # Put in megapi's bucket with megapi's credentials, from its own container.
    script = ("import io, os; from minio import Minio; c = Minio(os.environ['MINIO_ENDPOINT'], "
              "os.environ['MINIO_ACCESS_KEY'], os.environ['MINIO_SECRET_KEY'], secure=False); "
              f"c.put_object('music', 'round-trip.mp3', io.BytesIO({body.encode()!r}), {len(body)})")
    host.check_output(f"docker exec megapi python -c {shlex.quote(script)}")
    assert api(host, "POST", "/minio/stream-song/", token=token, body=json.dumps({"file_path": "round-trip.mp3"}),
               ctype="application/json") == (200, body)


def test_the_buckets_megapi_expects_exist(host):
    script = ("import os; from minio import Minio; c = Minio(os.environ['MINIO_ENDPOINT'], "
              "os.environ['MINIO_ACCESS_KEY'], os.environ['MINIO_SECRET_KEY'], secure=False); "
              "print(' '.join(sorted(b.name for b in c.list_buckets())))")
    assert host.check_output(f"docker exec megapi python -c {shlex.quote(script)}").split() == sorted(BUCKETS)


def test_nothing_of_the_stack_is_published_on_the_host(host):
    for name in ("megapi", "megapi-postgres", "minio"):
        bindings = inspect(host, name)["HostConfig"]["PortBindings"] or {}
        assert bindings == {}, (name, bindings)


@pytest.mark.parametrize("port", [5432, 9000, 9001, 8000])
def test_database_and_object_store_ports_are_closed_from_outside(host, port):
    # The host's address as another machine sees it: its default-route address.
    # (A UDP "connection" sends nothing; it only picks the route.)
    route = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('192.0.2.1', 9)); print(s.getsockname()[0])"
    address = host.check_output(f"python3 -c {shlex.quote(route)}")
    assert not port_probe.answers(host, ("0.0.0.0", address), port)


def test_prometheus_on_the_edge_network_scrapes_megapi(host):
    # What the monitoring stack will do: a Prometheus on the edge network
    # scrapes the target megapi declares (meta/site.yml: megapi:8000) as job megapi-log,
    # the job the dashboards query.
    config = ("scrape_configs:\n  - job_name: megapi-log\n    scrape_interval: 2s\n"
              "    static_configs:\n      - targets: ['megapi:8000']\n")
    host.check_output(f"mkdir -p /srv/scrape-check && printf %s {shlex.quote(config)} > /srv/scrape-check/prometheus.yml")
    host.check_output("docker run -d --name scrape-check --network edge --memory 128m "
                      "-v /srv/scrape-check/prometheus.yml:/etc/prometheus/prometheus.yml:ro musicsim-test/prometheus:2")
    query = "http://127.0.0.1:9090/api/v1/query?query=" + "sum(up%7Bjob%3D%22megapi-log%22%7D)"
    try:
        for _ in range(30):
            reply = host.run(f"docker exec scrape-check wget -qO- '{query}'")
            result = json.loads(reply.stdout)["data"]["result"] if reply.rc == 0 else []
            if result and result[0]["value"][1] == "1":
                break
            time.sleep(2)
        assert result and result[0]["value"][1] == "1", reply.stdout
    finally:
        host.run("docker rm -f scrape-check")


def test_postgres_is_on_internal_networks_only(host):
    networks = inspect(host, "megapi-postgres")["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["db-readers", "megapi_internal"]
    for network in networks:
        assert host.check_output(f"docker network inspect {network} --format '{{{{ .Internal }}}}'") == "true"
    # The proxy, on the edge network, cannot even resolve it.
    lookup = "import socket\ntry:\n    socket.gethostbyname('postgres')\n    print('found')\nexcept OSError:\n    print('unknown')"
    assert host.check_output(f"docker exec nginx-proxy-manager python3 -c {shlex.quote(lookup)}") == "unknown"


@pytest.mark.parametrize("name", ["megapi.env", "postgres.env", "minio.env", "postgres-exporter.env"])
def test_env_files_are_readable_by_root_only(host, name):
    env = host.file(f"/opt/musicsim/megapi/{name}")
    assert (env.mode, env.user, env.group) == (0o600, "root", "root")


def test_the_exporter_reads_postgres_as_the_read_only_user(host):
    metrics = host.check_output("docker exec megapi-postgres-exporter wget -q -O - http://127.0.0.1:9187/metrics")
    assert "pg_up 1" in metrics.splitlines()
    env = dict(line.split("=", 1) for line in inspect(host, "megapi-postgres-exporter")["Config"]["Env"])
    assert env["DATA_SOURCE_USER"] == "musicsim_reader"
    # The reader's password logs in over the network; the reader is no superuser.
    out = host.run("docker exec -e 'PGPASSWORD=throwaway-reader-password' megapi-postgres psql -h postgres "
                   "-U musicsim_reader -d fastapi_db -tAc 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user'")
    assert out.rc == 0 and out.stdout.strip() == "f", out.stderr


def test_megapi_gets_its_whole_environment(host):
    env = dict(line.split("=", 1) for line in inspect(host, "megapi")["Config"]["Env"])
    for name in ("SECRET_KEY", "ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "DATABASE_URL", "POSTGRE_MUSIC_TABLE",
                 "PG_USER", "PG_EMAIL", "PG_PASSWORD", "POSTGRE_DB", "MILVUS_URI", "MILVUS_API_KEY",
                 "MILVUS_512_COLLECTION_NAME", "MILVUS_87_COLLECTION_NAME", "MINIO_ROOT_USER",
                 "MINIO_ROOT_PASSWORD", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY",
                 "MINIO_BUCKET_NAME", "MINIO_TEMP_BUCKET_NAME", "MINIO_MUSIC_NET_BUCKET_NAME",
                 "MINIO_OPENL3_BUCKET_NAME", "MINIO_OPENL3_FILE_NAME", "SPOTIFY_CLIENT_ID",
                 "SPOTIFY_CLIENT_SECRET", "CYANITE_TOKEN"):
        assert name in env, name
    # A $ in a password reaches the container as written.
    assert env["DATABASE_URL"] == "postgresql://megapi:throwaway-db-pass%24word@postgres:5432/fastapi_db"


def test_no_secret_is_in_the_output_of_any_play():
    # Every play's output: converge, idempotence, check mode, side effect
    # (MUSICSIM_PLAYS_LOG, .config/molecule/config.yml).
    outputs = pathlib.Path(os.environ["MUSICSIM_PLAYS_LOG"]).read_text(errors="replace")
    assert "Write the env files of megapi" in outputs
    for secret in SECRETS:
        assert secret not in outputs, "a play printed a secret"


def test_a_new_revision_rebuilds_and_restarts_megapi_alone(host):
    # side_effect.yml wrote a canary row and object, then re-ran the role
    # with megapi_version rev-b instead of rev-a, and recorded the stack.
    change = json.loads(host.file("/var/tmp/revision-change.json").content_string)
    before, after = change["before"], change["after"]
    assert before["megapi"]["image"].startswith("musicsim/megapi:" + change["rev_a"][:12] + "-")
    assert after["megapi"]["image"].startswith("musicsim/megapi:" + change["rev_b"][:12] + "-")
    assert after["megapi"]["id"] != before["megapi"]["id"]
    assert change["revision"] == "REVISION b"
    for name in ("megapi-postgres", "minio", "megapi-postgres-exporter"):
        assert after[name] == before[name], f"{name} was restarted"
    assert change["row"] == "written before the change"
    assert change["object"] == "canary object"


def test_megapi_is_built_from_the_checkout_with_the_maintained_dockerfile(host):
    state = inspect(host, "megapi")
    assert state["Config"]["User"] == "megapi"
    assert state["Config"]["WorkingDir"] == "/api"
    assert host.check_output("git -C /opt/musicsim/megapi/src rev-parse HEAD") == \
        host.check_output("git -C /srv/megapi rev-parse rev-b")
    assert host.check_output("git -C /opt/musicsim/megapi/src status --porcelain") == ""


def test_a_new_major_version_of_postgres_keeps_every_row(host):
    # side_effect.yml (postgres-major.yml) moved the inventory from Postgres
    # 15 to 17: every table's row count and the MD5 of its rows are the same
    # on 17, and 15's data is kept aside, whole.
    upgrade = json.loads(host.file("/var/tmp/postgres-major.json").content_string)
    assert upgrade["version_before"].startswith("15") and upgrade["version_after"].startswith("17")
    tables = dict(item.split("=") for item in upgrade["rows_before"].split())
    # The premise: the tables hold rows (the admin, the canary of the
    # revision change), so a load that lost them would show.
    assert {"users", "canary"} <= set(tables) and tables["users"].split(":")[0] != "0", tables
    assert upgrade["rows_after"] == upgrade["rows_before"]
    assert upgrade["upgraded"]["megapi-postgres"]["image"] == "musicsim-test/postgres:17"
    assert host.check_output("docker exec megapi-postgres cat /var/lib/postgresql/data/PG_VERSION") == "17"
    # Set aside beside the volume's data directory, with its version; the
    # upgrade finished: no note of a dump left to load.
    assert upgrade["kept"] == ["_data", upgrade["kept"][1]] and upgrade["kept"][1].startswith("postgres-15-"), \
        upgrade["kept"]
    assert upgrade["kept_version"] == "15" and upgrade["kept_mode"] == "0700"
    # A first run was cut off with the old data renamed aside and no data
    # directory left: the next run finished the upgrade.
    assert any(line.startswith("interrupt: killed at task") for line in upgrade["cut"]), upgrade["cut"]
    assert upgrade["after_cut"] == [False, True], "not cut where meant: the data directory gone, the note there"
    # The finishing run, the load included (a test
    # database: a real one takes longer, in proportion to its size).
    assert 0 < float(upgrade["seconds"]) < 240, upgrade["seconds"]


def test_a_preview_of_the_upgrade_changes_nothing(host):
    upgrade = json.loads(host.file("/var/tmp/postgres-major.json").content_string)
    assert upgrade["previewed"] == upgrade["start"], "the check-mode run touched the stack"
    assert upgrade["version_before"].startswith("15"), "the preview upgraded Postgres"


def test_postgres_upgraded_runs_again_without_a_change(host):
    upgrade = json.loads(host.file("/var/tmp/postgres-major.json").content_string)
    assert upgrade["again"] == upgrade["upgraded"], "the second run restarted a container"


def test_a_step_back_to_an_older_postgres_is_refused_before_any_change(host):
    upgrade = json.loads(host.file("/var/tmp/postgres-major.json").content_string)
    assert upgrade["refusal"].startswith("Check that Postgres can read its data, or upgrade it:"), upgrade["refusal"]
    assert "from its version 17" in upgrade["refusal"] and "megapi_postgres_image" in upgrade["refusal"]
    assert upgrade["refused"] == upgrade["again"], "the refused run changed the stack"
