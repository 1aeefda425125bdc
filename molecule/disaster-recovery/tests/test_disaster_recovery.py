"""The machine died; a new one, restored with playbooks/restore.yml, has
every piece of the site's data the old one had backed up (molecule.yml)."""

import json

import pytest

OUTSIDE = "/srv/outside"


def kept(host, name):
    return json.loads(host.file(f"{OUTSIDE}/{name}").content_string)


@pytest.fixture(scope="module")
def before(host):
    return kept(host, "before.json")


@pytest.fixture(scope="module")
def after(host):
    return kept(host, "after.json")


def test_this_is_a_new_machine(host):
    # The fingerprint before the disaster names the engine it was taken on.
    engine_now = host.check_output("docker info --format '{{.ID}}'")
    assert host.file(f"{OUTSIDE}/engine-before").content_string.strip() != engine_now


def test_the_recovery_time(host):
    recovery = kept(host, "recovery.json")
    print(f"\nrecovery time (restore.yml started -> every container healthy): {recovery['seconds']:.1f} s"
          f" for {len(recovery['containers'])} containers")
    assert recovery["seconds"] > 0


def test_megapi_rows(before, after):
    assert int(before["postgres"]["music_library"].split()[0]) >= 500
    print(f"\nPostgres (megapi): {len(before['postgres'])} tables: {before['postgres']}")
    assert after["postgres"] == before["postgres"]


def test_megapi_reads_the_library_as_before(before, after):
    # Through its API: the 300 songs of its first start and the 500 added
    # through it, the artists, the last song added.
    assert before["library"]["count"] == 800 and before["library"]["last"]["row"]["title"] == "Track 800"
    assert after["library"] == before["library"]


def test_mlflow_tables(before, after):
    assert int(before["mariadb"]["runs"].split()[0]) >= 1
    print(f"\nMariaDB (MLflow): {len(before['mariadb'])} tables, "
          f"{sum(int(v.split()[0]) for v in before['mariadb'].values())} rows")
    assert after["mariadb"] == before["mariadb"]


def test_objects_in_every_bucket(before, after):
    assert {"music", "temp", "music-net", "openl3", "mlflow"} <= set(before["objects"])
    for bucket, found in before["objects"].items():
        assert {f"recovery/{size}.bin" for size in (1_000, 100_000, 1_000_000)} <= set(found), bucket
    print(f"\nMinIO: {sum(len(v) for v in before['objects'].values())} objects in {len(before['objects'])} buckets")
    assert after["objects"] == before["objects"]


def test_the_mlflow_run_and_its_artifact(before, after):
    runs = [r for r in before["mlflow_runs"].values() if r["name"] == "before-the-disaster"]
    assert len(runs) == 1 and runs[0]["status"] == "FINISHED"
    assert set(runs[0]["artifacts"]) == {"model/weights.txt"}
    assert after["mlflow_runs"] == before["mlflow_runs"]


def test_the_dashboard_made_through_grafanas_api(before, after):
    assert before["dashboard"]["title"] == "Before the disaster"
    assert after["dashboard"] == before["dashboard"]


def test_the_proxy_hosts_and_their_certificates(before, after):
    # The same hosts under the same IDs, serving the certificates issued on
    # the old machine: restored, not made again.
    assert len(before["proxy_hosts"]) == 8
    print(f"\nnginx-proxy-manager: {len(before['proxy_hosts'])} proxy hosts, "
          f"{len(before['certificates'])} certificates")
    assert after["proxy_hosts"] == before["proxy_hosts"]
    assert after["certificates"] == before["certificates"]


def test_backups_go_on_from_the_new_machine(host):
    for timer in ("musicsim-backup.timer", "musicsim-backup-check.timer"):
        assert host.service(timer).is_enabled and host.service(timer).is_running, timer
    result = host.run("systemctl start musicsim-backup.service")
    assert result.rc == 0, host.run("journalctl -u musicsim-backup.service -n 40 --no-pager").stdout
