"""Values as the programs that read them read them, so a role's checks can
refuse a bad one before any change, naming the variable.

musicsim_bytes: a size as Docker reads it (memory limits, log sizes),
in bytes; -1 when Docker would refuse it or read it otherwise than meant.
musicsim_host_networks: the IPv4 networks a machine is on, from its facts,
Docker's own bridges left out.
musicsim_overlaps: which networks of one list overlap which of another.
"""

import ipaddress
import re

# Docker's units (github.com/docker/go-units, RAMInBytes): binary multiples,
# any case, an optional "i" and "b" after the letter: 512m, 1.5g, 64MiB, 64Mi.
_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(i?b?)", re.IGNORECASE)
_MULTIPLES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def musicsim_bytes(value):
    """512m -> 536870912. A bare number is bytes to Docker, which a memory
    limit never means: it counts as not a size, as does anything else."""
    if not isinstance(value, str):
        return -1
    match = _SIZE.fullmatch(value.strip())
    if not match or not (match.group(2) or match.group(3)):
        return -1
    return int(float(match.group(1)) * _MULTIPLES[match.group(2).lower()])


# Interfaces Docker makes: its bridges and the containers' ends of them.
_DOCKER_INTERFACE = re.compile(r"(docker\d+|br-[0-9a-f]+|veth.*)")


def musicsim_host_networks(facts):
    """["192.168.1.0/24", ...]: the networks of the machine's interfaces
    (Ansible's facts), loopback and Docker's own bridges left out."""
    networks = []
    for name in facts.get("interfaces", []):
        if name == "lo" or _DOCKER_INTERFACE.fullmatch(name):
            continue
        interface = facts.get(name.replace("-", "_"), {})
        for address in [interface.get("ipv4", {})] + interface.get("ipv4_secondaries", []):
            if address.get("network") and address.get("netmask"):
                network = ipaddress.ip_network(f"{address['network']}/{address['netmask']}", strict=False)
                networks.append(str(network))
    return sorted(set(networks))


def musicsim_overlaps(networks, others):
    """["172.30.0.0/16 overlaps 172.30.4.0/24", ...] for every network of
    the first list that overlaps one of the second; a value that is no
    network is left to the checks of its form."""
    found = []
    for network in networks:
        for other in others:
            try:
                if ipaddress.ip_network(network, strict=False).overlaps(ipaddress.ip_network(other, strict=False)):
                    found.append(f"{network} overlaps {other}")
            except ValueError:
                continue
    return found


class FilterModule:
    """Values read as their programs read them."""

    def filters(self):
        return {
            "musicsim_bytes": musicsim_bytes,
            "musicsim_host_networks": musicsim_host_networks,
            "musicsim_overlaps": musicsim_overlaps,
        }
