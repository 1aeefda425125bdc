"""An upgrade whose backup fails changes nothing, a failed upgrade is rolled
back with its data, then one that works is applied (megapi, and
nginx-proxy-manager 2.13.5 to 2.15.1), on the whole site with its data
(molecule.yml says how)."""

import json

import pytest

OUTSIDE = "/srv/outside"
ENV = ". /etc/musicsim/backup/restic.env && export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR &&"


def kept(host, name):
    return json.loads(host.file(f"{OUTSIDE}/{name}").content_string)


@pytest.fixture(scope="module")
def before(host):
    return kept(host, "upgrade-before.json")


def containers(host, name):
    return {c["name"]: c for c in kept(host, f"upgrade-containers-{name}.json")["containers"]}


def section(output, start, end="TASK ["):
    """A task's output: from its banner to the next one."""
    return output.split(start, 1)[1].split(end, 1)[0]


def test_an_upgrade_whose_backup_fails_changes_nothing(host):
    run = kept(host, "upgrade-no-backup.json")
    print(f"\nupgrade stopped by its backup: {run['seconds']:.1f} s in all")
    assert run["rc"] != 0, run["output"][-3000:]
    output = " ".join(run["output"].split())
    assert "UPGRADE NOT STARTED: the backup before it failed on musicsim-" in output, run["output"][-3000:]
    # The backup's own last words, from its journal: what failed.
    assert "the backup failed (the dump of megapi): see the lines above" in output, run["output"][-3000:]
    assert "TASK [Apply the role" not in output
    old, now = containers(host, "before"), containers(host, "no-backup")
    # The same containers (megapi's database stopped and started again by
    # the test), on the same images.
    assert {name: (c["id"], c["image"]) for name, c in now.items()} == \
        {name: (c["id"], c["image"]) for name, c in old.items()}
    assert kept(host, "upgrade-containers-no-backup.json")["proxy_version"] == {"major": 2, "minor": 13, "revision": 5}


def test_the_failed_upgrade_stopped_the_run_and_said_it_rolled_back(host):
    run = kept(host, "upgrade-broken.json")
    print(f"\nfailed upgrade, rolled back: {run['seconds']:.1f} s in all (backup, megapi, rollback)")
    assert run["rc"] != 0, run["output"][-3000:]
    # The message as one line (the output wraps long strings).
    output = " ".join(run["output"].split())
    assert "UPGRADE FAILED, ROLLED BACK: megapi on musicsim-" in output, run["output"][-3000:]
    # The backup was made (changed), then megapi, and no stack after it.
    assert "changed: [" in section(output, "TASK [upgrade : Back up before the upgrade]")
    assert output.index("TASK [upgrade : Back up before the upgrade]") < output.index("TASK [Apply the role megapi]")
    assert "the failed one had musicsim-test/megapi:broken-upgrade)" in output
    for later in ("web", "mlflow", "locust", "proxy", "monitoring"):
        assert f"TASK [Apply the role {later}]" not in output


def test_the_backup_before_the_upgrade_is_tagged(host):
    snapshots = json.loads(host.check_output(f"{ENV} restic snapshots --json --no-lock --tag musicsim,upgrade"))
    tags = {tag for snapshot in snapshots for tag in snapshot["tags"]}
    # The files and a dump of each database: what a rollback restores.
    assert {"files", "db:megapi", "db:mlflow"} <= tags, tags


def test_the_broken_version_had_damaged_the_data(host):
    """It exits with 3 only after deleting the rows and the objects: the
    engine's events of its containers say it did, before the rollback."""
    exits = kept(host, "upgrade-containers-rolled-back.json")["broken_exits"]
    assert "3" in exits, exits


def test_megapi_runs_its_previous_image_and_nothing_else_changed(host):
    old, now = containers(host, "before"), containers(host, "rolled-back")
    assert set(now) == set(old)
    assert now["megapi"]["image"] == old["megapi"]["image"]
    assert now["megapi"]["id"] != old["megapi"]["id"]
    untouched = {name for name in old if not name.startswith(("megapi", "minio"))}
    assert {name for name in untouched if now[name]["id"] != old[name]["id"]} == set()
    assert [name for name, c in now.items() if "(healthy)" not in c["status"]] == []


@pytest.mark.parametrize("after", ["upgrade-after-no-backup.json", "upgrade-rolled-back.json", "upgrade-after.json"])
def test_the_data_is_as_before(host, before, after):
    data = kept(host, after)
    assert int(before["postgres"]["music_library"].split()[0]) >= 500 and before["library"]["count"] == 800
    assert set(data) == set(before)
    for part in sorted(before):
        assert data[part] == before[part], part


def test_the_upgrade_that_works_recreates_megapi_and_the_proxy_alone(host):
    run = kept(host, "upgrade-next.json")
    print(f"\nupgrade that works: {run['seconds']:.1f} s in all (backup, every stack)")
    assert run["rc"] == 0, run["output"][-3000:]
    old, now = containers(host, "rolled-back"), containers(host, "after")
    assert now["megapi"]["image"] == "musicsim-test/megapi:next-upgrade"
    assert old["nginx-proxy-manager"]["image"] == "musicsim-test/nginx-proxy-manager:2.13.5"
    assert now["nginx-proxy-manager"]["image"] == "musicsim-test/nginx-proxy-manager:2.15.1"
    # 2.15.1 itself answers, on the database 2.13.5 had (its hosts and
    # certificates: test_the_data_is_as_before).
    assert kept(host, "upgrade-containers-after.json")["proxy_version"] == {"major": 2, "minor": 15, "revision": 1}
    changed = {name for name in old if now[name]["id"] != old[name]["id"]}
    assert changed == {"megapi", "nginx-proxy-manager"}, changed
    assert [name for name, c in now.items() if "(healthy)" not in c["status"]] == []
