"""The site's data, as its users make it and as they would check it.

Runs on the test host (python3, the standard library and the docker CLI):
  site_data.py write         songs added through megapi's API, objects in
                             every bucket, an MLflow run with an artifact, a
                             Grafana dashboard: each through the service
                             that owns it
  site_data.py fingerprint   prints, as JSON, what there is: each table's
                             row count and checksum (megapi's Postgres,
                             MLflow's MariaDB), the library as megapi's API
                             reads it, each object's checksum, each
                             MLflow run with its artifacts' checksums, the
                             dashboard, each proxy host and the certificate
                             it serves

The site's settings come as JSON on standard input (domain, mlflow_image,
megapi's admin email, and the admin passwords of megapi, Grafana, MLflow
and nginx-proxy-manager: not in
the environment, which Ansible prints at -vvv); the databases' and MinIO's
credentials are read inside their containers, from the environment they
run with.
"""

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.parse

SITE = {}
# The proxy's certificates come from the test host's ACME server, whose root
# is new on the rebuilt host (the restored certificates chain to the old
# one): read, not verified; what the certificate is, is compared by its
# fingerprint instead.
TLS = ssl.create_default_context()
TLS.check_hostname, TLS.verify_mode = False, ssl.CERT_NONE
DASHBOARD_UID = "disaster-recovery"


def run(*argv, stdin=None):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout


def in_container(container, script, *args):
    """A shell script run in a container, with the container's environment."""
    return run("docker", "exec", container, "sh", "-c", script, "sh", *args)


class Route(http.client.HTTPSConnection):
    """HTTPS to the proxy on this host, with the route's name in SNI and in
    the Host header, as a browser sends them."""

    def __init__(self, name):
        super().__init__("127.0.0.1", 443, context=TLS, timeout=30)
        self.name = name

    def connect(self):
        self.sock = TLS.wrap_socket(socket.create_connection(("127.0.0.1", 443), self.timeout),
                                    server_hostname=self.name)

    def call(self, method, path, body=None, headers=None, form=None):
        headers = {"Host": self.name, **(headers or {})}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.request(method, path, body=body, headers=headers)
        response = self.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} https://{self.name}{path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def certificate(self):
        """SHA-256 of the certificate the proxy serves for this name."""
        self.connect()
        der = self.sock.getpeercert(binary_form=True)
        self.close()
        return hashlib.sha256(der).hexdigest()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- Postgres (megapi) ---------------------------------------------------------
PSQL = 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tA -c "$1"'


def psql(sql):
    return in_container("megapi-postgres", PSQL, sql).strip()


# megapi's library: the 300 songs it copied from its snapshot at its first
# start, and songs added through its API up to this many (song N the same
# on every run: writing again adds nothing).
LIBRARY_SIZE = 800


def megapi():
    """The api route and a bearer token of megapi's admin (its login is by email)."""
    route = Route(f"api.{SITE['domain']}")
    token = route.call("POST", "/auth/token", form={"username": SITE["megapi_email"],
                                                    "password": SITE["megapi_password"]})["access_token"]
    return route, {"Authorization": f"Bearer {token}"}


def write_rows():
    route, auth = megapi()
    for number in range(route.call("GET", "/music_library/count") + 1, LIBRARY_SIZE + 1):
        artist, album = f"Artist {number % 37:02}", f"Album {number % 11:02}"
        route.call("POST", "/music_library/add", {
            "filename": f"{number:03} Track {number}.mp3", "filepath": f"/music/{artist}/{album}/{number:03} Track {number}.mp3",
            "album_folder": album, "artist_folder": artist, "filesize": 1000.0 * number,
            "title": f"Track {number}", "artist": artist, "album": album, "year": 1950 + number % 70,
            "tracknumber": number % 20 + 1, "genre": ("jazz", "trip hop", "electro", "folk")[number % 4],
            "top_5_genres": "jazz, folk"}, auth)


def library():
    """What megapi's API reads of the library: the count, the artists, the last song."""
    route, auth = megapi()
    count = route.call("GET", "/music_library/count")
    return {"count": count, "artists": route.call("GET", "/music_library/artists", headers=auth),
            "last": route.call("GET", f"/music_library/song/{count}", headers=auth)}


def postgres_tables():
    tables = psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split()
    return {table: psql(f"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-')"
                        f' FROM "{table}" AS t')
            for table in tables}


# --- MariaDB (MLflow) ----------------------------------------------------------
MARIADB = 'MYSQL_PWD="$MARIADB_PASSWORD" mariadb -u "$MARIADB_USER" "$MARIADB_DATABASE" -N -B -e "$1"'


def mariadb(sql):
    return in_container("mlflow-mariadb", MARIADB, sql).strip()


def mariadb_tables():
    found = {}
    for table in mariadb("SHOW TABLES").split():
        columns = mariadb("SELECT GROUP_CONCAT(CONCAT('QUOTE(`', column_name, '`)') ORDER BY ordinal_position)"
                          " FROM information_schema.columns"
                          f" WHERE table_schema = DATABASE() AND table_name = '{table}'")
        found[table] = mariadb("SET SESSION group_concat_max_len = 1073741824;"
                               " SELECT CONCAT(COUNT(*), ' ', IFNULL(MD5(GROUP_CONCAT(h ORDER BY h SEPARATOR '')), '-'))"
                               f" FROM (SELECT MD5(CONCAT_WS(',', {columns})) AS h FROM `{table}`) AS rows_of")
    return found


# --- MinIO (through megapi's container, its client and its credentials) ------
OBJECTS = r"""
import hashlib, io, json, os, sys
from minio import Minio
s3 = Minio(os.environ["MINIO_ENDPOINT"], access_key=os.environ["MINIO_ACCESS_KEY"],
           secret_key=os.environ["MINIO_SECRET_KEY"], secure=False)
found = {}
for bucket in sorted(b.name for b in s3.list_buckets()):
    if sys.argv[1] == "write":
        for size in (1_000, 100_000, 1_000_000):
            body = hashlib.sha256(f"{bucket}/{size}".encode()).digest() * (size // 32)
            s3.put_object(bucket, f"recovery/{size}.bin", io.BytesIO(body), len(body))
    found[bucket] = {o.object_name: hashlib.sha256(s3.get_object(bucket, o.object_name).read()).hexdigest()
                     for o in s3.list_objects(bucket, recursive=True)}
print(json.dumps(found))
"""


def objects(mode):
    return json.loads(run("docker", "exec", "megapi", "python", "-c", OBJECTS, mode))


# --- MLflow (its own client, on the edge network, through the route) ---------
MLFLOW = r"""
import hashlib, json, os, pathlib, sys, tempfile
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(sys.argv[2])
if sys.argv[1] == "write":
    mlflow.set_experiment("disaster-recovery")
    with mlflow.start_run(run_name="before-the-disaster"):
        mlflow.log_param("model", "openl3")
        mlflow.log_metric("recall_at_10", 0.87)
        mlflow.log_text("weights of the similarity model", "model/weights.txt")
client = MlflowClient()
runs = {}
for experiment in client.search_experiments():
    for r in client.search_runs([experiment.experiment_id]):
        with tempfile.TemporaryDirectory() as into:
            root = pathlib.Path(client.download_artifacts(r.info.run_id, "", into))
            artifacts = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(root.rglob("*")) if p.is_file()}
        runs[r.info.run_id] = {"experiment": experiment.name, "name": r.info.run_name,
                               "status": r.info.status, "params": r.data.params,
                               "metrics": r.data.metrics, "artifacts": artifacts}
print(json.dumps(runs))
"""


def mlflow_runs(mode):
    env = {"MLFLOW_TRACKING_USERNAME": "admin",
           "MLFLOW_TRACKING_PASSWORD": SITE["mlflow_password"],
           "MLFLOW_TRACKING_INSECURE_TLS": "true",
           # Through the route: MLflow would send the client to the bucket's
           # address inside Docker (roles/mlflow/README.md).
           "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false"}
    argv = ["docker", "run", "--rm", "--network", "edge"]
    for name in env:
        argv += ["-e", name]
    argv += [SITE["mlflow_image"], "python", "-c", MLFLOW, mode, f"https://mlflow.{SITE['domain']}"]
    out = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env})
    if out.returncode:
        raise RuntimeError(f"MLflow's client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


# --- Grafana (its HTTP API, through the route) --------------------------------
def grafana():
    return Route(f"monitor.{SITE['domain']}"), basic("admin", SITE["grafana_password"])


def write_dashboard():
    route, auth = grafana()
    board = {"uid": DASHBOARD_UID, "title": "Before the disaster", "tags": ["recovery"],
             "panels": [{"type": "timeseries", "title": "Backups", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
                         "targets": [{"expr": "musicsim_backup_last_success_timestamp_seconds"}]}]}
    route.call("POST", "/api/dashboards/db", {"dashboard": board, "overwrite": True}, auth)


def dashboard():
    route, auth = grafana()
    return route.call("GET", f"/api/dashboards/uid/{DASHBOARD_UID}", headers=auth)["dashboard"]


# --- nginx-proxy-manager (its admin API on this host, 127.0.0.1:81) ----------
PROXY_HOST_FIELDS = ("id", "domain_names", "forward_scheme", "forward_host", "forward_port", "certificate_id",
                     "ssl_forced", "http2_support", "hsts_enabled", "access_list_id", "advanced_config",
                     "locations", "enabled")


def proxy():
    api = http.client.HTTPConnection("127.0.0.1", 81, timeout=30)

    def call(method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        api.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = api.getresponse()
        data = json.loads(response.read())
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data}")
        return data

    token = call("POST", "/api/tokens", {"identity": SITE["proxy_email"],
                                         "secret": SITE["proxy_password"]})["token"]
    hosts = {}
    for entry in call("GET", "/api/nginx/proxy-hosts", token=token):
        kept = {field: entry.get(field) for field in PROXY_HOST_FIELDS}
        kept["served_certificate"] = Route(entry["domain_names"][0]).certificate()
        hosts[entry["domain_names"][0]] = kept
    certificates = {str(c["id"]): {field: c.get(field) for field in ("provider", "nice_name", "domain_names",
                                                                      "expires_on")}
                    for c in call("GET", "/api/nginx/certificates", token=token)}
    return {"proxy_hosts": hosts, "certificates": certificates}


def main(mode):
    if mode == "write":
        write_rows()
        write_dashboard()
    found = {
        "objects": objects(mode),
        "mlflow_runs": mlflow_runs(mode),
        "postgres": postgres_tables(),
        "library": library(),
        "mariadb": mariadb_tables(),
        "dashboard": dashboard(),
        **proxy(),
    }
    print(json.dumps(found, indent=1, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("write", "fingerprint"):
        sys.exit(__doc__)
    SITE.update(json.load(sys.stdin))
    main(sys.argv[1])
