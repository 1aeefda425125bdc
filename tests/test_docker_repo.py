"""Docker's own apt repository, the docker role's optional source.

download.docker.com cannot be reached from the test machines, so this path is
tested the two ways that need no network: its repository definition is
rendered and checked, and a --check --diff preview of the role on a bare host
shows exactly that definition and the key, without changing anything.
"""

import subprocess

import yaml

from conftest import ROOT, changed_paths, run_playbook

PLAYBOOK = ROOT / "tests/playbooks/apply-role.yml"
FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"


def test_shipped_key_is_dockers():
    out = subprocess.run(
        ["gpg", "--show-keys", "--with-colons", str(ROOT / "roles/docker/files/docker.asc")],
        check=True, capture_output=True, text=True,
    ).stdout
    fingerprints = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]
    assert fingerprints[0] == FINGERPRINT


def test_check_mode_preview_of_docker_repo(installed_host, tmp_path):
    fresh_host = installed_host
    before = set(changed_paths(fresh_host))
    extra = tmp_path / "vars.yml"
    extra.write_text(yaml.safe_dump({"role_under_test": "docker", "docker_source": "docker"}))
    result = run_playbook(PLAYBOOK, fresh_host, extra, "--check", "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    # The rendered deb822 source, as the diff shows it.
    arch = subprocess.run(["docker", "exec", fresh_host, "dpkg", "--print-architecture"],
                          check=True, capture_output=True, text=True).stdout.strip()
    for line in (
        "+Types: deb",
        "+URIs: https://download.docker.com/linux/debian",
        "+Suites: trixie",
        "+Components: stable",
        f"+Architectures: {arch}",
        "+Signed-By: /etc/apt/keyrings/docker.asc",
    ):
        assert line in output, line
    for task in ("Install Docker's signing key", "Add Docker's apt repository"):
        section = output.split(f"TASK [docker : {task}]", 1)[1].split("TASK [", 1)[0]
        assert "changed: [" in section, section
    assert "-----BEGIN PGP PUBLIC KEY BLOCK-----" in output
    # A preview only: nothing written on the host but Ansible's temporary
    # files and apt's log of the install it simulated.
    ignored = ("/root", "/tmp", "/var/log")
    touched = [p for p in set(changed_paths(fresh_host)) - before if not p.startswith(ignored)]
    assert touched == [], touched
