"""Values read as their programs read them (plugins/filter/musicsim_values.py),
and the fixed ports the site's port check lists (playbooks/preflight.yml)
against the stacks' compose templates."""

import importlib.util
import re

import pytest
import yaml

from conftest import ROOT

spec = importlib.util.spec_from_file_location("musicsim_values", ROOT / "plugins/filter/musicsim_values.py")
values = importlib.util.module_from_spec(spec)
spec.loader.exec_module(values)

MIB = 1 << 20


@pytest.mark.parametrize("size,expected", [
    ("512m", 512 * MIB), ("1g", 1024 * MIB), ("1.5g", 1536 * MIB), ("64MiB", 64 * MIB), ("256MB", 256 * MIB),
    ("4 GB", 4096 * MIB), ("64Mi", 64 * MIB), ("192k", 192 * 1024), ("100b", 100),
])
def test_a_size_reads_as_docker_reads_it(size, expected):
    assert values.musicsim_bytes(size) == expected


@pytest.mark.parametrize("size", ["512", "268435456", "lots", "10%", "192 megs", "1 g b", "", "-5m", None, 512])
def test_what_docker_would_refuse_or_read_as_bytes_is_no_size(size):
    assert values.musicsim_bytes(size) == -1


def test_networks_that_overlap_are_named():
    assert values.musicsim_overlaps(["172.16.0.0/12", "10.99.0.0/16"], ["172.17.0.0/16", "192.168.1.0/24"]) == [
        "172.16.0.0/12 overlaps 172.17.0.0/16"]
    assert values.musicsim_overlaps(["172.30.0.0/16"], ["192.168.1.0/24", "10.0.0.0/24"]) == []
    # A value that is no network is left to the check of its form.
    assert values.musicsim_overlaps(["lan"], ["192.168.1.0/24"]) == []


def test_the_machines_networks_leave_out_dockers_own_and_loopback():
    facts = {
        "interfaces": ["lo", "eth0", "wlan0", "docker0", "br-3f2a1b0c9d8e", "veth12ab", "tailscale0"],
        "lo": {"ipv4": {"network": "127.0.0.0", "netmask": "255.0.0.0"}},
        "eth0": {"ipv4": {"network": "192.168.1.0", "netmask": "255.255.255.0"},
                 "ipv4_secondaries": [{"network": "10.0.5.0", "netmask": "255.255.255.0"}]},
        "wlan0": {},
        "docker0": {"ipv4": {"network": "172.17.0.0", "netmask": "255.255.0.0"}},
        "br_3f2a1b0c9d8e": {"ipv4": {"network": "172.30.0.0", "netmask": "255.255.255.0"}},
        "tailscale0": {"ipv4": {"network": "100.64.0.0", "netmask": "255.192.0.0"}},
    }
    assert values.musicsim_host_networks(facts) == ["10.0.5.0/24", "100.64.0.0/10", "192.168.1.0/24"]


def test_the_port_check_lists_every_port_a_stack_publishes():
    """Each fixed host port of a compose template (`ADDRESS:PORT:PORT`) is in
    the site's port check, and the check lists no port no template has."""
    published = set()
    for template in ROOT.glob("roles/*/templates/compose.yaml.j2"):
        published |= {int(port) for port in re.findall(r'- "\{\{ \w+ \}\}:(\d+):\d+"', template.read_text())}
    play = yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text())[0]
    listed = {int(port) for port in re.findall(r"'port': (\d+)", play["vars"]["_preflight_ports"])}
    assert published == listed
