"""Real state of a host after the docker role: the engine runs containers."""

import json
import subprocess

import pytest

IMAGE = "musicsim-test/debian13:trixie"
COMPOSE = """
services:
  hello:
    image: musicsim-test/debian13:trixie
    command: ["python3", "-m", "http.server", "8080", "--directory", "/srv"]
    ports: ["127.0.0.1:18080:8080"]
    networks: [edge]
    mem_limit: 64m
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/')"]
      interval: 2s
      retries: 15
networks:
  edge:
    external: true
"""


@pytest.fixture(scope="module")
def image_loaded(host):
    """Copy the base image from the outer engine into the test host's engine."""
    name = host.backend.get_hostname()
    save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
    subprocess.run(["docker", "exec", "-i", name, "docker", "load"], stdin=save.stdout, check=True,
                   stdout=subprocess.DEVNULL)
    assert save.wait() == 0
    return IMAGE


def test_engine_running_and_enabled(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled


def test_engine_accepts_the_api_versions_the_clients_table_says(host):
    """Debian 13's engine, as tests/test_docker_api.py (ENGINES) records it:
    the range of API versions its pinned clients are checked against."""
    out = host.check_output("docker version --format '{{.Server.MinAPIVersion}} {{.Server.APIVersion}}'")
    assert out.split() == ["1.24", "1.45"], out


def test_compose_is_v2(host):
    out = host.check_output("docker compose version --short")
    assert out.lstrip("v").split(".")[0] == "2", out


def test_daemon_json(host):
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["log-driver"] == "json-file"
    assert conf["log-opts"] == {"max-size": "5m", "max-file": "3"}
    assert conf["live-restore"] is True
    assert conf["registry-mirrors"] == ["https://mirror.example.net"]
    # The running engine uses it, not just the file.
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert "https://mirror.example.net/" in info["RegistryConfig"]["Mirrors"]
    assert info["MemoryLimit"] is True
    # icc off on the default bridge, as the running engine made it.
    bridge = json.loads(host.check_output("docker network inspect bridge"))[0]
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"


def test_admin_user_in_docker_group(host):
    assert "docker" in host.user("operator1").groups
    out = host.run("runuser -u operator1 -- docker ps --format '{{.Names}}'")
    assert out.rc == 0, out.stderr


def test_edge_network(host):
    net = json.loads(host.check_output("docker network inspect edge"))[0]
    assert net["Driver"] == "bridge"
    # Carved from the configured address pool.
    assert net["IPAM"]["Config"][0]["Subnet"].startswith("172.30.")


def test_container_runs_healthy_stack(host, image_loaded):
    host.run("mkdir -p /root/hello")
    host.run("cat > /root/hello/compose.yaml <<'EOF'\n" + COMPOSE + "\nEOF")
    up = host.run("docker compose -f /root/hello/compose.yaml up -d --wait")
    assert up.rc == 0, up.stderr
    try:
        state = host.check_output("docker inspect -f '{{.State.Health.Status}}' hello-hello-1")
        assert state == "healthy"
        # Through the published port, from the host (no curl on a bare host).
        page = host.check_output(
            "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:18080/').read().decode())\""
        )
        assert "Directory listing" in page
        limit = host.check_output("docker inspect -f '{{.HostConfig.Memory}}' hello-hello-1")
        assert int(limit) == 64 * 1024 * 1024
        # The engine's defaults hold for a container that asks nothing: it
        # cannot gain a privilege, and the port above was forwarded by the
        # kernel's NAT, no docker-proxy process (userland-proxy off).
        status = host.check_output("docker exec hello-hello-1 cat /proc/self/status")
        assert "NoNewPrivs:\t1" in status
        assert host.run("pgrep -x docker-proxy").rc == 1
    finally:
        host.run("docker compose -f /root/hello/compose.yaml down")
