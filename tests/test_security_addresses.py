"""The security role's Jinja tests on addresses (roles/security/test_plugins)."""

import importlib.util

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("addresses", ROOT / "roles/security/test_plugins/addresses.py")
addresses = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(addresses)

LAN = ["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12"]


@pytest.mark.parametrize("address, expected", [
    ("192.168.1.20", True), ("10.99.0.2", True), ("172.31.255.1", True),
    ("172.32.0.1", False), ("203.0.113.2", False), ("8.8.8.8", False),
    (" 192.168.1.20 ", True), ("", False), ("not-an-address", False), ("fe80::1", False),
])
def test_an_address_is_in_the_lan_or_not(address, expected):
    assert addresses.in_any_network(address, LAN) is expected


def test_ipv6_networks_and_bad_entries():
    assert addresses.in_any_network("fd00::5", ["fd00::/8"])
    assert not addresses.in_any_network("192.168.1.1", ["garbage", "10.0.0.0/8"])
    assert addresses.in_any_network("192.168.1.1", ["garbage", "192.168.1.0/24"])


@pytest.mark.parametrize("value, expected", [
    ("192.168.0.0/16", True), ("10.99.0.3/32", True), ("10.99.0.3", True), ("fd00::/8", True),
    ("192.168.1.1/24", True), ("192.168.0.0/33", False), ("lan", False), ("", False),
])
def test_a_network_is_recognised(value, expected):
    assert addresses.ip_network(value) is expected


def test_the_plugin_names_its_tests():
    assert set(addresses.TestModule().tests()) == {"in_any_network", "ip_network"}
