"""The whole site on one host: what site.yml leaves running today."""

import json
import os
import pathlib
import re
import shlex
import socket
import ssl
import sys
from urllib.parse import quote

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "harness"))
from front_end import api_address  # noqa: E402  the API address the pages call, shared with other scenarios

HERE = pathlib.Path(__file__).parent


def test_admin_user_runs_docker_compose_v2(host):
    # The site's admin user (group_vars/all) is in the docker group.
    out = host.run("runuser -u musicsim -- docker compose version --short")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip().lstrip("v").startswith("2.")


def test_site_hostname_and_timezone(host):
    # The inventory's name for the host: musicsim-site, or musicsim-demo.
    assert host.check_output("hostname") == host.backend.get_hostname()
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Paris"


def test_edge_network_ready_for_the_stacks(host):
    net = json.loads(host.check_output("docker network inspect edge"))[0]
    assert net["Driver"] == "bridge"


def test_engine_enforces_memory_limits(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["MemoryLimit"] is True
    assert info["LiveRestoreEnabled"] is True


def test_proxy_serves_every_declared_route(host):
    # Each route of group_vars/all/main.yml is a proxy host: HTTP redirects
    # to HTTPS for its own name.
    routes = ["", "api.", "monitor.", "mlflow.", "prometheus.", "proxy.", "minio.", "locust."]
    for prefix in routes:
        name = f"{prefix}music-sim.test"
        out = host.check_output(
            "python3 -c \"import http.client as h; c = h.HTTPConnection('127.0.0.1', 80); "
            f"c.request('GET', '/', headers={{'Host': '{name}'}}); r = c.getresponse(); "
            "print(r.status, r.getheader('Location'))\""
        )
        assert out == f"301 https://{name}/", name


# A GET over HTTPS to the proxy, with the name in SNI and the Host header as
# a browser sends them; the certificate verified against the root of the
# ACME test server that issued it (tests/harness/acme-server.yml). Prints
# the status and the body.
HTTPS_GET = (
    "import socket, ssl, sys\n"
    "context = ssl.create_default_context(cafile='/etc/musicsim-test/acme-root.pem')\n"
    "name, path = sys.argv[1], sys.argv[2]\n"
    "tls = context.wrap_socket(socket.create_connection(('127.0.0.1', 443)), server_hostname=name)\n"
    "tls.sendall(f'GET {path} HTTP/1.0\\r\\nHost: {name}\\r\\n\\r\\n'.encode())\n"
    "reply = b''.join(iter(lambda: tls.recv(4096), b'')).decode()\n"
    "print(reply.split(' ')[1]); print(reply.partition('\\r\\n\\r\\n')[2])\n"
)


def https_get(host, name, path):
    status, _, body = host.check_output(f"python3 -c {shlex.quote(HTTPS_GET)} {name} {shlex.quote(path)}").partition("\n")
    return int(status), body


def test_the_root_route_reaches_the_front_end_with_the_api_url(host):
    status, page = https_get(host, "music-sim.test", "/")
    assert status == 200 and "<title>Music Similiarity</title>" in page  # (sic: upstream's title)

    def served(path):
        status, body = https_get(host, "music-sim.test", path)
        assert status == 200, (path, status)
        return body
    # The API's address the front end's pages call (baked in by its build).
    assert api_address(served) == "https://api.music-sim.test"


def test_the_api_route_reaches_megapi_over_https(host):
    status, body = https_get(host, "api.music-sim.test", "/metrics")
    assert status == 200 and "http_request" in body


def test_the_app_and_its_stores_are_healthy(host):
    for name in ("megapi", "megapi-postgres", "minio", "musicsim-web", "mlflow", "mlflow-mariadb"):
        assert host.check_output(f"docker inspect --format '{{{{ .State.Health.Status }}}}' {name}") == "healthy", name


def test_the_monitor_route_reaches_grafana(host):
    status, body = https_get(host, "monitor.music-sim.test", "/api/health")
    assert status == 200 and json.loads(body)["database"] == "ok", body


def test_prometheus_scrapes_the_site_and_probes_its_public_routes(host):
    out = host.check_output("docker exec prometheus wget -q -O - 'http://127.0.0.1:9090/api/v1/targets?state=active'")
    targets = json.loads(out)["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"prometheus", "alertmanager", "node", "cadvisor", "blackbox",
                                                          "megapi-log", "postgres", "probe"}
    assert {t["labels"].get("route") for t in targets if t["labels"]["job"] == "probe"} == {"web", "api", "grafana"}
    assert [t["scrapeUrl"] for t in targets if t["health"] != "up"] == []


def test_every_container_of_the_site_is_watched_and_runs(host):
    """site_containers (what the roles declare in their meta/site.yml) and what site.yml runs
    agree: ContainerAbsent covers every running container, and each one it
    covers runs."""
    out = host.check_output("docker exec prometheus wget -q -O - http://127.0.0.1:9090/api/v1/rules")
    rule = next(r for g in json.loads(out)["data"]["groups"] for r in g["rules"] if r["name"] == "ContainerAbsent")
    machine = re.escape(host.backend.get_hostname())
    expected = set(re.findall(rf'host="{machine}",\s*name="([^"]+)"', rule["query"]))
    running = set(host.check_output("docker ps --format '{{.Names}}'").split())
    assert expected == running


# The containers that keep a writable root, and why: roles' compose files.
WRITABLE_ROOT = {"nginx-proxy-manager", "megapi"}


def test_every_container_runs_hardened(host):
    """Each running container, as the kernel sees its main process: it cannot
    gain a privilege, holds only the capabilities its compose file adds back
    (none for most), has a PIDs limit and a CPU weight, and a read-only root
    unless its compose file says why not."""
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    assert len(names) >= 10
    for container in json.loads(host.check_output("docker inspect " + " ".join(names))):
        name, config = container["Name"].lstrip("/"), container["HostConfig"]
        assert "no-new-privileges:true" in config["SecurityOpt"], name
        assert config["CapDrop"] == ["ALL"], name
        assert config["PidsLimit"] and config["PidsLimit"] > 0, name
        assert config["CpuShares"] in (512, 2048), name
        assert config["ReadonlyRootfs"] is (name not in WRITABLE_ROOT), name
        status = host.file(f"/proc/{container['State']['Pid']}/status").content_string
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE), name
        effective = int(re.search(r"^CapEff:\s+(\w+)$", status, re.MULTILINE).group(1), 16)
        # Every capability the process holds is one its compose file added.
        added = len(config["CapAdd"] or [])
        assert bin(effective).count("1") <= added, (name, hex(effective), config["CapAdd"])


def test_no_vault_value_is_in_the_output_of_any_play_even_at_vvv():
    """Every step ran at -vvv (ANSIBLE_VERBOSITY in molecule.yml, and in
    tests/harness/run-demo.sh for `make demo`), which prints each task's
    arguments and results unless no_log hides them. Ansible kept the output
    of every play (MUSICSIM_PLAYS_LOG): converge, idempotence, check mode."""
    text = pathlib.Path(os.environ["MUSICSIM_PLAYS_LOG"]).read_text(errors="replace")
    assert "ESTABLISH DOCKER CONNECTION" in text, "the plays did not run at -vvv"
    test_site = yaml.safe_load((HERE.parents[2] / "inventories/local/group_vars/musicsim.yml").read_text())
    vault = {name: value for name, value in test_site.items() if name.startswith("vault_")}
    assert len(vault) >= 10
    for name, value in vault.items():
        # The value itself, and its throwaway part (a URL's token).
        for secret in {value, value.rsplit("/", 1)[-1], quote(value, safe="")}:
            assert secret not in text, f"a play printed {name}"


def test_every_route_answers_this_machine_as_the_demo_report_says(host):
    """`make demo`'s report tells a newcomer to reach each route with
    `curl -k --resolve NAME:443:ADDRESS`: from this machine, whose address on
    Docker's bridge is in the site's LAN ranges, every route answers through
    the proxy, LAN-only ones included (no 403, no proxy error). As curl -k,
    the certificates are not verified (the ACME test server's root is on
    the demo host; https_get above verifies them there)."""
    site = yaml.safe_load((HERE.parents[2] / "inventories/local/group_vars/musicsim.yml").read_text())
    address = next(a for a in host.interface("eth0").addresses if "." in a)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    statuses = {}
    for prefix in ("", "api.", "monitor.", "mlflow.", "prometheus.", "proxy.", "minio.", "locust."):
        name = prefix + site["site_domain"]
        with socket.create_connection((address, 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(f"GET / HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
                statuses[name] = int(tls.recv(64).split(b" ")[1])
    print(statuses)
    assert [name for name, status in statuses.items() if status == 403 or status >= 500] == []
