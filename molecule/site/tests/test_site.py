"""The whole site on one host: what site.yml leaves running today."""

import json


def test_admin_user_runs_docker_compose_v2(host):
    # The site's admin user (group_vars/all) is in the docker group.
    out = host.run("runuser -u musicsim -- docker compose version --short")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip().lstrip("v").startswith("2.")


def test_site_hostname_and_timezone(host):
    assert host.check_output("hostname") == "musicsim-site"
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
