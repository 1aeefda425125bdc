"""A stand-in for nginx-proxy-manager's API, for the proxy modules' unit tests.

It does what the proxy role relies on, and nothing else:
- the admin API (NPM_STANDIN_PORT): GET /api; the first user (POST /api/users while
  no user exists, from 2.13; before 2.13 the default admin@example.com /
  changeme, replaced through PUT /api/users/ID and PUT /api/users/ID/auth);
  tokens (POST /api/tokens, GET /api/tokens to refresh); GET /api/users/me;
  proxy hosts, access lists and certificates (list, get, create, update,
  delete), each body checked against upstream's schema (npm_schema.py): unknown
  fields, wrong types and a domain another host already has are refused with
  400, in upstream's error format;
- state in SQLite, certificates under LETSENCRYPT/live/npm-ID/.

It serves no traffic: the proxy modules' unit tests (tests/test_npm_modules.py)
run it as a local process for what the real server built from upstream's
source cannot show here: the API of a server before 2.13 (no older snapshot
of upstream is at hand) and a DNS-01 certificate (it needs a DNS provider's
API). A "letsencrypt" certificate is self-signed (openssl req -x509),
valid 90 days.

Its settings:
- NPM_STANDIN_VERSION: the API generation to behave as (default below);
- NPM_STANDIN_TOKEN_TTL: token lifetime in seconds (upstream: one day);
- NPM_STANDIN_PORT, NPM_STANDIN_DATA, NPM_STANDIN_LETSENCRYPT: where it
  listens and keeps its state;
- upstream's own INITIAL_ADMIN_EMAIL and INITIAL_ADMIN_PASSWORD (2.13+).
"""

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import pathlib
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse

import jsonschema

from npm_schema import schemas

VERSION = tuple(int(p) for p in os.environ.get("NPM_STANDIN_VERSION", "2.13.5").split("."))
TOKEN_TTL = int(os.environ.get("NPM_STANDIN_TOKEN_TTL", "86400"))
PORT = int(os.environ.get("NPM_STANDIN_PORT", "81"))
DATA = pathlib.Path(os.environ.get("NPM_STANDIN_DATA", "/data"))
LETSENCRYPT = pathlib.Path(os.environ.get("NPM_STANDIN_LETSENCRYPT", "/etc/letsencrypt"))
DATABASE = DATA / "database.sqlite"
DEFAULT_ADMIN = ("admin@example.com", "changeme")
SCHEMAS = schemas(VERSION)
KINDS = {"proxy-hosts": "proxy_host", "access-lists": "access_list", "certificates": "certificate"}


class ApiError(Exception):
    """An answer in upstream's error format: {"error": {"code", "message"}}."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def validate(name, body):
    """Refuse a body that upstream's schema refuses, with ajv's wording."""
    try:
        jsonschema.validate(body, SCHEMAS[name], format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as error:
        where = "data" + "".join(f"/{p}" for p in error.absolute_path)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            raise ApiError(400, f"{where} must NOT have additional properties ({', '.join(extra)})") from error
        raise ApiError(400, f"{where} {error.message}") from error


# --- Storage ------------------------------------------------------------------

class Store:
    """Every object as JSON in SQLite, one table per kind."""

    TABLES = ("user", "proxy_host", "access_list", "certificate")

    def __init__(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        for table in self.TABLES:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS auth (user_id INTEGER PRIMARY KEY, secret TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS setting (name TEXT PRIMARY KEY, value TEXT)")

    def all(self, table):
        rows = self.db.execute(f"SELECT id, body FROM {table} ORDER BY id")
        return [dict(json.loads(body), id=ident) for ident, body in rows]

    def get(self, table, ident):
        row = self.db.execute(f"SELECT body FROM {table} WHERE id = ?", (ident,)).fetchone()
        if row is None:
            raise ApiError(404, f"Not Found - {ident}")
        return dict(json.loads(row[0]), id=ident)

    def add(self, table, body):
        body = dict(body, created_on=now(), modified_on=now())
        ident = self.db.execute(f"INSERT INTO {table} (body) VALUES (?)", (json.dumps(body),)).lastrowid
        return dict(body, id=ident)

    def put(self, table, ident, body):
        body = {k: v for k, v in body.items() if k != "id"}
        body["modified_on"] = now()
        self.db.execute(f"UPDATE {table} SET body = ? WHERE id = ?", (json.dumps(body), ident))
        return dict(body, id=ident)

    def delete(self, table, ident):
        self.db.execute(f"DELETE FROM {table} WHERE id = ?", (ident,))

    def setting(self, name, make):
        row = self.db.execute("SELECT value FROM setting WHERE name = ?", (name,)).fetchone()
        if row:
            return row[0]
        value = make()
        self.db.execute("INSERT INTO setting VALUES (?, ?)", (name, value))
        return value

    def set_password(self, user_id, password):
        salt = secrets.token_hex(8)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100_000).hex()
        self.db.execute("INSERT OR REPLACE INTO auth VALUES (?, ?)", (user_id, f"{salt}${digest}"))

    def check_password(self, user_id, password):
        row = self.db.execute("SELECT secret FROM auth WHERE user_id = ?", (user_id,)).fetchone()
        if not row:
            return False
        salt, digest = row[0].split("$")
        given = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100_000).hex()
        return hmac.compare_digest(given, digest)


# --- Tokens (HS256 JWTs; upstream signs with RS256, the client sees no difference)

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(store, user_id):
    key = store.setting("jwt_key", lambda: secrets.token_hex(32)).encode()
    expires = int(time.time()) + TOKEN_TTL
    payload = {"attrs": {"id": user_id}, "scope": ["user"], "iat": int(time.time()), "exp": expires,
               "jti": secrets.token_hex(6)}
    signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())
    iso = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"token": f"{signing}.{signature}", "expires": iso}


def token_user(store, header):
    """The user a bearer token belongs to; 401 for a missing, bad or expired one."""
    if not header or not header.startswith("Bearer "):
        raise ApiError(401, "Permission Denied")
    key = store.setting("jwt_key", lambda: secrets.token_hex(32)).encode()
    try:
        head, payload, signature = header[7:].split(".")
        expected = b64(hmac.new(key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
        claims = json.loads(unb64(payload))
    except ValueError as error:
        raise ApiError(401, "Invalid token") from error
    if not hmac.compare_digest(signature, expected):
        raise ApiError(401, "invalid signature")
    if claims["exp"] < time.time():
        raise ApiError(401, "Token has expired")
    return store.get("user", claims["attrs"]["id"])


# --- Access lists ---------------------------------------------------------------

def ssha(password):
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


# --- Certificates -----------------------------------------------------------------

def issue_certificate(ident, domains):
    """A certificate where certbot would put it; expires_on as upstream reports it."""
    live = LETSENCRYPT / "live" / f"npm-{ident}"
    live.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90",
         "-keyout", str(live / "privkey.pem"), "-out", str(live / "fullchain.pem"),
         "-subj", f"/CN={domains[0]}", "-addext", "subjectAltName=" + ",".join(f"DNS:{d}" for d in domains)],
        check=True, capture_output=True,
    )
    os.chmod(live / "privkey.pem", 0o600)
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90)
    return expires.strftime("%Y-%m-%d %H:%M:%S")


def remove_certificate(ident):
    live = LETSENCRYPT / "live" / f"npm-{ident}"
    for name in ("privkey.pem", "fullchain.pem"):
        (live / name).unlink(missing_ok=True)
    if live.exists():
        live.rmdir()


# --- The API ----------------------------------------------------------------------

class Api:
    def __init__(self, store):
        self.store = store
        if VERSION < (2, 13, 0) and not store.all("user"):
            self.create_user({"name": "Administrator", "nickname": "Admin", "email": DEFAULT_ADMIN[0],
                              "roles": ["admin"], "is_disabled": False}, DEFAULT_ADMIN[1])
        email, password = os.environ.get("INITIAL_ADMIN_EMAIL"), os.environ.get("INITIAL_ADMIN_PASSWORD")
        if VERSION >= (2, 13, 0) and email and password and not store.all("user"):
            self.create_user({"name": "Administrator", "nickname": "Admin", "email": email,
                              "roles": ["admin"], "is_disabled": False}, password)

    def create_user(self, body, password):
        user = self.store.add("user", {"name": body["name"], "nickname": body.get("nickname", ""),
                                       "email": body["email"].lower(), "roles": body.get("roles", []),
                                       "is_disabled": body.get("is_disabled", False), "avatar": ""})
        if password:
            self.store.set_password(user["id"], password)
        return user

    def setup_done(self):
        """upstream: a user exists that is not the default admin with the default password."""
        for user in self.store.all("user"):
            if user["email"] != DEFAULT_ADMIN[0] or not self.store.check_password(user["id"], DEFAULT_ADMIN[1]):
                return True
        return False

    def handle(self, method, path, query, body, authorization):
        parts = [p for p in path.split("/") if p][1:]  # drop "api"
        if method == "GET" and not parts:
            major, minor, revision = VERSION
            answer = {"status": "OK", "version": {"major": major, "minor": minor, "revision": revision}}
            if VERSION >= (2, 13, 0):  # older servers do not report it
                answer["setup"] = self.setup_done()
            return 200, answer
        if parts == ["tokens"] and method == "POST":
            validate("token", body)
            for user in self.store.all("user"):
                if user["email"] == body["identity"].lower() and not user["is_disabled"]:
                    if self.store.check_password(user["id"], body["secret"]):
                        return 200, issue_token(self.store, user["id"])
                    raise ApiError(401, "Invalid password")
            raise ApiError(401, "No relevant user found")
        if parts == ["users"] and method == "POST" and not self.store.all("user"):
            return 201, self.first_user(body)
        user = token_user(self.store, authorization)
        if parts == ["tokens"] and method == "GET":
            return 200, issue_token(self.store, user["id"])
        if parts[:1] == ["users"]:
            return self.users(method, parts[1:], body, user)
        if parts[:1] == ["nginx"] and len(parts) >= 2 and parts[1] in KINDS:
            return self.objects(method, KINDS[parts[1]], parts[2:], query, body, user)
        raise ApiError(404, "Not Found")

    def first_user(self, body):
        validate("user_create", body)
        secret = (body.get("auth") or {}).get("secret")
        if not secret:
            raise ApiError(400, "data must have required property 'auth'")
        return self.create_user(dict(body, roles=["admin"]), secret)

    def users(self, method, rest, body, me):
        if rest == [] and method == "GET":
            return 200, self.store.all("user")
        if rest == [] and method == "POST":
            validate("user_create", body)
            secret = (body.get("auth") or {}).get("secret")
            if any(u["email"] == body["email"].lower() for u in self.store.all("user")):
                raise ApiError(400, "Email address already in use")
            return 201, self.create_user(body, secret)
        ident = me["id"] if rest[:1] == ["me"] else int(rest[0]) if rest and rest[0].isdigit() else None
        if ident is None:
            raise ApiError(404, "Not Found")
        user = self.store.get("user", ident)
        if len(rest) == 1 and method == "GET":
            return 200, user
        if len(rest) == 1 and method == "PUT":
            validate("user_update", body)
            if "email" in body:
                body["email"] = body["email"].lower()
                if any(u["email"] == body["email"] and u["id"] != ident for u in self.store.all("user")):
                    raise ApiError(400, "Email address already in use")
            return 200, self.store.put("user", ident, dict(user, **body))
        if rest[1:] == ["auth"] and method == "PUT":
            validate("user_auth", body)
            if ident == me["id"] and not self.store.check_password(ident, body.get("current", "")):
                raise ApiError(400, "Invalid current password")
            self.store.set_password(ident, body["secret"])
            return 200, True
        raise ApiError(404, "Not Found")

    def objects(self, method, kind, rest, query, body, user):
        if not rest and method == "GET":
            items = [self.expand(kind, o, query) for o in self.store.all(kind)]
            return 200, [self.public(kind, o) for o in items]
        if not rest and method == "POST":
            validate(f"{kind}_create", body)
            return 201, self.public(kind, self.create(kind, body, user))
        if len(rest) != 1 or not rest[0].isdigit():
            raise ApiError(404, "Not Found")
        ident = int(rest[0])
        current = self.store.get(kind, ident)
        if method == "GET":
            return 200, self.public(kind, self.expand(kind, current, query))
        if method == "PUT" and kind != "certificate":
            validate(f"{kind}_update", body)
            return 200, self.public(kind, self.update(kind, current, body, user))
        if method == "DELETE":
            self.store.delete(kind, ident)
            if kind == "certificate":
                remove_certificate(ident)
            return 200, True
        raise ApiError(404, "Not Found")

    def expand(self, kind, item, query):
        wanted = query.get("expand", [""])[0].split(",")
        item = dict(item)
        for field, table in (("certificate", "certificate"), ("access_list", "access_list")):
            if field in wanted and kind == "proxy_host":
                ident = item[f"{field}_id"]
                item[field] = self.public(table, self.store.get(table, ident)) if ident else None
        if "owner" in wanted:
            item["owner"] = self.store.get("user", item["owner_user_id"])
        return item

    @staticmethod
    def public(kind, item):
        """What the API shows: an access list's passwords never leave it."""
        if kind == "access_list":
            item = dict(item, items=[{"username": i["username"], "password": ""} for i in item["items"]])
        return item

    def taken(self, domains, ignore=None):
        for host in self.store.all("proxy_host"):
            if host["id"] == ignore:
                continue
            for domain in domains:
                if domain.lower() in (d.lower() for d in host["domain_names"]):
                    raise ApiError(400, f"{domain} is already in use")

    def create(self, kind, body, user):
        if kind == "proxy_host":
            self.taken(body["domain_names"])
            host = {"owner_user_id": user["id"], "forward_scheme": "http", "access_list_id": 0, "certificate_id": 0,
                    "ssl_forced": False, "hsts_enabled": False, "hsts_subdomains": False, "http2_support": False,
                    "block_exploits": False, "caching_enabled": False, "allow_websocket_upgrade": False,
                    "advanced_config": "", "enabled": True, "locations": [],
                    "meta": {"letsencrypt_agree": False, "dns_challenge": False}}
            host.update(body)
            host = self.links(host, user)
            created = self.store.add(kind, host)
        elif kind == "access_list":
            created = self.store.add(kind, self.access_list(body, user))
        else:
            created = self.certificate(body, user)
        return created

    def update(self, kind, current, body, user):
        if kind == "proxy_host":
            if "domain_names" in body:
                self.taken(body["domain_names"], ignore=current["id"])
            merged = self.links(dict(current, **body), user)
        else:
            merged = self.access_list(dict(current, **body), user, current)
        updated = self.store.put(kind, current["id"], merged)
        return updated

    def links(self, host, user):
        if host["certificate_id"] == "new":
            cert = self.certificate({"provider": "letsencrypt", "domain_names": host["domain_names"],
                                     "meta": host.get("meta", {})}, user)
            host["certificate_id"] = cert["id"]
        for field, table in (("certificate_id", "certificate"), ("access_list_id", "access_list")):
            if host[field]:
                self.store.get(table, host[field])
        return host

    @staticmethod
    def access_list(body, user, current=None):
        hashes = {i["username"]: i["hash"] for i in (current or {}).get("items", [])}
        items = []
        for item in body.get("items", []):
            if item.get("password"):
                items.append({"username": item["username"], "hash": ssha(item["password"])})
            elif item["username"] in hashes:  # an empty password keeps the current one
                items.append({"username": item["username"], "hash": hashes[item["username"]]})
        return {"owner_user_id": (current or {}).get("owner_user_id", user["id"]), "name": body["name"],
                "satisfy_any": body.get("satisfy_any", False), "pass_auth": body.get("pass_auth", False),
                "items": items, "clients": body.get("clients", [])}

    def certificate(self, body, user):
        if body["provider"] != "letsencrypt":
            raise ApiError(400, "The stand-in issues Let's Encrypt certificates only")
        domains = body.get("domain_names") or []
        if not domains:
            raise ApiError(400, "data must have required property 'domain_names'")
        if VERSION >= (2, 13, 0):
            email = user["email"]
        else:
            email = body.get("meta", {}).get("letsencrypt_email")
        meta = dict(body.get("meta", {}), letsencrypt_email=email, letsencrypt_agree=True)
        cert = self.store.add("certificate", {"owner_user_id": user["id"], "provider": "letsencrypt",
                                              "nice_name": body.get("nice_name") or domains[0],
                                              "domain_names": domains, "expires_on": "", "meta": meta})
        cert["expires_on"] = issue_certificate(cert["id"], domains)
        return self.store.put("certificate", cert["id"], cert)


class Handler(http.server.BaseHTTPRequestHandler):
    api = None

    def log_message(self, fmt, *args):
        sys.stderr.write(f"[api] {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

    def answer(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def serve(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            if not url.path.startswith("/api"):
                raise ApiError(404, "Not Found")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else {}
            except ValueError as error:
                raise ApiError(400, f"Unexpected token in JSON: {error}") from error
            code, payload = self.api.handle(self.command, url.path, urllib.parse.parse_qs(url.query), body,
                                            self.headers.get("Authorization"))
        except ApiError as error:
            code, payload = error.code, {"error": {"code": error.code, "message": error.message}}
        self.answer(code, payload)

    do_GET = do_POST = do_PUT = do_DELETE = serve


def main():
    Handler.api = Api(Store(DATABASE))
    server = http.server.HTTPServer(("127.0.0.1", PORT), Handler)

    def stop(*_):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    version = ".".join(map(str, VERSION))
    print(f"nginx-proxy-manager API stand-in {version} on 127.0.0.1:{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
