"""Shared fixtures: the project's paths and throwaway Debian 13 containers."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_IMAGE = os.environ.get("MUSICSIM_TEST_IMAGE", "musicsim-test/debian13:trixie")


def pytest_configure(config):
    """The tests that run the service images of `make images`: `make test`
    runs the others while those images are still being built."""
    config.addinivalue_line("markers", "images: runs the service images `make images` builds")


# A bare test container's disk of its own, as Molecule's test hosts (a
# volume) and the demo host have one (inventories/local keeps its backup
# repository there): a local repository must be on a file system other
# than the root. Docker makes its mount point at the start.
OUTSIDE = "/srv/outside"


def start_command(name):
    """The command that starts a bare test container NAME."""
    return ["docker", "run", "-d", "--name", name, "--hostname", name, "--tmpfs", OUTSIDE, TEST_IMAGE,
            "sleep", "infinity"]


def run_playbook(playbook, host, extra_vars_file=None, *args):
    """Run a playbook against one container through the Docker connection."""
    cmd = [
        "ansible-playbook", str(playbook),
        "-i", f"{host},",
        "-c", "community.docker.docker",
        *args,
    ]
    if extra_vars_file:
        cmd += ["-e", f"@{extra_vars_file}"]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture
def fresh_host():
    """A bare Debian 13 container, as a new machine would be; removed after."""
    name = f"musicsim-pytest-{uuid.uuid4().hex[:8]}"
    subprocess.run(start_command(name), check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture
def installed_host(fresh_host):
    """A bare container with apt lists, like a freshly installed machine."""
    subprocess.run(["docker", "exec", fresh_host, "apt-get", "update", "-qq"], check=True, capture_output=True)
    return fresh_host


def changed_paths(container):
    """Paths the container's file system gained, changed or lost since it
    started.

    Read from the container's writable layer (overlay2's upper directory: a
    directory for each one with a change under it, a whiteout for each
    removal) when the engine keeps it on this machine, as in `make test`;
    `docker diff` otherwise. The layer lists every path `docker diff` does,
    and also a file copied up unchanged (a lock file taken and let go, a
    directory whose entry came and went): more, never fewer, so a test
    reading it can only be stricter. `docker diff` on these engines walks
    the whole file system against the image's: over half a second a
    container, and the bad-input tests read two hundred. The mount point
    Docker made at the start (OUTSIDE, and /srv for it) is left out; a
    change under /srv still shows by its own path."""
    return [path for path in _layer_paths(container) if path not in ("/srv", OUTSIDE)]


def _layer_paths(container):
    upper = subprocess.run(["docker", "inspect", "--format", "{{ .GraphDriver.Data.UpperDir }}", container],
                           check=True, capture_output=True, text=True).stdout.strip()
    if upper.startswith("/") and os.path.isdir(upper):
        paths = []
        for top, dirs, files in os.walk(upper):
            for name in dirs + files:
                paths.append("/" + os.path.relpath(os.path.join(top, name), upper))
        return paths
    out = subprocess.run(["docker", "diff", container], check=True, capture_output=True, text=True).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.strip()]
