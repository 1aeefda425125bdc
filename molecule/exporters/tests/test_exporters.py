"""The exporters on a machine whose Prometheus is elsewhere: published on
the machine's LAN address and nowhere else, healthy within their memory
limits, node-exporter reading the host and its textfile directory, cAdvisor
reporting each container."""

import json

import pytest


@pytest.fixture(scope="module")
def address(host):
    return host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]


def get(host, url):
    return host.check_output(f"python3 -c \"import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).read().decode())\"")


@pytest.mark.parametrize("name, memory", [("node-exporter", 64), ("cadvisor", 192)])
def test_each_exporter_is_healthy_with_a_memory_limit(host, name, memory):
    state = json.loads(host.check_output(f"docker inspect {name}"))[0]
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == memory * 2**20


@pytest.mark.parametrize("port", [9100, 8080])
def test_published_on_the_lan_address_only(host, address, port):
    bindings = {b["HostIp"] for state in json.loads(host.check_output("docker inspect node-exporter cadvisor"))
                for b in (state["HostConfig"]["PortBindings"] or {}).get(f"{port}/tcp", [])}
    assert bindings == {address}
    assert host.run(f"timeout 3 bash -c '</dev/tcp/{address}/{port}'").rc == 0
    assert host.run(f"timeout 3 bash -c '</dev/tcp/127.0.0.1/{port}'").rc != 0


def test_node_exporter_reads_the_host_and_its_textfile_directory(host, address):
    host.check_output("printf 'musicsim_exporters_test_value 42\\n' > /var/lib/node-exporter/textfile/test.prom")
    try:
        metrics = get(host, f"http://{address}:9100/metrics")
    finally:
        host.check_output("rm -f /var/lib/node-exporter/textfile/test.prom")
    assert "musicsim_exporters_test_value 42" in metrics
    total = next(line for line in metrics.splitlines() if line.startswith("node_memory_MemTotal_bytes "))
    assert float(total.split()[1]) > 0
    # The host's own mounts (its PID 1's, through /host/proc), not the
    # container's: the host's outside disk (a test host's root is an overlay,
    # which node-exporter leaves out).
    assert any(line.startswith("node_filesystem_avail_bytes{") and 'mountpoint="/srv/outside"' in line
               for line in metrics.splitlines()), "the host's mounts are not read"


def test_cadvisor_reports_each_container_with_its_limit(host, address):
    metrics = get(host, f"http://{address}:8080/metrics")
    limits = {line.split('name="')[1].split('"')[0]: float(line.split()[-1])
              for line in metrics.splitlines() if line.startswith("container_spec_memory_limit_bytes{")}
    assert limits == {"node-exporter": 64 * 2**20, "cadvisor": 192 * 2**20}
