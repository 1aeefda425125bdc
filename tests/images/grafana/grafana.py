"""A stand-in for Grafana, for the infrastructure tests.

It does what the monitoring stack relies on, and nothing else:
- GF_SECURITY_ADMIN_USER / GF_SECURITY_ADMIN_PASSWORD (and their __FILE
  variants) set the admin account on the first start only, as in Grafana:
  the account is kept in the data directory and later values are ignored;
- GF_SERVER_HTTP_PORT (default 3000), GF_PATHS_PROVISIONING, GF_PATHS_DATA;
- provisioning from datasources/, dashboards/ and alerting/ (*.yaml, *.yml),
  with $VAR, ${VAR}, $__env{VAR} and $__file{PATH} expanded as Grafana does.
  A file that Grafana would refuse stops the start with a message naming the
  file and the problem (Grafana refuses to start on these too). Stricter than
  Grafana in one point: a dashboard file that is not valid JSON stops the
  start too (Grafana only logs it);
- HTTP: GET /api/health (no auth); with the admin's basic auth:
  GET /api/datasources (secureJsonData never shown, as in Grafana),
  GET /api/datasources/uid/UID/health (a real query for Prometheus data
  sources, a login and SELECT 1 for PostgreSQL ones), GET /api/search,
  GET /api/dashboards/uid/UID, GET /api/v1/provisioning/contact-points,
  GET /api/v1/provisioning/policies; GET / answers a page;
- dashboards made through the API (POST /api/dashboards/db, as Grafana's
  clients send it: refused with 412 when the uid exists and overwrite is
  not set), kept in grafana.db (SQLite) in the data directory, as Grafana
  keeps them: a restore of that directory brings them back.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import pathlib
import re
import secrets
import signal
import sqlite3
import sys
import urllib.error
import urllib.request

import yaml

VERSION = "stand-in"
RECEIVER_TYPES = {"discord", "email", "webhook", "slack", "telegram", "pagerduty", "teams"}


class ProvisioningError(Exception):
    """A provisioning file Grafana would refuse."""


def setting(name, default=""):
    """GF_* value, or the content of the file named by GF_*__FILE."""
    if os.environ.get(f"{name}__FILE"):
        return pathlib.Path(os.environ[f"{name}__FILE"]).read_text().strip()
    return os.environ.get(name, default)


def expand(text, source):
    """Grafana's variable expansion in provisioning files."""

    def file_value(match):
        try:
            return pathlib.Path(match.group(1)).read_text().strip()
        except OSError as error:
            raise ProvisioningError(f"{source}: $__file{{{match.group(1)}}}: {error.strerror}") from error

    def env(match):
        return os.environ.get(match.group(1), "")

    # "$$" is a literal "$" (for PromQL's $labels and the like).
    parts = text.split("$$")
    for pattern, value in ((r"\$__file\{([^}]*)\}", file_value), (r"\$__env\{([^}]*)\}", env),
                           (r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", env), (r"\$([A-Za-z_][A-Za-z0-9_]*)", env)):
        parts = [re.sub(pattern, value, part) for part in parts]
    return "$".join(parts)


def load_yaml_files(folder):
    """Each provisioning file in folder as (path, mapping). A folder Grafana
    cannot read stops the start, as in Grafana (glob would skip it)."""
    if folder.exists():
        os.listdir(folder)
    for path in sorted(folder.glob("*.y*ml")):
        try:
            content = yaml.safe_load(expand(path.read_text(), path))
        except yaml.YAMLError as error:
            raise ProvisioningError(f"{path}: not valid YAML: {error}") from error
        if content is None:
            continue
        if not isinstance(content, dict):
            raise ProvisioningError(f"{path}: expected a mapping at the top level")
        yield path, content


def as_list(path, content, key):
    value = content.get(key) or []
    if not isinstance(value, list):
        raise ProvisioningError(f"{path}: {key} must be a list")
    for item in value:
        if not isinstance(item, dict):
            raise ProvisioningError(f"{path}: each entry of {key} must be a mapping")
    return value


def provision_datasources(folder):
    datasources, defaults = [], {}
    for path, content in load_yaml_files(folder):
        for source in as_list(path, content, "datasources"):
            for field in ("name", "type"):
                if not source.get(field):
                    raise ProvisioningError(f"{path}: a data source has no {field}")
            org = source.get("orgId", 1)
            if source.get("isDefault"):
                if org in defaults:
                    raise ProvisioningError(
                        f"{path}: datasource.yaml config is invalid. Only one datasource per "
                        f"organization can be marked as default ({defaults[org]}, {source['name']})")
                defaults[org] = source["name"]
            if any(d["name"] == source["name"] and d.get("orgId", 1) == org for d in datasources):
                raise ProvisioningError(f"{path}: data source {source['name']!r} is defined twice")
            source.setdefault("uid", hashlib.sha1(source["name"].encode()).hexdigest()[:14])
            datasources.append(source)
    return datasources


def provision_dashboards(folder):
    dashboards = []
    for path, content in load_yaml_files(folder):
        for provider in as_list(path, content, "providers"):
            if provider.get("type", "file") != "file":
                raise ProvisioningError(f"{path}: provider {provider.get('name')!r}: only type file exists")
            options = provider.get("options") or {}
            root = pathlib.Path(options.get("path", ""))
            if not options.get("path") or not root.is_dir():
                raise ProvisioningError(f"{path}: provider {provider.get('name')!r}: options.path {root} is not a folder")
            os.listdir(root)
            for board_file in sorted(root.rglob("*.json")):
                try:
                    board = json.loads(board_file.read_text())
                except ValueError as error:
                    raise ProvisioningError(f"{board_file}: not valid JSON: {error}") from error
                if not isinstance(board, dict) or not board.get("title"):
                    raise ProvisioningError(f"{board_file}: a dashboard needs a title")
                board.setdefault("uid", hashlib.sha1(str(board_file).encode()).hexdigest()[:14])
                folder_title = provider.get("folder", "")
                if options.get("foldersFromFilesStructure") and board_file.parent != root:
                    folder_title = board_file.parent.name
                dashboards.append({"dashboard": board, "folderTitle": folder_title})
    return dashboards


def provision_alerting(folder):
    contact_points, policies = [], []
    for path, content in load_yaml_files(folder):
        for point in as_list(path, content, "contactPoints"):
            if not point.get("name"):
                raise ProvisioningError(f"{path}: a contact point has no name")
            for receiver in point.get("receivers") or []:
                if not receiver.get("uid"):
                    raise ProvisioningError(f"{path}: contact point {point['name']!r}: a receiver has no uid")
                if receiver.get("type") not in RECEIVER_TYPES:
                    raise ProvisioningError(
                        f"{path}: contact point {point['name']!r}: unknown receiver type {receiver.get('type')!r}")
                settings = receiver.get("settings") or {}
                if receiver["type"] in {"discord", "webhook"} and not settings.get("url"):
                    raise ProvisioningError(f"{path}: contact point {point['name']!r}: {receiver['type']} needs settings.url")
                contact_points.append({"uid": receiver["uid"], "name": point["name"],
                                       "type": receiver["type"], "settings": settings})
        policies.extend(as_list(path, content, "policies"))
    names = {point["name"] for point in contact_points}
    for policy in policies:
        if policy.get("receiver") not in names:
            raise ProvisioningError(f"notification policy: receiver {policy.get('receiver')!r} is not a contact point")
    return contact_points, policies


def password_hash(password, salt):
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10_000).hex()


def admin_account(data_dir):
    """The admin account: from the environment on the first start, then kept."""
    state_file = data_dir / "grafana-stand-in.json"
    if state_file.exists():
        return json.loads(state_file.read_text())
    salt = secrets.token_hex(8)
    account = {"user": setting("GF_SECURITY_ADMIN_USER", "admin"), "salt": salt,
               "hash": password_hash(setting("GF_SECURITY_ADMIN_PASSWORD", "admin"), salt)}
    state_file.write_text(json.dumps(account))
    state_file.chmod(0o600)
    return account


class SavedDashboards:
    """Dashboards made through the API, in grafana.db as Grafana keeps them."""

    def __init__(self, data_dir):
        self.path = data_dir / "grafana.db"
        with self.connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY, uid TEXT UNIQUE,"
                       " title TEXT, version INTEGER, data TEXT)")

    def connect(self):
        return sqlite3.connect(self.path)

    def all(self):
        with self.connect() as db:
            rows = db.execute("SELECT id, version, data FROM dashboard ORDER BY id").fetchall()
        return [{**json.loads(data), "id": ident, "version": version} for ident, version, data in rows]

    def save(self, board, overwrite):
        """(status, body) as Grafana answers POST /api/dashboards/db."""
        if not isinstance(board, dict) or not board.get("title"):
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        board = dict(board)
        board["uid"] = board.get("uid") or secrets.token_hex(7)
        with self.connect() as db:
            row = db.execute("SELECT id, version FROM dashboard WHERE uid = ?", (board["uid"],)).fetchone()
            if row and not overwrite:
                return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
            if row:
                ident, version = row[0], row[1] + 1
                db.execute("UPDATE dashboard SET title = ?, version = ?, data = ? WHERE id = ?",
                           (board["title"], version, json.dumps(board), ident))
            else:
                version = 1
                ident = db.execute("INSERT INTO dashboard (uid, title, version, data) VALUES (?, ?, ?, ?)",
                                   (board["uid"], board["title"], version, json.dumps(board))).lastrowid
        slug = re.sub(r"[^a-z0-9]+", "-", board["title"].lower()).strip("-")
        return 200, {"id": ident, "uid": board["uid"], "url": f"/d/{board['uid']}/{slug}", "status": "success",
                     "version": version, "slug": slug}


def public_datasource(source):
    """What Grafana's API shows of a data source: secrets only by name."""
    shown = {k: v for k, v in source.items() if k != "secureJsonData"}
    shown["secureJsonFields"] = {name: True for name in source.get("secureJsonData", {})}
    return shown


def postgres_health(source):
    """As Grafana's PostgreSQL data source: log in and run SELECT 1."""
    import psycopg2  # only this data source needs it

    host, _, port = source.get("url", "").partition(":")
    json_data = source.get("jsonData", {})
    try:
        with psycopg2.connect(host=host, port=int(port or 5432), user=source.get("user", ""),
                              password=source.get("secureJsonData", {}).get("password", ""),
                              dbname=json_data.get("database", ""), sslmode=json_data.get("sslmode", "require"),
                              connect_timeout=5) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except psycopg2.Error as error:
        return 400, {"status": "ERROR", "message": str(error).strip()}
    return 200, {"status": "OK", "message": "Database Connection OK"}


def datasource_health(source):
    if source["type"] in ("grafana-postgresql-datasource", "postgres"):
        return postgres_health(source)
    if source["type"] != "prometheus":
        return 400, {"status": "ERROR", "message": f"no health check for type {source['type']}"}
    url = source.get("url", "").rstrip("/") + "/api/v1/query?query=1%2B1"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            ok = json.load(reply).get("status") == "success"
    except (OSError, ValueError) as error:
        return 400, {"status": "ERROR", "message": f"Post {url}: {error}"}
    if not ok:
        return 400, {"status": "ERROR", "message": "Prometheus did not answer the query"}
    return 200, {"status": "OK", "message": "Successfully queried the Prometheus API."}


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stdout.write("grafana: " + fmt % args + "\n")

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorised(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            account = state["admin"]
            return user == account["user"] and hmac.compare_digest(
                password_hash(password, account["salt"]), account["hash"])

        def do_GET(self):  # noqa: N802 (the name http.server calls)
            path = self.path.split("?", 1)[0]
            if path == "/api/health":
                return self.reply(200, {"database": "ok", "version": VERSION})
            if path in ("/", "/login"):
                page = b"<!DOCTYPE html><title>Grafana</title><p>Grafana stand-in</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                return self.wfile.write(page)
            if not path.startswith("/api/"):
                return self.reply(404, {"message": "Not found"})
            if not self.authorised():
                return self.reply(401, {"message": "Unauthorized"})
            if path == "/api/datasources":
                return self.reply(200, [public_datasource(d) for d in state["datasources"]])
            match = re.fullmatch(r"/api/datasources/uid/([^/]+)/health", path)
            if match:
                source = next((s for s in state["datasources"] if s["uid"] == match.group(1)), None)
                if source is None:
                    return self.reply(404, {"message": "Data source not found"})
                return self.reply(*datasource_health(source))
            provisioned = [{**entry, "provisioned": True} for entry in state["dashboards"]]
            saved = [{"dashboard": board, "folderTitle": "", "provisioned": False} for board in state["saved"].all()]
            if path == "/api/search":
                return self.reply(200, [
                    {"uid": d["dashboard"]["uid"], "title": d["dashboard"]["title"],
                     "type": "dash-db", "folderTitle": d["folderTitle"]}
                    for d in provisioned + saved])
            match = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
            if match:
                for entry in provisioned + saved:
                    if entry["dashboard"]["uid"] == match.group(1):
                        return self.reply(200, {"dashboard": entry["dashboard"],
                                                "meta": {"provisioned": entry["provisioned"],
                                                         "folderTitle": entry["folderTitle"]}})
                return self.reply(404, {"message": "Dashboard not found"})
            if path == "/api/v1/provisioning/contact-points":
                return self.reply(200, state["contact_points"])
            if path == "/api/v1/provisioning/policies":
                return self.reply(200, state["policies"][0] if state["policies"] else {})
            return self.reply(404, {"message": "Not found"})

        def do_POST(self):  # noqa: N802 (the name http.server calls)
            if not self.authorised():
                return self.reply(401, {"message": "Unauthorized"})
            if self.path.split("?", 1)[0] != "/api/dashboards/db":
                return self.reply(404, {"message": "Not found"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            except ValueError:
                return self.reply(400, {"message": "bad request data"})
            if not isinstance(body, dict):
                return self.reply(400, {"message": "bad request data"})
            return self.reply(*state["saved"].save(body.get("dashboard"), bool(body.get("overwrite"))))

    return Handler


def main():
    provisioning = pathlib.Path(setting("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))
    data_dir = pathlib.Path(setting("GF_PATHS_DATA", "/var/lib/grafana"))
    try:
        contact_points, policies = provision_alerting(provisioning / "alerting")
        state = {
            "datasources": provision_datasources(provisioning / "datasources"),
            "dashboards": provision_dashboards(provisioning / "dashboards"),
            "contact_points": contact_points,
            "policies": policies,
            "admin": admin_account(data_dir),
            "saved": SavedDashboards(data_dir),
        }
    except (ProvisioningError, OSError, sqlite3.Error) as error:
        sys.stderr.write(f"Error: failed to provision Grafana: {error}\n")
        return 1
    port = int(setting("GF_SERVER_HTTP_PORT", "3000"))
    print(f"grafana: {len(state['datasources'])} data sources, {len(state['dashboards'])} dashboards, "
          f"{len(contact_points)} contact points provisioned; listening on {port}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    http.server.ThreadingHTTPServer(("0.0.0.0", port), make_handler(state)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
