"""The whole site on one server, seen from a LAN client and an internet
client (prepare.yml): what answers, from where.

- From the internet only 80 and 443 answer; SSH (not declared public) does not.
- From the LAN, SSH, 80 and 443 answer.
- No database, object store, metrics or admin port answers from either,
  nor any other port the server listens on.
- Through the proxy, every route answers from the LAN; from the internet the
  public routes answer and every LAN-only route is refused with 403.
"""

import pathlib
import shlex

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROUTES = yaml.safe_load((ROOT / "group_vars/all/main.yml").read_text())["site_routes"]
# The probe path each role declares for its routes (roles/*/meta/site.yml).
PROBE_PATHS = {route["name"]: route["probe_path"] for path in ROOT.glob("roles/*/meta/site.yml")
               for route in yaml.safe_load(path.read_text()).get("routes", []) if "probe_path" in route}
DOMAIN = yaml.safe_load((ROOT / "inventories/local/group_vars/musicsim.yml").read_text())["site_domain"]

CLIENTS = {
    # client: (its network namespace, the server's address on its link)
    "LAN": ("lan", "10.99.0.1"),
    "internet": ("wan", "198.51.100.253"),
}
# Ports a music-sim server could expose by mistake: its services' own ports.
SENSITIVE = {
    81: "nginx-proxy-manager admin", 3000: "front end / Grafana", 3306: "MariaDB", 5000: "MLflow",
    5432: "Postgres", 8000: "megapi", 8080: "cAdvisor", 8089: "Locust", 9000: "MinIO API",
    9001: "MinIO console", 9090: "Prometheus", 9093: "Alertmanager", 9100: "node-exporter",
    9115: "blackbox-exporter", 9187: "postgres-exporter",
}
EXPECTED = {"LAN": {22, 80, 443}, "internet": {80, 443}}
# Where each route is asked: its probe path, or / (a page, a login, a
# redirect); nginx-proxy-manager's admin at its API's status, / being its
# web UI, which the test build leaves out (tests/images/README.md).
PATHS = {"proxy-admin": "/api/"}

# Connects to each address:port at once (a dropped packet costs the whole
# timeout); prints the ones that answer.
PROBE = (
    "import socket, sys\n"
    "from concurrent.futures import ThreadPoolExecutor\n"
    "def answers(target):\n"
    "    address, port = target.rsplit(':', 1)\n"
    "    try:\n"
    "        socket.create_connection((address, int(port)), timeout=3).close(); return True\n"
    "    except OSError:\n        return False\n"
    "with ThreadPoolExecutor(64) as pool:\n"
    "    for target, ok in zip(sys.argv[1:], pool.map(answers, sys.argv[1:])):\n"
    "        if ok:\n            print(target)\n"
)
# A GET over HTTPS to the server's address, with the route's name in SNI and
# the Host header as a browser sends them, the certificate verified against
# the root of the ACME test server that issued it. Prints the status.
HTTPS_GET = (
    "import socket, ssl, sys\n"
    "context = ssl.create_default_context(cafile='/etc/musicsim-test/acme-root.pem')\n"
    "server, name, path = sys.argv[1:4]\n"
    "tls = context.wrap_socket(socket.create_connection((server, 443), timeout=10), server_hostname=name)\n"
    "tls.sendall(f'GET {path} HTTP/1.1\\r\\nHost: {name}\\r\\nConnection: close\\r\\n\\r\\n'.encode())\n"
    "print(tls.recv(64).split(b' ')[1].decode())\n"
)


def run_python(host, namespace, program, *args):
    """The program in a client's network namespace, or on the server (None)."""
    quoted = " ".join(shlex.quote(str(a)) for a in args)
    prefix = f"ip netns exec {namespace} " if namespace else ""
    out = host.run(f"{prefix}python3 -c {shlex.quote(program)} {quoted}")
    assert out.rc == 0, out.stderr
    return out.stdout


def in_client(host, client, program, *args):
    return run_python(host, CLIENTS[client][0], program, *args)


def answering(host, namespace, targets):
    """The address:port targets that accept a connection from there."""
    return set(run_python(host, namespace, PROBE, *targets).split())


def listening_ports(host):
    """TCP ports the server listens on, on any address but loopback."""
    ports = set()
    for line in host.check_output("ss -Htln").splitlines():
        local = line.split()[3]
        address, port = local.rsplit(":", 1)
        if not address.startswith(("127.", "[::1]")):
            ports.add(int(port))
    return ports


def test_only_the_declared_ports_answer(host):
    """Every port the server listens on and every service port, from each
    client; the table is printed for the record."""
    listening = listening_ports(host)
    ports = sorted(listening | set(SENSITIVE) | {22, 80, 443})
    seen = {}
    for client, (namespace, server) in CLIENTS.items():
        seen[client] = {int(t.rsplit(":", 1)[1]) for t in answering(host, namespace, [f"{server}:{p}" for p in ports])}
    print("\nport   LAN      internet  listens  what")
    for port in ports:
        what = SENSITIVE.get(port, {22: "SSH", 80: "HTTP (proxy)", 443: "HTTPS (proxy)"}.get(port, ""))
        print(f"{port:<6} {'open' if port in seen['LAN'] else 'closed':<8} "
              f"{'open' if port in seen['internet'] else 'closed':<9} {'yes' if port in listening else 'no':<8} {what}")
    assert seen == EXPECTED


def test_the_proxy_admin_port_listens_on_the_machine_only(host):
    # 81 answers on the server itself (the proxy role uses it), not from a client.
    assert host.socket("tcp://127.0.0.1:81").is_listening
    assert 81 not in listening_ports(host)


def test_no_container_answers_a_client_routed_through_the_server(host):
    """A neighbour that routes Docker's networks through the server (prepare.yml)
    reaches no container directly, on any service port: only what the proxy
    publishes, through the server's own address. The control: from the server
    itself, the same addresses answer (databases among them)."""
    addresses = host.check_output(
        "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' $(docker ps -q)").split()
    targets = [f"{address}:{port}" for address in addresses for port in sorted(set(SENSITIVE) | {80, 443})]
    from_server = answering(host, None, targets)
    answering_ports = {int(t.rsplit(":", 1)[1]) for t in from_server}
    print(f"\n{len(addresses)} container addresses x {len(targets) // len(addresses)} ports: "
          f"{len(from_server)} answer on the server itself, ports {sorted(answering_ports)}")
    assert {5432, 3306, 9000} <= answering_ports
    for client, (namespace, _) in CLIENTS.items():
        assert answering(host, namespace, sorted(from_server)) == set(), client


@pytest.mark.parametrize("client", list(CLIENTS))
def test_every_route_answers_as_declared(host, client):
    _, server = CLIENTS[client]
    statuses = {}
    for route in ROUTES:
        name = f"{route['subdomain']}.{DOMAIN}" if route["subdomain"] else DOMAIN
        statuses[route["name"]] = int(in_client(host, client, HTTPS_GET, server, name,
                                                PATHS.get(route["name"], route.get("probe_path", PROBE_PATHS.get(route["name"], "/")))).strip())
    print(f"\nfrom the {client}: " + ", ".join(f"{name} {status}" for name, status in statuses.items()))
    for route in ROUTES:
        status = statuses[route["name"]]
        if client == "internet" and route["exposure"] == "lan":
            assert status == 403, route["name"]
        else:
            # Served by its upstream: a page, a redirect or a login; not
            # refused by the access list, not missing, not a gateway error.
            assert status < 400 or status == 401, (route["name"], status)


def test_both_kinds_of_route_are_declared():
    # Without a LAN-only route the 403 above would test nothing.
    assert {r["exposure"] for r in ROUTES} == {"public", "lan"}
