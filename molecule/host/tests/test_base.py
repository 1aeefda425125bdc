"""Real state of a host after the base role."""

import re

ADMIN = "operator1"


def test_essential_packages(host):
    for name in ("curl", "jq", "sudo", "locales", "tzdata", "python3-requests"):
        assert host.package(name).is_installed, name


def test_hostname(host):
    assert host.check_output("hostname") == "musicsim-pi"
    assert host.file("/etc/hostname").content_string.strip() == "musicsim-pi"


def test_timezone(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Paris"
    assert host.check_output("date +%Z") in ("CET", "CEST")


def test_locale_generated_and_default(host):
    assert "fr_FR.utf8" in host.check_output("locale -a")
    assert "LANG=fr_FR.UTF-8" in host.file("/etc/default/locale").content_string


def test_admin_user_keys_and_sudo(host):
    user = host.user(ADMIN)
    assert user.exists and user.shell == "/bin/bash"
    keys = host.file(f"/home/{ADMIN}/.ssh/authorized_keys")
    assert keys.user == ADMIN and keys.mode == 0o600
    assert "throwaway-test-key" in keys.content_string
    # Passwordless sudo works for real, as the admin user.
    out = host.run(f"runuser -u {ADMIN} -- sudo -n id -u")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "0"
    # Password login stays locked: key login only.
    assert host.check_output(f"passwd -S {ADMIN}").split()[1] == "L"


def test_time_sync_enabled(host):
    timesyncd = host.service("systemd-timesyncd")
    assert timesyncd.is_enabled
    conf = host.file("/etc/systemd/timesyncd.conf.d/musicsim.conf").content_string
    assert "NTP=0.debian.pool.ntp.org" in conf
    # Not asserted: running. systemd itself skips timesyncd inside a container
    # (ConditionVirtualization=!container); the test host's clock is the
    # machine's. The unit's configuration is what the role owns.


def test_unattended_upgrades(host):
    assert host.package("unattended-upgrades").is_installed
    out = host.check_output("apt-config dump APT::Periodic::Unattended-Upgrade")
    assert '"1"' in out
    # The distribution's policy the timer runs: security updates included.
    assert "security" in host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_journald_capped(host):
    out = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "SystemMaxUse=64M" in out
    # journald runs with it: its own report of the cap, at its last start.
    # prepare.yml cut the first converge off right after the cap was
    # written, before journald restarted: the next converge had to find it
    # on its old configuration and restart it.
    pid = host.check_output("systemctl show --property=MainPID --value systemd-journald")
    report = host.run(f"journalctl _PID={pid} --output=cat --no-pager --grep '^System Journal '").stdout
    # "max 64M" (systemd 257), "max 64.0M" (older ones).
    assert re.search(r"\bmax 64(\.0)?M\b", report), report


def test_never_sleeps(host):
    # systemd's own parse of the merged configuration (logind's and
    # systemd-sleep's), as they read it at their start and at each request.
    logind = host.check_output("systemd-analyze cat-config systemd/logind.conf").splitlines()
    for setting in ["HandleLidSwitch=ignore", "HandleLidSwitchExternalPower=ignore",
                    "HandleLidSwitchDocked=ignore", "HandleSuspendKey=ignore", "IdleAction=ignore"]:
        assert setting in logind, setting
    sleep = host.check_output("systemd-analyze cat-config systemd/sleep.conf").splitlines()
    for setting in ["AllowSuspend=no", "AllowHibernation=no", "AllowSuspendThenHibernate=no",
                    "AllowHybridSleep=no"]:
        assert setting in sleep, setting
    # And nothing can start a sleep target.
    for target in ["sleep.target", "suspend.target", "hibernate.target", "hybrid-sleep.target",
                   "suspend-then-hibernate.target"]:
        assert host.run(f"systemctl is-enabled {target}").stdout.strip() == "masked", target


def test_memory_cgroup_in_cmdline(host):
    line = host.file("/boot/firmware/cmdline.txt").content_string
    assert line.count("\n") == 1, "cmdline.txt must stay a single line"
    words = line.split()
    assert words.count("cgroup_enable=memory") == 1
    assert words.count("cgroup_memory=1") == 1
    assert words[0] == "console=serial0,115200"
