"""The ddns role on a test host, against the DynHost stand-in: the timer
sends the public address for every declared name, sends nothing while it
does not change, sends a new one, fails loudly (without the password) when
the server refuses, and leaves nothing behind when turned off."""

import json
import shlex
import time

STATE = "/var/lib/dynhost-standin"
NAMES = ["music-sim.test", "www.music-sim.test"]
PASSWORD = "throwaway-dynhost-password"


def records(host):
    return json.loads(host.file(f"{STATE}/records.json").content_string)


def requests(host):
    return [json.loads(line) for line in host.file(f"{STATE}/requests.log").content_string.splitlines()]


def set_address(host, address):
    host.check_output(f"echo {address} > {STATE}/address")


def run_updater(host):
    # reset-failed: these tests start the service faster than systemd's
    # start rate limit allows (5 in 10 s); the timer never does.
    host.run("systemctl reset-failed musicsim-ddns.service")
    return host.run("systemctl start musicsim-ddns.service")


def test_settings_are_readable_by_root_only(host):
    settings = host.file("/etc/musicsim/ddns.json")
    assert (settings.mode, settings.user, settings.group) == (0o600, "root", "root")
    assert json.loads(settings.content_string)["hostnames"] == NAMES


def test_the_timer_is_enabled_and_the_service_has_no_capability(host):
    timer = host.service("musicsim-ddns.timer")
    assert timer.is_enabled and timer.is_running
    show = host.check_output("systemctl show --property=CapabilityBoundingSet,NoNewPrivileges,ProtectSystem "
                             "musicsim-ddns.service")
    assert sorted(show.splitlines()) == ["CapabilityBoundingSet=", "NoNewPrivileges=yes", "ProtectSystem=strict"]


def test_the_timer_sent_the_public_address_for_every_name(host):
    # The timer fires on its own once the machine has been up a minute.
    for _ in range(90):
        if records(host) == {name: "203.0.113.7" for name in NAMES}:
            break
        time.sleep(1)
    assert records(host) == {name: "203.0.113.7" for name in NAMES}
    sent = requests(host)
    assert {r["hostname"] for r in sent} == set(NAMES)
    assert {r["user"] for r in sent} == {"music-sim.test-home"}
    assert [r["reply"] for r in sent][:2] == ["good 203.0.113.7"] * 2


def test_an_unchanged_address_sends_nothing(host):
    before = len(requests(host))
    assert run_updater(host).rc == 0
    assert len(requests(host)) == before


def test_a_new_address_is_sent(host):
    set_address(host, "203.0.113.8")
    before = len(requests(host))
    assert run_updater(host).rc == 0
    assert records(host) == {name: "203.0.113.8" for name in NAMES}
    assert [r["reply"] for r in requests(host)[before:]] == ["good 203.0.113.8"] * 2


def test_a_refused_update_fails_loudly_and_is_not_repeated_until_the_settings_change(host):
    host.check_output(f"echo music-sim.test-home:wrong > {STATE}/login")
    set_address(host, "203.0.113.9")
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert run_updater(host).rc != 0
    journal = host.check_output(f"journalctl -u musicsim-ddns.service --since '{since}' --no-pager")
    assert "badauth" in journal and "refused the update" in journal
    assert PASSWORD not in journal
    assert records(host) == {name: "203.0.113.8" for name in NAMES}
    # Run again with the same settings: it still fails, and asks nothing of
    # the server (dyndns2 clients must not repeat a refused request).
    before = len(requests(host))
    assert run_updater(host).rc != 0
    assert len(requests(host)) == before
    # The operator fixes the password (as a new vault value would): the
    # names are sent at once.
    settings = json.loads(host.file("/etc/musicsim/ddns.json").content_string)
    settings["password"] = PASSWORD + "-new"
    host.check_output(f"printf %s {shlex.quote(json.dumps(settings))} > /etc/musicsim/ddns.json")
    host.check_output(f"echo music-sim.test-home:{PASSWORD}-new > {STATE}/login")
    assert run_updater(host).rc == 0
    assert records(host) == {name: "203.0.113.9" for name in NAMES}
    assert host.file("/etc/musicsim/ddns.json").mode == 0o600


def test_turning_it_off_removes_it(host):
    # side_effect.yml ran the role with ddns_enabled false, then on again.
    disabled = json.loads(host.file("/var/tmp/ddns-disabled.json").content_string)
    assert disabled == {"left": [], "timer": "LoadState=not-found"}
