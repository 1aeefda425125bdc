"""Ubuntu 24.04 as the site sets it up: Ubuntu's own Docker 29 and Compose v2
from noble-updates, sshd taken off ssh.socket, UFW and the DOCKER-USER rules
on Docker 29's firewall, the machine kept awake, and two stacks healthy on
that engine; the port table from a client in another network namespace."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "harness"))
import port_probe  # noqa: E402  the client's view of a port, shared with other scenarios

ADMIN = "operator1"
CLIENT = "ip netns exec client"


def test_the_host_is_ubuntu_24_04(host):
    assert host.system_info.distribution == "ubuntu"
    assert host.system_info.release == "24.04"


def test_the_engine_is_ubuntus_docker_29_from_noble_updates(host):
    version = host.check_output("dpkg-query -W -f '${Version}' docker.io")
    assert version.startswith("29."), version
    policy = host.check_output("apt-cache policy docker.io")
    assert "noble-updates" in policy, policy
    assert host.service("docker").is_running and host.service("docker").is_enabled


def test_the_engine_accepts_the_api_versions_the_clients_table_says(host):
    """Ubuntu's engine, as tests/test_docker_api.py (ENGINES) records it: the
    range its pinned clients (cAdvisor) are checked against. Docker 29
    refuses anything older than 1.44."""
    out = host.check_output("docker version --format '{{.Server.MinAPIVersion}} {{.Server.APIVersion}}'")
    assert out.split() == ["1.44", "1.52"], out


def test_compose_is_ubuntus_v2_plugin(host):
    assert host.package("docker-compose-v2").is_installed
    out = host.check_output("docker compose version --short")
    assert out.lstrip("v").split(".")[0] == "2", out


def test_the_admin_runs_docker(host):
    assert "docker" in host.user(ADMIN).groups
    out = host.run(f"runuser -u {ADMIN} -- docker ps --format '{{{{.Names}}}}'")
    assert out.rc == 0, out.stderr


def test_every_container_is_healthy_within_its_memory_limit(host):
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    for name in ("node-exporter", "cadvisor", "nginx-proxy-manager", "pebble"):
        assert name in names, names
    for name in names:
        state = json.loads(host.check_output(f"docker inspect {name}"))[0]
        assert state["HostConfig"]["Memory"] > 0, name
        if name == "musicsim-web":
            continue  # the proxy's stand-in upstream, started by prepare.yml
        assert state["State"]["Health"]["Status"] == "healthy", name


def test_the_proxy_serves_its_route(host):
    redirect = host.check_output("curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "
                                 "-H 'Host: music-sim.test' http://127.0.0.1/whoami")
    assert redirect == "301 https://music-sim.test/whoami"
    # The certificate certbot got from the ACME test server, verified
    # against its root, through Docker 29's port mapping.
    page = host.check_output("curl -fsS --cacert /etc/musicsim-test/acme-root.pem "
                             "--resolve music-sim.test:443:127.0.0.1 https://music-sim.test/whoami")
    assert page.strip() == "musicsim-web"


def test_a_port_published_on_a_lan_address_not_up_yet_still_starts(host):
    """side_effect.yml started the exporters while their address was down,
    as at a boot where the network comes after Docker: refused with the
    kernel's default (the control), started with the docker role's setting;
    the port table below shows them answering once the address is back."""
    result = json.loads(host.file("/var/tmp/nonlocal-bind.json").content_string)
    assert result["without"]["rc"] != 0, result
    assert "cannot assign requested address" in result["without"]["stderr"], result
    assert result["with"]["rc"] == 0, result
    conf = host.file("/etc/sysctl.d/60-musicsim-docker.conf").content_string
    assert "net.ipv4.ip_nonlocal_bind=1" in conf.replace(" ", ""), conf
    assert host.check_output("sysctl -n net.ipv4.ip_nonlocal_bind") == "1"


def test_sshd_listens_by_itself_not_through_ssh_socket(host):
    # Ubuntu 24.04 installs sshd behind ssh.socket, which would keep the
    # first boot's port whatever sshd_config says.
    socket = host.service("ssh.socket")
    assert not socket.is_running and not socket.is_enabled
    assert host.service("ssh.service").is_running
    listeners = host.check_output("ss -Hltnp 'sport = :22'")
    assert "sshd" in listeners and "systemd" not in listeners, listeners


def test_a_new_ssh_port_moves_sshd_and_the_firewall_with_it(host):
    """security_ssh_port 2222 (side_effect.yml): the admin logs in on 2222
    from the LAN; nothing listens on 22 any more, not ssh.socket either;
    UFW lets SSH in on 2222 and no longer on 22. The other tests find it
    back on 22."""
    seen = json.loads(host.file("/var/tmp/ssh-port.json").content_string)
    assert seen["logins"] == {"2222": 0, "22": 255}, seen["login_errors"]
    listening = {line.split()[3].rsplit(":", 1)[1]: line for line in seen["listeners"]}
    assert "sshd" in listening.get("2222", ""), seen["listeners"]
    assert "22" not in listening, listening["22"]
    assert seen["socket"] == "inactive"
    rules = [line.split()[0] for line in seen["ufw"] if "ALLOW" in line]
    assert "2222/tcp" in rules and "22/tcp" not in rules, seen["ufw"]


def test_security_upgrades_follow_ubuntus_archive(host):
    origins = host.check_output("apt-config dump Unattended-Upgrade::Allowed-Origins "
                                "Unattended-Upgrade::Origins-Pattern")
    assert "security" in origins, origins
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_the_laptop_never_sleeps(host):
    logind = host.check_output("systemd-analyze cat-config systemd/logind.conf").splitlines()
    assert "HandleLidSwitch=ignore" in logind
    sleep = host.check_output("systemd-analyze cat-config systemd/sleep.conf").splitlines()
    assert "AllowSuspend=no" in sleep
    assert host.run("systemctl is-enabled suspend.target").stdout.strip() == "masked"


# --- The firewall on Docker 29 ------------------------------------------------------
# (client address, server address): the client's LAN side, its internet side,
# and its internet address aimed at the host's LAN address (the exporters'
# ports are published there: only the DOCKER-USER rules keep it out).
LAN = ("10.99.0.3", "10.99.0.1")
WAN = ("198.51.100.254", "198.51.100.253")
WAN_TO_LAN = ("198.51.100.254", "10.99.0.1")
PORTS = {
    # port: (from the LAN, from the internet, from the internet to the LAN address)
    22: (True, False, False),     # SSH from the LAN ranges only
    80: (True, True, True),       # the proxy, public
    443: (True, True, True),
    81: (False, False, False),    # the proxy's admin API, on 127.0.0.1 only
    9100: (True, False, False),   # node-exporter, on the LAN address
    8080: (True, False, False),   # cAdvisor, on the LAN address
}


def answers(host, side, port):
    return port_probe.answers(host, side, port, via=CLIENT)


def test_the_firewall_lets_in_what_is_declared_and_nothing_else(host):
    seen = {port: tuple(answers(host, side, port) for side in (LAN, WAN, WAN_TO_LAN)) for port in PORTS}
    print("\nport   LAN      internet internet->LAN address")
    for port, row in seen.items():
        print(f"{port:<6} " + " ".join(f"{'open' if value else 'closed':<8}" for value in row))
    assert seen == PORTS


def test_ufw_denies_by_default_and_docker_keeps_the_rules(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
    rules = host.check_output("iptables -S DOCKER-USER")
    assert "-A DOCKER-USER -j DROP" in rules
    assert "--ctorigdstport 443" in rules
