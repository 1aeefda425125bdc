"""The proxy role's modules (npm_admin, npm_site) against nginx-proxy-manager
itself: the images built from upstream's source (2.13.5, the role's
default, and 2.15.1, the newest; `make images`), one fresh container per
test, certificates from an ACME test server (Pebble) beside them. Creation,
update, no-op, pruning, check mode, API version differences, the server's
4xx messages, and token expiry.

The API stand-in (tests/standin/npm.py, a local process) remains for what
these releases cannot show: servers before 2.13 (a default admin
to replace, a Let's Encrypt account in each request; no older snapshot is
here) and the DNS-01 wildcard certificate (it needs a DNS provider's API).
"""

import contextlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from ansible.module_utils.testing import patch_module_args

from conftest import ROOT

STANDIN = ROOT / "tests/standin/npm.py"
RELEASES = ["2.13.5", "2.15.1"]
IMAGE = "musicsim-test/nginx-proxy-manager:{}"
PEBBLE = "musicsim-test/pebble:2.6"
ROLE = ROOT / "roles/proxy"
ADMIN = {"email": "admin@music-sim.test", "password": "throwaway-npm-password"}

# Every test here after `make images` (tests/conftest.py).
pytestmark = pytest.mark.images


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The role's module_utils, where Ansible itself would put them for the modules.
npm_api = _load("ansible.module_utils.npm_api", ROLE / "module_utils/npm_api.py")
npm_admin = _load("npm_admin", ROLE / "library/npm_admin.py")
npm_site = _load("npm_site", ROLE / "library/npm_site.py")


class Api:
    """What a test reads from a server, through its own API."""

    def get(self, path, token=None):
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.load(reply)

    def client(self):
        return npm_api.NpmClient(self.url, ADMIN["email"], ADMIN["password"])

    def objects(self, kind):
        """What the server holds, read with its own API (not through the module)."""
        return self.client().list(kind)

    def short_token(self, seconds):
        """A token of the admin that expires in that many seconds."""
        return self.get(f"/tokens?expiry={seconds}s", self.client().token())["token"]


class Release(Api):
    """A container of nginx-proxy-manager built from upstream's source, its
    API published on a local port; on the ACME network, with the test
    domains as its names there when acme is set (Pebble checks the HTTP-01
    challenges on port 80 of the address a name has)."""

    def __init__(self, version, acme):
        self.version = version
        self.name = f"musicsim-npm-unit-{uuid.uuid4().hex[:8]}"
        command = ["docker", "run", "-d", "--rm", "--name", self.name, "--memory", "256m",
                   "--publish", "127.0.0.1::81", "--env", "DISABLE_IPV6=true"]
        if acme:
            command += ["--network", acme["network"], "--env", f"LE_SERVER={acme['server']}",
                        "--env", "REQUESTS_CA_BUNDLE=/etc/ssl/acme-server-ca.pem",
                        "--volume", f"{acme['ca']}:/etc/ssl/acme-server-ca.pem:ro"]
            command += [f"--network-alias={domain}" for domain in DOMAINS]
        started = subprocess.run(command + [IMAGE.format(version)], capture_output=True, text=True)
        assert started.returncode == 0, f"{started.stderr} (the images come from `make images`)"
        port = subprocess.run(["docker", "port", self.name, "81/tcp"], capture_output=True, text=True,
                              check=True).stdout.split(":")[-1].strip()
        self.url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 90
        while True:
            try:
                if self.get("/")["status"] == "OK":
                    return
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
                self.stop()
                raise RuntimeError(f"nginx-proxy-manager {version} did not start:\n{logs.stdout[-2000:]}")
            time.sleep(0.5)

    def stop(self):
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True)


class Server(Api):
    """One stand-in process with its own data directory."""

    def __init__(self, tmp_path, version, token_ttl):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api"
        env = dict(os.environ, NPM_STANDIN_PORT=str(self.port),
                   NPM_STANDIN_DATA=str(tmp_path / "data"), NPM_STANDIN_LETSENCRYPT=str(tmp_path / "letsencrypt"),
                   NPM_STANDIN_VERSION=version, NPM_STANDIN_TOKEN_TTL=str(token_ttl))
        self.process = subprocess.Popen([sys.executable, str(STANDIN)], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.get("")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the stand-in did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(5)


DOMAINS = ["music-sim.test", "api.music-sim.test", "mlflow.music-sim.test", "www-api.music-sim.test"]


@pytest.fixture(scope="session")
def acme(tmp_path_factory):
    """Pebble on a network of its own, and the authority of its HTTPS."""
    network = f"musicsim-npm-unit-{uuid.uuid4().hex[:8]}"
    pebble = f"{network}-pebble"
    subprocess.run(["docker", "network", "create", network], check=True, capture_output=True)
    started = subprocess.run(["docker", "run", "-d", "--rm", "--name", pebble, "--network", network,
                              "--network-alias", "pebble", "--memory", "128m", PEBBLE],
                             capture_output=True, text=True)
    assert started.returncode == 0, f"{started.stderr} (the images come from `make images`)"
    ca = tmp_path_factory.mktemp("acme") / "ca.pem"
    subprocess.run(["docker", "cp", f"{pebble}:/etc/pebble/ca.pem", str(ca)], check=True, capture_output=True)
    ca.chmod(0o644)
    yield {"network": network, "server": "https://pebble:14000/dir", "ca": str(ca)}
    subprocess.run(["docker", "rm", "-f", pebble], capture_output=True)
    subprocess.run(["docker", "network", "rm", network], capture_output=True)


def servers(make):
    """A factory fixture's body: start(..., admin=True) makes a server with
    make(...), its admin first unless told not to; every one is stopped
    after the test."""
    started = []

    def start(*args, admin=True, **options):
        instance = make(*args, **options)
        started.append(instance)
        if admin:
            assert run(npm_admin, url=instance.url, **ADMIN)["failed"] is False
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def releases(request):
    """A factory: releases(version, admin=True, acme=False), a fresh
    container of that release."""
    yield from servers(lambda version, acme=False: Release(
        version, request.getfixturevalue("acme") if acme else None))


@pytest.fixture(params=RELEASES)
def server(request, releases):
    """A factory of fresh containers of each release in turn:
    server(admin=True, acme=False)."""
    return lambda **options: releases(request.param, **options)


@pytest.fixture
def standin(tmp_path):
    """A factory: standin(version="2.13.5", token_ttl=86400, admin=True)."""
    count = iter(range(100))
    yield from servers(lambda version="2.13.5", token_ttl=86400: Server(
        tmp_path / str(next(count)), version, token_ttl))


def run(module, check=False, diff=True, **args):
    """Run a module's main() as Ansible would; return its JSON result."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main()
    result = json.loads(out.getvalue())
    result.setdefault("failed", False)
    return result


# --- npm_admin ------------------------------------------------------------------

def test_first_admin_on_213_is_made_once(server):
    npm = server(admin=False)
    assert npm.get("/")["setup"] is False
    preview = run(npm_admin, check=True, url=npm.url, **ADMIN)
    assert preview["changed"] is True and npm.get("/")["setup"] is False
    first = run(npm_admin, url=npm.url, **ADMIN)
    assert (first["changed"], first["action"]) == (True, "created")
    assert npm.get("/")["setup"] is True
    assert run(npm_admin, url=npm.url, **ADMIN)["changed"] is False
    assert npm.client().login(ADMIN["email"], ADMIN["password"])


def test_a_preview_without_a_running_proxy_does_not_wait():
    """Check mode on a new machine: nothing answers on the API's port, and
    nothing will (check mode starts no container), so the module says what
    it would do at once instead of waiting for the API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    preview = run(npm_admin, check=True, url=f"http://127.0.0.1:{port}/api", wait=60, **ADMIN)
    assert time.monotonic() - started < 10
    assert (preview["failed"], preview["changed"], preview["action"]) == (False, True, "created")
    # Outside check mode the same call waits, then fails naming the API.
    failed = run(npm_admin, url=f"http://127.0.0.1:{port}/api", wait=1, **ADMIN)
    assert failed["failed"] is True


def test_default_admin_before_213_is_replaced(standin):
    npm = standin(version="2.12.6", admin=False)
    assert "setup" not in npm.get("/")  # servers before 2.13 do not report it
    assert npm.client().login("admin@example.com", "changeme")
    result = run(npm_admin, url=npm.url, **ADMIN)
    assert (result["changed"], result["action"], result["version"]) == (True, "replaced-default", "2.12.6")
    with pytest.raises(npm_api.NpmError) as refused:
        npm.client().login("admin@example.com", "changeme")
    assert refused.value.status == 401
    assert npm.client().login(ADMIN["email"], ADMIN["password"])
    assert run(npm_admin, url=npm.url, **ADMIN)["changed"] is False


def test_admin_with_another_password_fails_without_changing_it(server):
    npm = server()
    result = run(npm_admin, url=npm.url, email=ADMIN["email"], password="not-the-password")
    assert result["failed"] is True
    assert "does not log in with the password from the vault" in result["msg"]
    assert "not-the-password" not in json.dumps(result)
    assert npm.client().login(ADMIN["email"], ADMIN["password"])


# --- npm_site -------------------------------------------------------------------

LAN = {"name": "lan-only", "clients": [{"address": "192.168.0.0/16", "directive": "allow"}]}
HOSTS = [
    {"domain_names": ["api.music-sim.test"], "forward_host": "megapi", "forward_port": 8000},
    {"domain_names": ["music-sim.test"], "forward_host": "musicsim-web", "forward_port": 3000},
    {"domain_names": ["mlflow.music-sim.test"], "forward_host": "mlflow", "forward_port": 5000,
     "access_list": "lan-only"},
]


def site(npm, hosts=HOSTS, lists=(LAN,), **more):
    return dict(url=npm.url, identity=ADMIN["email"], secret=ADMIN["password"],
                proxy_hosts=list(hosts), access_lists=list(lists), **more)


def by_domain(npm):
    return {h["domain_names"][0]: h for h in npm.objects("proxy-hosts")}


def test_a_declaration_is_created_then_left_alone(server):
    npm = server()
    preview = run(npm_site, check=True, **site(npm))
    assert preview["changed"] is True and len(preview["created"]) == 4
    assert npm.objects("proxy-hosts") == [] and npm.objects("access-lists") == []

    first = run(npm_site, **site(npm))
    assert first["changed"] is True
    assert sorted(first["created"]) == ["access list lan-only", "proxy host api.music-sim.test",
                                        "proxy host mlflow.music-sim.test", "proxy host music-sim.test"]
    hosts = by_domain(npm)
    lan_id = npm.objects("access-lists")[0]["id"]
    assert hosts["mlflow.music-sim.test"]["access_list_id"] == lan_id
    assert hosts["api.music-sim.test"]["forward_port"] == 8000
    assert all(h["meta"]["musicsim_managed"] is True for h in hosts.values())

    again = run(npm_site, **site(npm))
    assert (again["changed"], again["created"], again["updated"], again["deleted"]) == (False, [], [], [])
    assert by_domain(npm) == hosts


def test_changing_one_route_changes_that_host_only(server):
    npm = server()
    run(npm_site, **site(npm))
    before = by_domain(npm)
    time.sleep(1.1)  # modified_on has a resolution of one second
    moved = [dict(h, forward_port=8001) if h["forward_host"] == "megapi" else h for h in HOSTS]

    preview = run(npm_site, check=True, **site(npm, moved))
    assert preview["updated"] == ["proxy host api.music-sim.test (forward_port)"]
    assert preview["diff"]["before"]["proxy host api.music-sim.test"]["forward_port"] == 8000
    assert preview["diff"]["after"]["proxy host api.music-sim.test"]["forward_port"] == 8001
    assert by_domain(npm) == before

    result = run(npm_site, **site(npm, moved))
    assert (result["changed"], result["updated"], result["created"], result["deleted"]) == (
        True, ["proxy host api.music-sim.test (forward_port)"], [], [])
    after = by_domain(npm)
    assert after["api.music-sim.test"]["forward_port"] == 8001
    for name in ("music-sim.test", "mlflow.music-sim.test"):
        assert after[name] == before[name], f"{name} was touched"


def test_hosts_no_longer_declared_are_removed_but_not_hand_made_ones(server):
    npm = server()
    run(npm_site, **site(npm))
    npm.client().create("proxy-hosts", {"domain_names": ["by-hand.music-sim.test"], "forward_scheme": "http",
                                        "forward_host": "somewhere", "forward_port": 80})
    kept = run(npm_site, prune=False, **site(npm, HOSTS[:2]))
    assert kept["changed"] is False and len(npm.objects("proxy-hosts")) == 4

    result = run(npm_site, **site(npm, HOSTS[:2]))
    assert result["deleted"] == ["proxy host mlflow.music-sim.test"]
    assert sorted(by_domain(npm)) == ["api.music-sim.test", "by-hand.music-sim.test", "music-sim.test"]
    # Access lists carry no marker upstream (2.13+): never deleted.
    assert [a["name"] for a in npm.objects("access-lists")] == ["lan-only"]
    assert run(npm_site, **site(npm, HOSTS[:2]))["changed"] is False


def test_a_host_of_ours_can_gain_and_lose_an_alias(server):
    npm = server()
    run(npm_site, **site(npm, HOSTS[:1], []))
    ident = by_domain(npm)["api.music-sim.test"]["id"]
    alias = [dict(HOSTS[0], domain_names=["api.music-sim.test", "www-api.music-sim.test"])]
    result = run(npm_site, **site(npm, alias, []))
    assert result["updated"] == ["proxy host api.music-sim.test,www-api.music-sim.test (domain_names)"]
    assert (result["created"], result["deleted"]) == ([], [])
    hosts = npm.objects("proxy-hosts")
    assert [(h["id"], h["domain_names"]) for h in hosts] == [(ident, ["api.music-sim.test", "www-api.music-sim.test"])]
    assert run(npm_site, **site(npm, alias, []))["changed"] is False
    assert run(npm_site, **site(npm, HOSTS[:1], []))["updated"] == ["proxy host api.music-sim.test (domain_names)"]


def test_a_hand_made_host_for_a_declared_domain_is_adopted(server):
    npm = server()
    npm.client().create("proxy-hosts", {"domain_names": ["api.music-sim.test"], "forward_scheme": "http",
                                        "forward_host": "old-api", "forward_port": 80})
    result = run(npm_site, **site(npm, HOSTS[:1], []))
    assert result["updated"] == ["proxy host api.music-sim.test (forward_host, forward_port, block_exploits, meta)"]
    host = by_domain(npm)["api.music-sim.test"]
    assert (host["forward_host"], host["forward_port"], host["meta"]["musicsim_managed"]) == ("megapi", 8000, True)


def test_access_list_changes_are_applied(server):
    npm = server()
    run(npm_site, **site(npm))
    wider = dict(LAN, clients=LAN["clients"] + [{"address": "10.0.0.0/8", "directive": "allow"}])
    result = run(npm_site, **site(npm, lists=[wider]))
    assert result["updated"] == ["access list lan-only (clients)"]
    clients = npm.client().list("access-lists", "clients")[0]["clients"]
    assert sorted(c["address"] for c in clients) == ["10.0.0.0/8", "192.168.0.0/16"]
    # The server keeps no order of its own: a reordered declaration is no change.
    reordered = dict(wider, clients=list(reversed(wider["clients"])))
    assert run(npm_site, **site(npm, lists=[reordered]))["changed"] is False


def test_certificates_are_requested_once_and_reused(server):
    npm = server(acme=True)
    secure = [dict(HOSTS[0], certificate="letsencrypt", ssl_forced=True, hsts_enabled=True, http2_support=True)]
    first = run(npm_site, **site(npm, secure, []))
    assert "certificate api.music-sim.test" in first["created"]
    certificates = npm.objects("certificates")
    assert len(certificates) == 1
    host = by_domain(npm)["api.music-sim.test"]
    assert (host["certificate_id"], host["ssl_forced"], host["hsts_enabled"]) == (certificates[0]["id"], True, True)
    # A host restored without its proxy host (or rebuilt) finds the valid
    # certificate again instead of asking Let's Encrypt for a new one.
    npm.client().delete("proxy-hosts", host["id"])
    again = run(npm_site, **site(npm, secure, []))
    assert again["created"] == ["proxy host api.music-sim.test"]
    assert len(npm.objects("certificates")) == 1
    assert by_domain(npm)["api.music-sim.test"]["certificate_id"] == certificates[0]["id"]


def test_one_wildcard_certificate_by_dns_challenge_serves_every_host(standin):
    npm = standin()
    credentials = "dns_ovh_endpoint = ovh-eu\ndns_ovh_application_secret = throwaway-dns-secret\n"
    wildcard = {"name": "wildcard", "domain_names": ["*.music-sim.test", "music-sim.test"],
                "dns_provider": "ovh", "dns_credentials": credentials}
    hosts = [dict(h, certificate="wildcard", ssl_forced=True) for h in HOSTS[:2]]
    result = run(npm_site, certificates=[wildcard], **site(npm, hosts, []))
    assert "throwaway-dns-secret" not in json.dumps(result)
    certificates = npm.objects("certificates")
    assert len(certificates) == 1
    assert certificates[0]["meta"]["dns_challenge"] is True and certificates[0]["meta"]["dns_provider"] == "ovh"
    assert {h["certificate_id"] for h in by_domain(npm).values()} == {certificates[0]["id"]}
    assert run(npm_site, certificates=[wildcard], **site(npm, hosts, []))["changed"] is False


def test_before_213_certificates_carry_the_lets_encrypt_account(standin):
    # 2.12 requires letsencrypt_email/agree in the request; 2.13 refuses them.
    for version in ("2.12.6", "2.13.5"):
        npm = standin(version=version)
        result = run(npm_site, **site(npm, [dict(HOSTS[0], certificate="letsencrypt")], []))
        assert result["failed"] is False, (version, result)
        assert npm.objects("certificates")[0]["meta"]["letsencrypt_email"] == ADMIN["email"]


def test_fields_an_older_server_refuses_are_not_sent(releases):
    host = dict(HOSTS[0], trust_forwarded_proto=True)
    old = releases("2.13.5")
    result = run(npm_site, **site(old, [host], []))
    assert result["failed"] is False and result["created"] == ["proxy host api.music-sim.test"]
    assert "trust_forwarded_proto needs nginx-proxy-manager 2.14.0" in json.dumps(result["warnings"])
    assert "trust_forwarded_proto" not in by_domain(old)["api.music-sim.test"]
    new = releases("2.15.1")
    assert run(npm_site, **site(new, [host], []))["failed"] is False
    assert by_domain(new)["api.music-sim.test"]["trust_forwarded_proto"] is True
    assert run(npm_site, **site(new, [host], []))["changed"] is False


def test_a_refusal_of_the_server_fails_with_its_message(server):
    npm = server()
    bad = [dict(HOSTS[0], domain_names=["api music-sim.test"])]
    result = run(npm_site, **site(npm, bad, []))
    assert result["failed"] is True and result["status"] == 400
    assert "answered 400: data/domain_names/0 must match pattern" in result["msg"]
    # The client passes upstream's own words on, for an unknown field too.
    with pytest.raises(npm_api.NpmError) as refused:
        npm.client().create("proxy-hosts", {"domain_names": ["x.music-sim.test"], "forward_scheme": "http",
                                            "forward_host": "x", "forward_port": 80, "bogus": 1})
    assert refused.value.status == 400
    assert "answered 400: data must NOT have additional properties" in str(refused.value)


@pytest.mark.parametrize("hosts, message", [
    ([dict(HOSTS[0]), dict(HOSTS[1], domain_names=["API.music-sim.test"])],
     "api.music-sim.test is declared by proxy_hosts[0] and proxy_hosts[1]"),
    ([{"domain_names": ["api.music-sim.test"], "forward_port": 8000}], "proxy_hosts[0] has no forward_host"),
    ([dict(HOSTS[0], ssl_forcd=True)], "proxy_hosts[0] has unknown fields: ssl_forcd"),
])
def test_a_wrong_declaration_fails_before_the_server_is_touched(server, hosts, message):
    npm = server()
    result = run(npm_site, **site(npm, hosts, []))
    assert result["failed"] is True and message in result["msg"]
    assert npm.objects("proxy-hosts") == []


def test_an_undeclared_access_list_or_certificate_is_refused(server):
    npm = server()
    result = run(npm_site, **site(npm, [dict(HOSTS[0], access_list="nowhere")], []))
    assert result["failed"] is True and "access list 'nowhere' is not declared" in result["msg"]
    result = run(npm_site, **site(npm, [dict(HOSTS[0], certificate="nowhere")], []))
    assert result["failed"] is True and "certificate 'nowhere' is neither" in result["msg"]
    assert npm.objects("proxy-hosts") == []


def test_an_expired_token_is_renewed(server):
    npm = server()
    client = npm.client()
    client.list("proxy-hosts")
    # A token that expires at once, which the client still believes in.
    stale = client._token = npm.short_token(1)
    client._expires = time.time() + 3600
    time.sleep(2)
    with pytest.raises(npm_api.NpmError) as refused:
        client.send("GET", "/nginx/proxy-hosts", None, stale)
    # Upstream's words, in a 400 (its authentication errors are 400s).
    assert (refused.value.status, refused.value.message) == (400, "Token has expired")
    assert client.list("proxy-hosts") == []
    assert client._token != stale


def test_an_unreachable_server_is_a_clear_failure_and_a_harmless_preview():
    args = dict(url="http://127.0.0.1:9/api", identity=ADMIN["email"], secret=ADMIN["password"], proxy_hosts=HOSTS[:1])
    result = run(npm_site, **args)
    assert result["failed"] is True and "did not answer" in result["msg"]
    preview = run(npm_site, check=True, **args)
    assert preview["failed"] is False and preview["changed"] is True


@pytest.mark.parametrize("expires_on, valid", [
    ("2999-01-01 00:00:00", True),
    ("2000-01-01 00:00:00", False),
    ("2000-01-01T00:00:00.000Z", False),
    ("", True),  # unknown expiry: trust the server, which renews it itself
])
def test_an_expired_certificate_is_not_reused(expires_on, valid):
    assert npm_site.still_valid({"expires_on": expires_on}) is valid


@pytest.mark.parametrize("version, expected", [
    ({"major": 2, "minor": 13, "revision": 5}, (2, 13, 5)),
    ("2.14.0", (2, 14, 0)),  # upstream's development branch answers a string
    ("v2.15.0-dev", (2, 15, 0)),
])
def test_the_version_is_read_in_either_form(version, expected):
    assert npm_api.version_tuple({"version": version}) == expected
