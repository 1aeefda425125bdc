"""Jinja tests on IP addresses, with Python's ipaddress (no netaddr needed).

    address is in_any_network(["192.168.0.0/16", "10.0.0.0/8"])
    "192.168.1.0/24" is ip_network
"""

import ipaddress


def in_any_network(address, networks):
    """True when the address is in one of the networks (CIDR strings)."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(str(network), strict=False):
                return True
        except ValueError:
            continue
    return False


def ip_network(value):
    """True for an address or a CIDR network, IPv4 or IPv6."""
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return True


class TestModule:
    def tests(self):
        return {"in_any_network": in_any_network, "ip_network": ip_network}
