"""A Raspberry Pi on Raspberry Pi OS bookworm (Debian 12): the host
scenario's checks of the base and security roles, the ones that do not need
Docker, hold here too; then what differs on Debian 12: its OpenSSH (9.2)
knows no ML-KEM key exchange, and the docker role installs from Docker's
repository, or stops before any change when asked for Debian's packages."""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "host" / "tests"))

# The same values as molecule/host (molecule.yml), so the same checks: pytest
# runs every test function imported here as one of this module's.
from test_base import *  # noqa: E402,F401,F403  every check of the base role
from test_security import (  # noqa: E402,F401
    ADMIN, SERVER, SSH, LAN, WAN, answers, effective, from_client,
    test_a_weak_cipher_is_refused,
    test_failed_logins_get_the_client_banned,
    test_logins_show_the_banner_and_new_passwords_are_hashed_slowly,
    test_no_core_dumps_and_idle_shells_log_out,
    test_no_other_account_gets_in_even_with_the_key,
    test_security_upgrades_install_themselves,
    test_sshd_listens_by_itself_not_through_ssh_socket,
    test_sshd_offers_keys_only,
    test_sshd_runs_the_hardened_configuration,
    test_sshd_shows_the_banner_before_a_login,
    test_the_activity_figures_are_collected,
    test_the_admin_logs_in_with_their_key_from_outside,
    test_the_kernel_modules_nobody_needs_cannot_load,
)
# Left to the host scenario, as they need the Docker engine this host does
# not run: the port table with container-published ports, the DOCKER-USER
# rules, the audit rules of Docker's files, forwarding kept on for Docker.


ROOT = Path(__file__).resolve().parents[3]
HOST = "musicsim-raspberry-pi"


def plays_log():
    return Path(os.environ["MUSICSIM_PLAYS_LOG"]).read_text()


def apply_docker_role(*args, **variables):
    """ansible-playbook with the docker role alone on the test host, as a
    user runs it (the site's group_vars are not needed by the role)."""
    extra = json.dumps({"role_under_test": "docker", **variables})
    return subprocess.run(
        ["ansible-playbook", "tests/playbooks/apply-role.yml", "-i", f"{HOST},",
         "-c", "community.docker.docker", "-e", extra, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOG_PATH="/dev/null"))


def fingerprint(host):
    """Checksums of the accounts and of apt's and Docker's configuration: a
    file changed again since the converge shows here, not in docker diff."""
    return host.check_output("sha256sum /etc/passwd /etc/group /etc/gshadow; "
                             "find /etc/apt /etc/docker /etc/systemd/system -type f 2>/dev/null "
                             "| sort | xargs -r sha256sum")


def changed_paths():
    """What the host's file system gained or changed since it started."""
    out = subprocess.run(["docker", "diff", HOST], check=True, capture_output=True, text=True).stdout
    return {line.split(" ", 1)[1] for line in out.splitlines() if line.strip()}


# Ansible's temporary files, apt's log of what a preview simulated, and
# dpkg's copies of its database, which its own daily timer
# (dpkg-db-backup.timer) may write at any moment of a run.
SCRATCH = ("/root/.ansible", "/tmp", "/var/log", "/var/backups")


def architecture():
    """The host's architecture: the build machine's, or MUSICSIM_ARCH's
    (arm64, emulated) when the scenario runs on that image."""
    native = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                            text=True).stdout.strip()
    tag = os.environ.get("MUSICSIM_PI_IMAGE", "").rpartition(":")[2]
    return tag.partition("-")[2] or native


def test_this_is_debian_12(host):
    assert host.check_output("dpkg --print-architecture") == architecture()
    assert host.file("/etc/debian_version").content_string.startswith("12.")
    # The fake boot partition's cmdline.txt: the Pi path ran (test_base).
    assert host.file("/boot/firmware/cmdline.txt").exists


def test_a_reboot_is_pending_not_done(host):
    """cmdline.txt has the memory cgroup flags and the running kernel (the
    machine's, which the container shares) booted without them: with
    base_reboot_allowed false, every run (the converge, the idempotence run,
    check mode) says a reboot is pending and goes on without one. Read from
    /proc/cmdline, not left to a handler a cut-off run would lose."""
    flags = {"cgroup_enable=memory", "cgroup_memory=1"}
    assert flags <= set(host.file("/boot/firmware/cmdline.txt").content_string.split())
    assert not flags <= set(host.file("/proc/cmdline").content_string.split())
    runs = plays_log().split("PLAY [OS baseline and defences]")[1:]
    assert len(runs) >= 3, len(runs)
    for run in runs:
        run = run.split("PLAY RECAP", 1)[0]
        report = run.split("TASK [base : Report the pending reboot]", 1)[1]
        assert "reboot this machine yourself" in report.split("TASK [", 1)[0]
        reboot = run.split("TASK [base : Reboot for the kernel command line]", 1)[1]
        assert "skipping: [" in reboot.split("TASK [", 1)[0]


def test_sshd_offers_what_its_openssh_knows_post_quantum_first(host):
    """security_ssh_kex_algorithms starts with ML-KEM, which Debian 12's
    OpenSSH 9.2 does not know: the role leaves it out instead of breaking
    sshd, so sntrup761 comes first."""
    assert host.check_output("dpkg-query -W -f '${Version}' openssh-server").startswith("1:9.2")
    kex = effective(host)["kexalgorithms"].split(",")
    assert "mlkem768x25519-sha256" not in kex
    assert kex[:2] == ["sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"], kex
    out = from_client(host, f"{SSH} -i /root/admin_key -o KexAlgorithms=sntrup761x25519-sha512@openssh.com "
                            f"{ADMIN}@{SERVER} true")
    assert out.rc == 0, out.stderr


def test_the_firewall_lets_ssh_in_from_the_lan_only(host):
    seen = {port: (answers(host, LAN, port), answers(host, WAN, port)) for port in (22, 9100)}
    assert seen == {22: (True, False), 9100: (False, False)}, seen


def test_docker_previews_dockers_repository_for_bookworm(host):
    """docker_source auto: Debian 12 has no Compose v2, so Docker's
    repository, for this release and architecture, is what --check --diff
    shows; nothing of it is written."""
    before, sums = changed_paths(), fingerprint(host)
    # The admin in docker_users, as the site sets it: the docker group it
    # joins does not exist before the engine's package.
    result = apply_docker_role("--check", "--diff", docker_users=[ADMIN])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for line in ("+URIs: https://download.docker.com/linux/debian", "+Suites: bookworm",
                 f"+Architectures: {architecture()}", "+Signed-By: /etc/apt/keyrings/docker.asc"):
        assert line in output, line
    assert "TASK [docker : Install the engine, Compose v2 and buildx]" not in output
    touched = [path for path in changed_paths() - before if not path.startswith(SCRATCH)]
    assert touched == [], touched
    assert fingerprint(host) == sums
    assert host.run("getent group docker").rc == 2
    assert not host.file("/etc/apt/sources.list.d/docker.sources").exists


def test_docker_from_debian_12_is_refused_before_any_change(host):
    before, sums = changed_paths(), fingerprint(host)
    result = apply_docker_role(docker_source="distro")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "TASK [docker : Check that the distribution ships Compose v2 (docker_source)]" in output
    assert 'Set docker_source to "docker"' in output, output[-3000:]
    assert "changed: [" not in output
    touched = [path for path in changed_paths() - before if not path.startswith(SCRATCH)]
    assert touched == [], touched
    assert fingerprint(host) == sums
    assert not host.package("docker.io").is_installed


def test_host_yml_alone_checks_docker_before_base_and_security_change_anything(host):
    """playbooks/host.yml run on its own (site.yml checks every role first,
    in role-checks.yml) checks the docker role's input too before the base
    and security roles run: Debian's packages on Debian 12 are refused with
    nothing changed."""
    before, sums = changed_paths(), fingerprint(host)
    result = subprocess.run(
        ["ansible-playbook", "playbooks/host.yml", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         "-e", "docker_source=distro"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOG_PATH="/dev/null"))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert 'Set docker_source to "docker"' in output, output[-3000:]
    assert "TASK [base :" not in output, output[-3000:]
    assert "changed: [" not in output
    touched = [path for path in changed_paths() - before if not path.startswith(SCRATCH)]
    assert touched == [], touched
    assert fingerprint(host) == sums
