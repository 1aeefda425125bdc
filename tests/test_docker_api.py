"""The Docker API each pinned client of the engine speaks, against the
engines the site runs on.

Docker 29 (Ubuntu 24.04's docker.io, and Docker's own packages, which
Debian 12 machines get) refuses API versions below 1.44. A client fixed to
an older one sees nothing: cAdvisor v0.49.1 spoke 1.41, so it listed no
container and ContainerAbsent fired for every one. The test images cannot
run the clients themselves (cAdvisor has a stand-in), so each pinned
release's API version is recorded here from its source, and a new pin must
be added before it passes. The Debian 13 engine's row is checked against the
engine the host scenario runs (molecule/host/tests/test_docker.py)."""

import pytest
import yaml

from conftest import ROOT

# The engines, by where a machine gets them: (oldest API version accepted,
# newest spoken).
ENGINES = {
    "Debian 13 docker.io 26.1": ("1.24", "1.45"),
    "Ubuntu 24.04 docker.io 29.1": ("1.44", "1.52"),
    "Docker's repository, docker-ce 29 (Debian 12)": ("1.44", "1.52"),
}

# Each client image (its key in versions.yml), then per release the API version it asks for;
# "negotiates" when it asks the engine for its version first and speaks that
# (the Docker SDKs' version negotiation).
CLIENTS = {
    "exporters_cadvisor": {
        # vendor/github.com/docker/docker client pinned to 1.41.
        "gcr.io/cadvisor/cadvisor:v0.49.1": "1.41",
        # Built against Docker 29's client, which needs 1.44 (google/cadvisor#3790).
        "ghcr.io/google/cadvisor:v0.56.2": "1.44",
        # Negotiates again (Docker API 1.40 and later).
        "ghcr.io/google/cadvisor:v0.57.0": "negotiates",
    },
}


def version(text):
    return tuple(int(part) for part in text.split("."))


def pinned(key):
    """The image versions.yml pins (tests/test_versions.py: the roles read it there)."""
    return yaml.safe_load((ROOT / "versions.yml").read_text())["images"][key]


def refused(speaks):
    """The engines that refuse a client speaking this API version; none for
    a client that negotiates down to 1.40 or up to what the engine speaks."""
    if speaks == "negotiates":
        speaks = None
    return [engine for engine, (oldest, newest) in ENGINES.items()
            if speaks is not None and not version(oldest) <= version(speaks) <= version(newest)]


@pytest.mark.parametrize("key", CLIENTS)
def test_every_engine_accepts_the_pinned_client(key):
    image = pinned(key)
    known = CLIENTS[key]
    assert image in known, (
        f"images.{key} is {image}: add the Docker API version that release speaks (its source) to CLIENTS")
    assert not refused(known[image]), f"{image} speaks Docker API {known[image]}, which {refused(known[image])} refuse"


def test_the_old_cadvisor_pin_would_fail():
    """The check above is not empty: the release pinned before is refused by
    Docker 29, and by nothing else."""
    old = CLIENTS["exporters_cadvisor"]["gcr.io/cadvisor/cadvisor:v0.49.1"]
    assert refused(old) == ["Ubuntu 24.04 docker.io 29.1", "Docker's repository, docker-ce 29 (Debian 12)"]
