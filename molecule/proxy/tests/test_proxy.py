"""The proxy role on a test host: nginx-proxy-manager (built from its
source) routes every declared subdomain to its upstream over HTTPS, with
certificates certbot obtained from the ACME test server, keeps LAN-only
routes from other clients, keeps its admin port off public addresses, and
has no default admin left."""

import json
import shlex

import pytest

DOMAIN = "music-sim.test"
ADMIN = ("admin@music-sim.test", "throwaway-proxy-password")

# A request as a browser makes it, sent to the proxy's address with the
# route's name (Host header and, over TLS, SNI). Prints the status line,
# then the Location header or the body. Over TLS the certificate is
# verified, name included, against the root the ACME test server issues
# from (a browser's store holds Let's Encrypt's).
REQUEST = r"""
import socket, ssl, sys
address, port, name, path, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sock = socket.create_connection((address, port), timeout=10)
if port == 443:
    context = ssl.create_default_context(cadata=root)
    sock = context.wrap_socket(sock, server_hostname=name)
sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
reply = b"".join(iter(lambda: sock.recv(4096), b"")).decode(errors="replace")
head, _, body = reply.partition("\r\n\r\n")
lines = head.split("\r\n")
location = [l.split(": ", 1)[1] for l in lines[1:] if l.lower().startswith("location:")]
print(lines[0].split(" ")[1])
print(location[0] if location else body.strip())
"""


def acme_root(host):
    """The root certificate the ACME test server issues from (new on each of
    its starts), read from its management API."""
    return host.check_output(
        "docker exec pebble curl -sf --cacert /etc/pebble/ca.pem https://localhost:15000/roots/0")


def request(host, name, path="/whoami", port=443, client=None, address=None):
    """(status, location or body) of a request for name, from the test host
    itself or from a client container on the edge network."""
    if client:
        address = address or "nginx-proxy-manager"
        prefix = f"docker exec {client} "
    else:
        address = address or "127.0.0.1"
        prefix = ""
    out = host.check_output(f"{prefix}python3 -c {shlex.quote(REQUEST)} {address} {port} {name} {path} "
                            f"{shlex.quote(acme_root(host))}")
    status, _, rest = out.partition("\n")
    return int(status), rest.strip()


def test_container_is_healthy_with_a_memory_limit(host):
    state = json.loads(host.check_output("docker inspect nginx-proxy-manager"))[0]
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == 256 * 1024 * 1024
    # side_effect.yml upgraded it from the role's 2.13.5.
    assert state["Config"]["Image"] == "musicsim-test/nginx-proxy-manager:2.15.1"


def test_only_80_and_443_are_published_on_every_address(host):
    ports = json.loads(host.check_output("docker inspect nginx-proxy-manager"))[0]["NetworkSettings"]["Ports"]
    bound = {port: sorted({b["HostIp"] for b in bindings or []}) for port, bindings in ports.items()}
    assert bound["80/tcp"] == ["0.0.0.0"]
    assert bound["443/tcp"] == ["0.0.0.0"]
    assert bound["81/tcp"] == ["127.0.0.1"]


def test_admin_port_is_closed_on_the_host_network_address(host):
    # From a container, the host is its gateway: what another machine of the
    # LAN would reach. Port 81 answers on 127.0.0.1 only.
    gateway = host.check_output("docker network inspect edge --format '{{ (index .IPAM.Config 0).Gateway }}'")
    probe = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 81), timeout=3)\n"
             "    print('open')\nexcept OSError:\n    print('closed')")
    assert host.check_output(f"docker exec wan-client python3 -c {shlex.quote(probe)} {gateway}") == "closed"
    assert host.check_output(f"python3 -c {shlex.quote(probe)} 127.0.0.1") == "open"


def test_data_and_certificates_are_on_the_host_for_backups(host):
    assert host.file("/srv/musicsim/proxy/data/database.sqlite").size > 0
    assert host.file("/srv/musicsim/proxy/letsencrypt/live").is_directory
    assert host.file("/srv/musicsim/proxy").mode == 0o750


@pytest.mark.parametrize("name, upstream", [
    (DOMAIN, "musicsim-web"),
    (f"api.{DOMAIN}", "megapi"),
])
def test_each_public_route_reaches_its_upstream_over_https(host, name, upstream):
    assert request(host, name, port=80, client="wan-client") == (301, f"https://{name}/whoami")
    assert request(host, name, client="wan-client") == (200, upstream)
    assert request(host, name) == (200, upstream)


def test_https_routes_send_hsts(host):
    script = REQUEST.replace('print(lines[0].split(" ")[1])', "print([l for l in lines if l.lower().startswith('strict')])")
    out = host.check_output(f"python3 -c {shlex.quote(script)} 127.0.0.1 443 api.{DOMAIN} /whoami "
                            f"{shlex.quote(acme_root(host))}")
    assert "max-age=63072000" in out


def test_lan_route_answers_the_lan_client_only(host):
    name = f"mlflow.{DOMAIN}"
    assert request(host, name, client="lan-client") == (200, "mlflow")
    assert request(host, name, client="wan-client")[0] == 403
    # The test host itself reaches the proxy through Docker's gateway: not LAN here.
    assert request(host, name)[0] == 403


def test_an_undeclared_name_reaches_no_upstream(host):
    status, body = request(host, f"old.{DOMAIN}", port=80, client="wan-client")
    assert "megapi" not in body and "mlflow" not in body and "musicsim-web" not in body


def api(host, method, path, body=None, token=None):
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "r = urllib.request.Request('http://127.0.0.1:81/api' + sys.argv[1], method=sys.argv[2],"
        " data=sys.argv[3].encode() or None, headers={'Content-Type': 'application/json'})\n"
        "if sys.argv[4]: r.add_header('Authorization', 'Bearer ' + sys.argv[4])\n"
        "try:\n    reply = urllib.request.urlopen(r)\nexcept urllib.error.HTTPError as e:\n    reply = e\n"
        "print(reply.status); print(reply.read().decode())"
    )
    out = host.check_output(f"python3 -c {shlex.quote(script)} {shlex.quote(path)} {method} "
                            f"{shlex.quote(json.dumps(body) if body else '')} {shlex.quote(token or '')}")
    status, _, text = out.partition("\n")
    return int(status), json.loads(text)


def test_the_admin_comes_from_the_inventory_and_no_default_is_left(host):
    assert api(host, "GET", "/")[1]["setup"] is True
    status, reply = api(host, "POST", "/tokens", {"identity": "admin@example.com", "secret": "changeme"})
    assert (status, reply["error"]["message"]) == (400, "Invalid email or password")
    status, token = api(host, "POST", "/tokens", {"identity": ADMIN[0], "secret": ADMIN[1]})
    assert status == 200
    status, hosts = api(host, "GET", "/nginx/proxy-hosts", token=token["token"])
    assert sorted(h["domain_names"][0] for h in hosts) == sorted([DOMAIN, f"api.{DOMAIN}", f"mlflow.{DOMAIN}"])
    assert all(h["meta"]["musicsim_managed"] for h in hosts)


def test_each_https_route_has_its_own_certificate_from_the_acme_server(host):
    status, token = api(host, "POST", "/tokens", {"identity": ADMIN[0], "secret": ADMIN[1]})
    status, certificates = api(host, "GET", "/nginx/certificates", token=token["token"])
    issued = {c["domain_names"][0]: c for c in certificates}
    # One per route, none requested twice.
    assert len(certificates) == 3
    assert sorted(issued) == sorted([DOMAIN, f"api.{DOMAIN}", f"mlflow.{DOMAIN}"])
    for certificate in issued.values():
        assert certificate["provider"] == "letsencrypt"
        live = f"/etc/letsencrypt/live/npm-{certificate['id']}"
        issuer = host.check_output(f"docker exec nginx-proxy-manager openssl x509 -in {live}/fullchain.pem"
                                   " -noout -issuer")
        assert issuer.startswith("issuer=CN=Pebble Intermediate CA"), issuer
        assert host.file(f"/srv/musicsim/proxy/letsencrypt/live/npm-{certificate['id']}/privkey.pem").exists
    # Each one verifies against the ACME server's root, for its own name
    # (request() verifies; the public routes are checked above).
    assert request(host, f"mlflow.{DOMAIN}", client="lan-client") == (200, "mlflow")


def test_compose_file_is_readable_by_root_only(host):
    compose = host.file("/opt/musicsim/proxy/compose.yaml")
    assert compose.mode == 0o640 and compose.user == "root"
    assert "throwaway-proxy-password" not in compose.content_string


def test_changing_one_route_changes_that_host_only(host):
    # side_effect.yml re-ran the role with the api route pointed at the web
    # container, and recorded the proxy before and after.
    change = json.loads(host.file("/var/tmp/route-change.json").content_string)
    assert change["reported"] == {
        "created": [], "updated": [f"proxy host api.{DOMAIN} (forward_host, forward_port)"], "deleted": []}, change["reported"]
    before = {h["domain_names"][0]: h for h in change["before"]["nginx/proxy-hosts"]}
    after = {h["domain_names"][0]: h for h in change["after"]["nginx/proxy-hosts"]}
    assert sorted(before) == sorted(after)
    assert [name for name in before if before[name] != after[name]] == [f"api.{DOMAIN}"]
    assert (before[f"api.{DOMAIN}"]["forward_host"], after[f"api.{DOMAIN}"]["forward_host"]) == ("megapi", "musicsim-web")
    assert change["before"]["nginx/access-lists"] == change["after"]["nginx/access-lists"]
    assert change["before"]["nginx/certificates"] == change["after"]["nginx/certificates"]
    assert change["started_before"] == change["started_after"], "the container was restarted"
    assert change["api_reaches"] == "musicsim-web"
    # Then the inventory's declaration was applied again.
    assert request(host, f"api.{DOMAIN}") == (200, "megapi")


def test_an_upgrade_to_2_15_keeps_every_host_list_and_certificate(host):
    # side_effect.yml moved the role from 2.13.5 to 2.15.1 (both built from
    # upstream's source) and recorded the API and the certificate files.
    upgrade = json.loads(host.file("/var/tmp/proxy-upgrade.json").content_string)
    assert upgrade["versions"] == [{"major": 2, "minor": 13, "revision": 5}, {"major": 2, "minor": 15, "revision": 1}]
    # Nothing in the proxy had to change, on the upgrade's run or after it.
    nothing = {"created": [], "updated": [], "deleted": []}
    assert upgrade["first_run"] == nothing and upgrade["second_run"] == nothing, upgrade
    for kind in ("nginx/proxy-hosts", "nginx/access-lists", "nginx/certificates"):
        before = {o["id"]: o for o in upgrade["before"][kind]}
        after = {o["id"]: o for o in upgrade["after"][kind]}
        assert sorted(before) == sorted(after), kind
        for ident, old in before.items():
            # 2.15 adds fields (a host's trust_forwarded_proto); none of the
            # old ones changed but the time of the migration.
            changed = {k for k in old if k != "modified_on" and old[k] != after[ident].get(k)}
            assert not changed, (kind, ident, changed)
    # The certificates were not requested again: the same files, byte for byte.
    assert upgrade["files_before"] and upgrade["files_before"] == upgrade["files_after"]
