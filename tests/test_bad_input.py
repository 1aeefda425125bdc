"""Bad input fails early: before any change, naming the variable at fault.

Each case applies a role with one wrong value to a bare container and checks
that the play fails, that the failure names the variable, that nothing
changed (in the play's recap and in the container's file system), and, as a
control, that the same role with good values passes that point.

The cases of a test run together: one play, each case a host of it on a
fresh container of its own (Ansible's start-up, ~2.5 s, paid once instead of
once a case); a failing host stops only itself.
"""

import json
import os
import re
import subprocess
import uuid

import pytest
import yaml

from conftest import ROOT, changed_paths, run_playbook, start_command

PLAYBOOK = ROOT / "tests/playbooks/apply-role.yml"
GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDGw/d59rSgZvp3QaKPF1rqOwvSI1Jj1Jwy1jRA4OpoN throwaway-test-key"
GOOD = {
    "base": {"base_admin_ssh_keys": [GOOD_KEY], "base_timezone": "Europe/Paris"},
    "security": {"security_admin_user": "operator1"},
    "docker": {},
    "proxy": {
        "proxy_domain": "music-sim.test",
        "proxy_admin_email": "admin@music-sim.test",
        "proxy_admin_password": "throwaway-test-password",
        "proxy_lan_ranges": ["192.168.0.0/16"],
        "proxy_routes": [
            {"name": "api", "subdomain": "api", "upstream": {"host": "megapi", "port": 8000}, "exposure": "public"},
            {"name": "mlflow", "subdomain": "mlflow", "upstream": {"host": "mlflow", "port": 5000}, "exposure": "lan"},
        ],
    },
    "megapi": {
        "megapi_source": "image",
        "megapi_image": "musicsim-test/megapi:233610e",
        "megapi_admin_email": "admin@music-sim.test",
        "megapi_db_password": "throwaway-test-password",
        "megapi_admin_password": "throwaway-test-password",
        "megapi_secret_key": "throwaway-test-secret-key-of-32-characters",
        "megapi_minio_root_password": "throwaway-test-password",
        "megapi_db_reader_password": "throwaway-test-reader-password",
    },
    "web": {
        "web_source": "image",
        "web_image": "musicsim-test/web:4a7c579",
        "web_api_base_url": "https://api.music-sim.test",
    },
    "ddns": {
        "ddns_enabled": True,
        "ddns_hostnames": ["music-sim.test"],
        "ddns_username": "music-sim.test-home",
        "ddns_password": "throwaway-test-password",
    },
    "exporters": {},
    "mlflow": {
        "mlflow_db_password": "throwaway-test-password",
        "mlflow_admin_password": "throwaway-test-password",
        "mlflow_secret_key": "throwaway-test-secret-key-of-32-characters",
        "mlflow_s3_endpoint_url": "http://minio:9000",
        "mlflow_s3_access_key": "musicsim",
        "mlflow_s3_secret_key": "throwaway-test-password",
    },
    "locust": {
        "locust_host": "https://api.music-sim.test",
        "locust_email": "admin@music-sim.test",
        "locust_password": "throwaway-test-password",
    },
    "backup": {
        # The test hosts' own disk (conftest.start_command).
        "backup_repository": "/srv/outside/backup-repository",
        "backup_password": "throwaway-test-backup-password",
        "backup_databases": [{"name": "megapi", "container": "megapi-postgres", "kind": "postgres",
                              "project_dir": "/opt/musicsim/megapi", "service": "postgres"}],
        "backup_paths": ["/srv/musicsim/proxy"],
    },
    "monitoring": {
        "monitoring_domain": "music-sim.test",
        "monitoring_routes": [
            {"name": "api", "subdomain": "api", "upstream": {"host": "megapi", "port": 8000}, "exposure": "public",
             "probe_path": "/docs"},
        ],
        "monitoring_scrape_jobs": [{"name": "megapi-log", "targets": ["megapi:8000"]}],
        "monitoring_discord_webhook_url": "https://discord.com/api/webhooks/1/throwaway-test-token",
        "monitoring_grafana_admin_password": "throwaway-test-password",
    },
}
API = GOOD["proxy"]["proxy_routes"][0]

# What the machine has before a role runs, made in the test host first: the
# security role needs the admin account the base role makes (with a key),
# and one account without a key.
SETUP = {
    "security": [
        "useradd --create-home --shell /bin/bash operator1",
        "install -d -m 0700 -o operator1 -g operator1 /home/operator1/.ssh",
        f"echo '{GOOD_KEY}' > /home/operator1/.ssh/authorized_keys",
        "chown operator1:operator1 /home/operator1/.ssh/authorized_keys",
        "chmod 0600 /home/operator1/.ssh/authorized_keys",
        "useradd --create-home --shell /bin/bash nokey",
    ],
}

CASES = [
    # (id, role, bad values, text the failure must contain)
    ("security-root-as-the-admin", "security", {"security_admin_user": "root"}, "security_admin_user"),
    ("security-admin-who-does-not-exist", "security", {"security_admin_user": "ghost"}, "ghost does not exist"),
    ("security-ssh-that-locks-the-admin-out", "security", {"security_admin_user": "nokey"}, "nokey has no usable key"),
    ("security-forwarding-off", "security", {"security_sysctl": {"net.ipv4.ip_forward": 0}}, "net.ipv4.ip_forward"),
    ("security-lan-range-not-a-network", "security", {"security_lan_ranges": ["home"]}, "security_lan_ranges"),
    ("security-ssh-port-made-public", "security", {"security_public_ports": [22, 443]}, "security_public_ports"),
    ("security-host-key-of-an-unknown-type", "security", {"security_ssh_host_key_types": ["ecdsa"]},
     "security_ssh_host_key_types"),
    ("security-host-key-without-its-algorithm", "security", {"security_ssh_host_key_types": ["ed25519", "rsa"]},
     "security_ssh_host_key_algorithms"),
    ("security-kernel-module-not-a-name", "security", {"security_disabled_kernel_modules": ["sctp; reboot"]},
     "security_disabled_kernel_modules"),
    ("security-fail2ban-window-not-a-duration", "security", {"security_fail2ban_findtime": "ten minutes"},
     "security_fail2ban_findtime"),
    ("unknown-docker-source", "docker", {"docker_source": "podman"}, "docker_source"),
    ("docker-proxy-not-a-url", "docker", {"docker_proxy_http": "proxy.lan:3128"}, "docker_proxy_http"),
    ("docker-pool-not-a-network", "docker", {"docker_address_pools": [{"base": "lan", "size": 24}]},
     "docker_address_pools"),
    ("docker-user-missing", "docker", {"docker_users": ["nobody-here"]}, "docker_users"),
    ("malformed-timezone", "base", {"base_timezone": "Paris, France"}, "base_timezone"),
    ("missing-admin-key", "base", {"base_admin_ssh_keys": []}, "base_admin_ssh_keys"),
    ("undefined-admin-key", "base", {"base_admin_ssh_keys": None}, "base_admin_ssh_keys"),
    ("admin-key-not-a-key", "base", {"base_admin_ssh_keys": ["my laptop key"]}, "base_admin_ssh_keys"),
    ("root-as-admin", "base", {"base_admin_user": "root"}, "base_admin_user"),
    ("sudo-password-without-hash", "base", {"base_admin_passwordless_sudo": False}, "base_admin_password_hash"),
    ("unknown-ntp-client", "base", {"base_ntp_client": "ntpd"}, "base_ntp_client"),
    ("malformed-locale", "base", {"base_locale": "french"}, "base_locale"),
    ("proxy-unpinned-image", "proxy", {"proxy_image": "jc21/nginx-proxy-manager:latest"}, "proxy_image"),
    ("proxy-missing-vault-password", "proxy", {"proxy_admin_password": ""}, "vault_proxy_admin_password"),
    ("proxy-admin-email-missing", "proxy", {"proxy_admin_email": "admin"}, "proxy_admin_email"),
    ("proxy-route-without-upstream", "proxy",
     {"proxy_routes": [{"name": "api", "subdomain": "api", "exposure": "public"}]}, "proxy_routes[0] (api)"),
    ("proxy-public-database", "proxy",
     {"proxy_routes": [API, {"name": "db", "subdomain": "db", "upstream": {"host": "postgres", "port": 5432},
                             "exposure": "public"}]}, "db routes the internet to postgres:5432"),
    ("proxy-unknown-exposure", "proxy", {"proxy_routes": [dict(API, exposure="internet")]},
     "exposure public or lan"),
    ("proxy-duplicate-subdomain", "proxy", {"proxy_routes": [API, dict(API, name="api2")]},
     "declares a subdomain twice: api"),
    ("proxy-admin-on-every-address", "proxy", {"proxy_admin_bind_address": "0.0.0.0"}, "proxy_admin_bind_address"),
    ("proxy-lan-route-without-lan", "proxy", {"proxy_lan_ranges": []}, "proxy_lan_ranges"),
    ("proxy-unknown-tls", "proxy", {"proxy_tls": "selfsigned"}, "proxy_tls"),
    ("proxy-wildcard-without-dns-credentials", "proxy", {"proxy_tls": "wildcard"}, "proxy_dns_credentials"),
    ("proxy-acme-server-in-clear", "proxy", {"proxy_acme_server": "http://acme.lan/dir"}, "proxy_acme_server"),
    ("proxy-acme-ca-file-missing", "proxy", {"proxy_acme_server": "https://acme.lan/dir",
                                            "proxy_acme_ca_file": "/etc/no-such-ca.pem"}, "proxy_acme_ca_file"),
    # The test machines are x86_64: the role's reading of the architecture
    # is overridden to play an arm64 Raspberry Pi.
    ("megapi-on-arm64", "megapi", {"_megapi_architecture": "aarch64"}, "megapi runs on x86_64 only"),
    ("megapi-unpinned-image", "megapi", {"megapi_image": "megapi:latest"}, "megapi_image"),
    ("megapi-build-from-a-branch", "megapi", {"megapi_source": "build", "megapi_version": "main"}, "megapi_version"),
    ("megapi-published-on-every-address", "megapi", {"megapi_publish_address": "0.0.0.0"}, "megapi_publish_address"),
    ("megapi-published-on-a-public-address", "megapi", {"megapi_publish_address": "203.0.113.5"},
     "megapi_publish_address"),
    ("megapi-missing-vault-secret", "megapi", {"megapi_secret_key": ""}, "vault_megapi_secret_key"),
    ("megapi-quote-in-an-optional-secret", "megapi", {"megapi_cyanite_token": "it's"}, "megapi_cyanite_token"),
    ("megapi-missing-reader-password", "megapi", {"megapi_db_reader_password": ""},
     "vault_megapi_db_reader_password"),
    ("megapi-reader-is-the-owner", "megapi", {"megapi_db_reader_user": "megapi"}, "megapi_db_reader_user"),
    ("megapi-postgres-published-without-address", "megapi", {"megapi_postgres_publish": True},
     "megapi_postgres_publish"),
    ("megapi-dollar-in-the-reader-password", "megapi", {"megapi_db_reader_password": "throwaway-pa$sword"},
     "vault_megapi_db_reader_password"),
    ("megapi-registry-port-is-not-a-tag", "megapi", {"megapi_postgres_image": "registry.lan:5000/postgres"},
     "megapi_postgres_image"),
    # Postgres 18's images keep their data where the role does not mount it.
    ("megapi-postgres-18", "megapi", {"megapi_postgres_image": "postgres:18.1-alpine"},
     "megapi_postgres_image's tag must begin with Postgres's major version"),
    ("megapi-postgres-tag-without-major", "megapi", {"megapi_postgres_image": "postgres:alpine"},
     "megapi_postgres_image's tag must begin with Postgres's major version"),
    # This machine's own address, outside the LAN the site declares: the
    # check reads the same ranges as the firewall (site_lan_ranges).
    ("megapi-published-outside-the-lan-ranges", "megapi",
     {"megapi_publish_address": "{{ ansible_facts['default_ipv4']['address'] }}",
      "compose_stack_lan_ranges": ["192.168.0.0/16"]}, "megapi_publish_address"),
    ("megapi-bucket-name-s3-refuses", "megapi", {"megapi_temp_bucket": "Temp_Uploads"}, "megapi_temp_bucket"),
    ("web-api-url-with-a-path", "web", {"web_api_base_url": "api.music-sim.test/v1"}, "web_api_base_url"),
    ("web-build-from-a-branch", "web", {"web_source": "build", "web_version": "master"}, "web_version"),
    ("web-unpinned-image", "web", {"web_image": "musicsim-web:latest"}, "web_image"),
    ("ddns-missing-vault-password", "ddns", {"ddns_password": ""}, "vault_ddns_password"),
    ("ddns-hostname-is-a-url", "ddns", {"ddns_hostnames": ["https://music-sim.test"]}, "ddns_hostnames"),
    ("ddns-refresh-too-often", "ddns", {"ddns_refresh_seconds": 60}, "ddns_refresh_seconds"),
    ("exporters-unpinned-image", "exporters", {"exporters_cadvisor_image": "ghcr.io/google/cadvisor"},
     "exporters_cadvisor_image"),
    ("exporters-published-on-every-address", "exporters", {"exporters_publish_address": "0.0.0.0"},
     "exporters_publish_address"),
    ("locust-host-with-a-path", "locust", {"locust_host": "https://api.music-sim.test/auth"}, "locust_host"),
    # megapi logs in by email: its admin's username is refused there.
    ("locust-login-by-username", "locust", {"locust_email": "admin"}, "locust_email"),
    ("locust-username-of-old", "locust", {"locust_username": "admin"}, "locust_username is no longer read"),
    ("locust-run-time-not-a-duration", "locust", {"locust_run_time": "thirty seconds"}, "locust_run_time"),
    ("mlflow-missing-vault-secret", "mlflow", {"mlflow_secret_key": ""}, "vault_mlflow_secret_key"),
    ("mlflow-unpinned-package", "mlflow", {"mlflow_pip_packages": ["mlflow[auth]==3.17.2", "boto3"]},
     "mlflow_pip_packages"),
    ("mlflow-published-on-every-address", "mlflow", {"mlflow_publish_address": "0.0.0.0"}, "mlflow_publish_address"),
    ("mlflow-s3-without-credentials", "mlflow", {"mlflow_s3_secret_key": ""}, "mlflow_s3_endpoint_url"),
    ("backup-without-repository", "backup", {"backup_repository": ""}, "backup_repository"),
    ("backup-local-repository-on-the-system-disk", "backup", {"backup_repository": "/srv/backup-repository"},
     "backup_repository /srv/backup-repository is on the machine's root file system"),
    ("backup-missing-vault-password", "backup", {"backup_password": ""}, "vault_backup_password"),
    ("backup-s3-without-keys", "backup", {"backup_repository": "s3:https://s3.example.net/music-sim"},
     "vault_backup_s3_access_key"),
    ("backup-unknown-database-kind", "backup",
     {"backup_databases": [{"name": "mlflow", "container": "mlflow-mariadb", "kind": "mysql",
                            "project_dir": "/opt/musicsim/mlflow", "service": "mariadb"}]}, "backup_databases"),
    ("backup-database-without-its-project", "backup",
     {"backup_databases": [{"name": "megapi", "container": "megapi-postgres", "kind": "postgres"}]},
     "project_dir"),
    ("backup-sqlite-database-without-its-path", "backup",
     {"backup_databases": [{"name": "grafana", "kind": "sqlite", "path": "grafana.db"}]},
     "or sqlite with path (the database file's absolute path)"),
    ("backup-keeps-nothing", "backup", {"backup_keep_daily": 0}, "backup_keep_daily"),
    ("monitoring-missing-discord-webhook", "monitoring", {"monitoring_discord_webhook_url": ""},
     "vault_monitoring_discord_webhook_url"),
    ("monitoring-missing-grafana-password", "monitoring", {"monitoring_grafana_admin_password": "admin"},
     "vault_monitoring_grafana_admin_password"),
    ("monitoring-resend-delay-not-a-duration", "monitoring", {"monitoring_alert_resend_delay": "a minute"},
     "monitoring_alert_resend_delay are durations"),
    ("monitoring-unpinned-image", "monitoring", {"monitoring_grafana_image": "grafana/grafana:latest"},
     "monitoring_grafana_image"),
    ("monitoring-retention-not-a-size", "monitoring", {"monitoring_retention_size": "2 gigs"},
     "monitoring_retention_size"),
    ("monitoring-scrape-job-without-targets", "monitoring", {"monitoring_scrape_jobs": [{"name": "megapi-log"}]},
     "monitoring_scrape_jobs[0]"),
    ("monitoring-scrape-job-labels-not-a-mapping", "monitoring",
     {"monitoring_scrape_jobs": [{"name": "postgres", "targets": ["megapi-postgres-exporter:9187"], "labels": "laptop"}]},
     "monitoring_scrape_jobs[0]"),
    ("monitoring-library-without-password", "monitoring",
     {"monitoring_postgres_host": "megapi-postgres", "monitoring_postgres_database": "fastapi_db",
      "monitoring_postgres_user": "musicsim_reader"}, "monitoring_postgres_password"),
    ("monitoring-probe-path-not-a-path", "monitoring",
     {"monitoring_routes": [dict(API, probe_path="docs")]}, "probe_path"),
    ("proxy-admin-port-on-the-https-port", "proxy", {"proxy_admin_port": 443}, "must be three different TCP ports"),
    # Sizes as Docker reads them: a bare number would be bytes.
    ("proxy-memory-limit-without-a-unit", "proxy", {"proxy_memory_limit": "256"}, "proxy_memory_limit"),
    ("megapi-memory-limit-not-a-size", "megapi", {"megapi_postgres_memory_limit": "a quarter"},
     "megapi_postgres_memory_limit"),
    ("web-memory-limit-under-dockers-minimum", "web", {"web_memory_limit": "4m"}, "web_memory_limit"),
    ("exporters-memory-limit-not-a-size", "exporters", {"exporters_cadvisor_memory_limit": "192 megs"},
     "exporters_cadvisor_memory_limit"),
    ("monitoring-memory-limit-in-percent", "monitoring", {"monitoring_grafana_memory_limit": "10%"},
     "monitoring_grafana_memory_limit"),
    ("mlflow-memory-limit-not-a-size", "mlflow", {"mlflow_mariadb_memory_limit": "256mb of ram"},
     "mlflow_mariadb_memory_limit"),
    ("locust-memory-limit-without-a-unit", "locust", {"locust_memory_limit": "268435456"}, "locust_memory_limit"),
    ("docker-log-size-not-a-size", "docker", {"docker_log_max_size": "10 megs"}, "docker_log_max_size"),
    ("base-journal-size-not-a-size", "base", {"base_journald_max_use": "lots"}, "base_journald_max_use"),
    # Durations as their programs read them.
    ("base-journal-retention-not-a-time-span", "base", {"base_journald_max_retention": "a month"},
     "base_journald_max_retention"),
    ("exporters-housekeeping-not-a-duration", "exporters", {"exporters_cadvisor_housekeeping_interval": "30"},
     "exporters_cadvisor_housekeeping_interval"),
    # A webhook's URL holds its token: over HTTPS (or to a private address).
    ("monitoring-webhook-in-clear-over-the-internet", "monitoring",
     {"monitoring_discord_webhook_url": "http://discord.com/api/webhooks/1/throwaway-test-token"},
     "monitoring_discord_webhook_url"),
    ("ddns-update-in-clear", "ddns", {"ddns_update_url": "http://www.ovh.com/nic/update"}, "ddns_update_url"),
    ("monitoring-deadman-in-clear-over-the-internet", "monitoring",
     {"monitoring_deadman_url": "http://hc-ping.com/throwaway-test-uuid"}, "monitoring_deadman_url"),
    # Docker's networks on the machine's own (the test host's network, read
    # from its facts).
    ("docker-pool-on-the-machines-network", "docker",
     {"docker_address_pools": [{"base": "{{ ansible_facts['default_ipv4']['network'] }}/16", "size": 24}]},
     "docker_address_pools must stay off the networks this machine is on"),
]


def _recap(output):
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-2000:]
    return {k: int(v) for k, v in zip(("ok", "changed", "unreachable", "failed"), match.groups())}


def _set_up(host, role):
    """The role's SETUP in the host; returns the paths it touched."""
    for command in SETUP.get(role, []):
        subprocess.run(["docker", "exec", host, "sh", "-c", command], check=True, capture_output=True)
    return set(changed_paths(host))


def _values(role, values):
    merged = {"role_under_test": role, **GOOD[role]}
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _vars_file(tmp_path, role, values):
    path = tmp_path / "vars.yml"
    path.write_text(yaml.safe_dump(_values(role, values)))
    return path


def _strings(value):
    """Every string in a result, to look for a variable's name in."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _run_cases(workdir, cases, *args):
    """Runs tests/playbooks/apply-role.yml once for many cases, each on a
    fresh container of its own (a host of the play, its values loaded by the
    play): one Ansible start instead of one per case. A failing host stops
    only itself (no role check is any_errors_fatal).
      cases: {case id: (role, bad values, whether it needs apt lists)}
    Returns {case id: {"stats", "failed" (text of its failed results),
    "touched" (paths its container gained, beyond the set-up's), "output"}}.
    """
    containers = {case: f"musicsim-pytest-{uuid.uuid4().hex[:8]}" for case in cases}
    vars_dir = workdir / "cases"
    vars_dir.mkdir()
    try:
        starting = [subprocess.Popen(start_command(name), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    for name in containers.values()]
        for process in starting:
            assert process.wait() == 0, process.stderr.read()
        before = {}
        for case, (role, values, apt_lists) in cases.items():
            if apt_lists:
                subprocess.run(["docker", "exec", containers[case], "apt-get", "update", "-qq"],
                               check=True, capture_output=True)
            before[case] = _set_up(containers[case], role)
            (vars_dir / f"{case}.yml").write_text(yaml.safe_dump(_values(role, values)))
        inventory = workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {
            case: {"ansible_host": name, "ansible_connection": "community.docker.docker"}
            for case, name in containers.items()}}}))
        # The JSON callback: each host's results, whatever order they came in.
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_NOCOLOR="1")
        run = subprocess.run(["ansible-playbook", str(PLAYBOOK), "-i", str(inventory),
                              "-e", f"case_vars_dir={vars_dir}", *args],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        output = run.stdout + run.stderr
        try:
            # The report, and after it the role timings of ansible.cfg's
            # profile_roles.
            report, _ = json.JSONDecoder().raw_decode(run.stdout[run.stdout.index("{"):])
        except ValueError:
            pytest.fail(f"apply-role.yml gave no report:\n{output[-3000:]}")
        outcomes = {}
        for case, name in containers.items():
            failed = [result for play in report["plays"] for task in play["tasks"]
                      for host, result in task["hosts"].items() if host == case and result.get("failed")]
            outcomes[case] = {
                "stats": report["stats"].get(case, {}),
                "failed": "\n".join(s for result in failed for s in _strings(result)),
                "touched": set(changed_paths(name)) - before[case],
                "output": output[-3000:],
            }
        return outcomes
    finally:
        subprocess.run(["docker", "rm", "-f", *containers.values()], capture_output=True)


def _selected(request, test):
    """The ids of this test's cases that pytest runs (all, unless -k)."""
    return [item.callspec.id for item in request.session.items
            if getattr(item, "originalname", None) == test and hasattr(item, "callspec")]


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """The outcome of a case, its test's cases all run together the first
    time one of them asks."""
    runs = {}

    def outcome(test, case, cases, *args):
        if test not in runs:
            selected = {c: cases[c] for c in _selected(request, test)}
            runs[test] = _run_cases(tmp_path_factory.mktemp(test), selected, *args)
        return runs[test][case]
    return outcome


BAD = {case: (role, values, False) for case, role, values, _ in CASES}


@pytest.mark.parametrize("needle", [c[3] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_fails_before_any_change(request, outcomes, needle):
    case = request.node.callspec.id
    result = outcomes("test_bad_value_fails_before_any_change", case, BAD)
    assert result["stats"].get("failures") == 1, (result["stats"], result["output"])
    assert needle in result["failed"], result["failed"][-3000:]
    assert result["stats"].get("changed") == 0, result["stats"]
    # Only Ansible's own temporary files: no package, user or config file.
    touched = [p for p in result["touched"] if not p.startswith(("/root", "/tmp"))]
    assert touched == [], touched


@pytest.mark.parametrize("role", sorted(GOOD))
def test_good_values_pass_preflight(outcomes, role):
    """The control: the same harness with good values gets past the checks."""
    result = outcomes("test_good_values_pass_preflight", role, {r: (r, {}, False) for r in GOOD},
                      "--tags", "preflight")
    assert result["stats"].get("failures") == 0 and result["stats"].get("ok"), (result["stats"], result["failed"],
                                                                               result["output"])
    assert result["stats"].get("changed") == 0, result["stats"]


PREVIEWED = ["security", "proxy", "megapi", "web", "ddns", "exporters", "monitoring", "mlflow", "locust", "backup"]


@pytest.mark.parametrize("role", PREVIEWED)
def test_a_new_machine_is_previewed_without_changing_it(outcomes, role):
    """--check on a machine that has none of the role yet: the play succeeds,
    reports what it would do, and writes nothing."""
    # security and backup install packages: apt needs the lists a real
    # machine has.
    cases = {r: (r, {}, r in ("security", "backup")) for r in PREVIEWED}
    result = outcomes("test_a_new_machine_is_previewed_without_changing_it", role, cases, "--check", "--diff")
    stats = result["stats"]
    assert stats.get("failures") == 0 and stats.get("unreachable") == 0 and stats.get("ok"), (
        stats, result["failed"], result["output"])
    assert stats.get("changed", 0) > 0, stats
    # apt's solver logs what it simulated (/var/log/apt/eipp.log.xz): not the play's.
    touched = [p for p in result["touched"]
               if not p.startswith(("/root", "/tmp", "/var/log/apt")) and p != "/var/log"]
    assert touched == [], touched


@pytest.mark.parametrize("role", ["megapi", "web"])
def test_a_build_is_previewed_on_a_new_machine_without_git(installed_host, tmp_path, role):
    """--check of a build from the repository on a machine without git:
    the play succeeds, says git and the rest would come, writes nothing."""
    result = run_playbook(PLAYBOOK, installed_host, _vars_file(tmp_path, role, {f"{role}_source": "build"}),
                          "--check", "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert _recap(output)["changed"] > 0
    assert "Install git" in output
    # apt's lists come from the fixture's apt-get update, and apt's solver
    # logs what it simulated (/var/log/apt/eipp.log.xz): neither is the play's.
    touched = [p for p in changed_paths(installed_host)
               if not p.startswith(("/root", "/tmp", "/var/lib/apt", "/var/cache/apt", "/var/log/apt"))
               and p not in ("/var", "/var/cache", "/var/lib", "/var/log")]
    assert touched == [], touched
