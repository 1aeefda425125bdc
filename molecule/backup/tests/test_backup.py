"""Backups that restore: each database dumped in its container and streamed
into restic, a live SQLite database copied whole, the files, the timers,
the freshness metrics; a database down fails the backup without a snapshot
counted as good; a repository whose disk is not mounted or full fails it
too; files that cannot be read leave a snapshot and a warning; a wrong
repository password stops the role and leaves the repository as it was;
a lost machine comes back from a local disk, an SFTP host and an S3 store."""

import hashlib
import json
import lzma
import subprocess
import time
import urllib.request

import pytest

REPOSITORY = "/srv/outside/backup-repository"
ENV = f"RESTIC_REPOSITORY={REPOSITORY} RESTIC_PASSWORD_FILE=/etc/musicsim/backup/password"
METRICS = "/var/lib/node-exporter/textfile/musicsim_backup.prom"
PG = "docker exec megapi-postgres psql -U megapi -d fastapi_db -tAc"
MARIADB = "docker exec mlflow-mariadb sh -c 'MYSQL_PWD=\"$MARIADB_PASSWORD\" mariadb -u mlflow mlflow -N -e \"{}\"'"
LIBRARY = "SELECT count(*) || ' ' || md5(string_agg(id || title || artist, ',' ORDER BY id)) FROM music_library"
RUNS = "SELECT CONCAT(COUNT(*), CHAR(32), MD5(GROUP_CONCAT(id, name ORDER BY id))) FROM runs"


def restic(host, command):
    return host.check_output(f"{ENV} restic {command}")


def snapshots(host, tag):
    return json.loads(restic(host, f"snapshots --json --tag {tag}"))


def metrics(host):
    lines = host.file(METRICS).content_string.splitlines()
    return {name: float(value) for name, value in (line.split() for line in lines if not line.startswith("#"))}


def back_up(host):
    return host.run("systemctl start musicsim-backup.service")


def test_the_timers_are_scheduled(host):
    for timer in ("musicsim-backup.timer", "musicsim-backup-check.timer"):
        assert host.service(timer).is_enabled and host.service(timer).is_running, timer
    listed = host.check_output("systemctl list-timers --all --no-legend musicsim-backup*")
    assert "musicsim-backup.service" in listed and "musicsim-backup-check.service" in listed


def test_secrets_are_root_only(host):
    for name in ("password", "restic.env"):
        f = host.file(f"/etc/musicsim/backup/{name}")
        assert (f.user, f.mode) == ("root", 0o600), name
    assert host.file("/etc/musicsim/backup").mode == 0o700


def test_a_backup_stores_each_database_and_the_files(host):
    started = time.time()
    result = back_up(host)
    assert result.rc == 0, host.run("journalctl -u musicsim-backup.service -n 40 --no-pager").stdout
    for tag in ("db:megapi", "db:mlflow", "db:grafana", "files"):
        assert snapshots(host, tag), tag
    seen = metrics(host)
    assert seen["musicsim_backup_last_run_success"] == 1
    assert seen["musicsim_backup_last_success_timestamp_seconds"] >= started - 5
    assert seen["musicsim_backup_repository_size_bytes"] > 600_000  # three 200 kB objects at least


SQLITE_READ = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1], uri=True);"
               " print(db.execute('PRAGMA integrity_check').fetchone()[0],"
               " *db.execute('SELECT rows, amount FROM total').fetchone(),"
               " *db.execute('SELECT count(*), sum(amount) FROM ledger').fetchone())")


def test_a_live_sqlite_database_is_copied_whole(host):
    """Grafana's database while a service writes to it all the time (a
    transaction every 20 ms, a checkpoint every 50 pages): the copy in the
    backup is sound, its ledger agrees with its running total, and it holds
    at least what was committed before the backup started."""
    host.check_output("systemctl start grafana-db-writer")
    try:
        time.sleep(3)
        committed = int(host.check_output(
            "python3 -c \"import sqlite3; print(sqlite3.connect("
            "'file:/srv/musicsim/monitoring/grafana/grafana.db?mode=ro', uri=True)"
            ".execute('SELECT rows FROM total').fetchone()[0])\""))
        result = back_up(host)
        assert result.rc == 0, host.run("journalctl -u musicsim-backup.service -n 40 --no-pager").stdout
    finally:
        host.check_output("systemctl stop grafana-db-writer")
    host.check_output(f"{ENV} restic dump latest --tag db:grafana /grafana.dump > /tmp/grafana-copy.db")
    check, rows, amount, ledger_rows, ledger_amount = host.check_output(
        f"python3 -c \"{SQLITE_READ}\" 'file:/tmp/grafana-copy.db?immutable=1'").split()
    assert check == "ok"
    assert (rows, amount) == (ledger_rows, ledger_amount)
    assert int(rows) >= committed > 0


def test_the_postgres_dump_restores_the_library(host):
    before = host.check_output(f"{PG} \"{LIBRARY}\"")
    assert before.startswith("500 ")
    host.check_output(f"{PG} 'DROP TABLE music_library'")
    host.check_output(f"{ENV} restic dump latest --tag db:megapi /megapi.dump"
                      " | docker exec -i megapi-postgres pg_restore -U megapi -d fastapi_db --clean --if-exists --exit-on-error")
    assert host.check_output(f"{PG} \"{LIBRARY}\"") == before


def test_the_mariadb_dump_restores_the_runs(host):
    before = host.check_output(MARIADB.format(RUNS))
    assert before.startswith("120 ")
    host.check_output(MARIADB.format("DELETE FROM runs WHERE id > 60"))
    host.check_output(f"{ENV} restic dump latest --tag db:mlflow /mlflow.dump"
                      " | docker exec -i mlflow-mariadb sh -c 'MYSQL_PWD=\"$MARIADB_PASSWORD\" mariadb -u mlflow'")
    assert host.check_output(MARIADB.format(RUNS)) == before


def test_the_files_restore_byte_for_byte(host):
    sources = ["/var/lib/docker/volumes/megapi_minio/_data", "/srv/musicsim/monitoring/grafana"]
    host.check_output("rm -rf /tmp/restored")
    restic(host, "restore latest --tag files --target /tmp/restored")
    for source in sources:
        # Not the live SQLite database: its copy is checked by its content above.
        files = "find . -type f ! -name 'grafana.db*' -exec sha256sum {} + | sort"
        original = host.check_output(f"cd {source} && {files}")
        restored = host.check_output(f"cd /tmp/restored{source} && {files}")
        assert original and restored == original, source


# The restic releases before the role's own (Debian 13's 0.18) that the
# backup program is run with: Debian 12's 0.14 (still under many Raspberry
# Pi OS installs: no --retry-lock, no --stdin-from-command), Ubuntu 24.04's
# 0.16 (--retry-lock only) and Ubuntu 25.04's 0.17 (both). The backup
# program uses each option where restic has it. Their static binaries come
# from those releases' archives: Debian 12's is this build machine's own.
UBUNTU = "http://archive.ubuntu.com/ubuntu"
OLDER_RESTICS = {"0.14": None, "0.16": "noble-updates", "0.17": "plucky"}


def restic_from_ubuntu(tmp_path, suite):
    """restic's binary from the package of an Ubuntu release: the package
    named by the archive's index, checked against the index's SHA-256."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        with urllib.request.urlopen(f"{UBUNTU}/dists/{suite}/universe/binary-{arch}/Packages.xz",
                                    timeout=60) as reply:
            index = lzma.decompress(reply.read()).decode()
        stanza = next(part for part in index.split("\n\n") if part.startswith("Package: restic\n"))
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        deb = tmp_path / "restic.deb"
        urllib.request.urlretrieve(f"{UBUNTU}/{fields['Filename']}", deb)
    except OSError as error:
        # Ubuntu's archive is not among the registries promised to the test
        # machines (the ubuntu scenario is skipped the same way).
        pytest.skip(f"Ubuntu's archive did not answer ({error}): restic from {suite} not run")
    assert hashlib.sha256(deb.read_bytes()).hexdigest() == fields["SHA256"], fields["Filename"]
    return deb


@pytest.mark.parametrize("release", OLDER_RESTICS)
def test_older_restics_back_up_too(host, tmp_path, release):
    if OLDER_RESTICS[release] is None:
        subprocess.run(["apt-get", "download", "restic"], cwd=tmp_path, check=True, capture_output=True)
        deb = next(tmp_path.glob("restic_*.deb"))
    else:
        deb = restic_from_ubuntu(tmp_path, OLDER_RESTICS[release])
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "deb")], check=True)
    folder = f"/opt/restic-{release}"
    host.check_output(f"mkdir -p {folder}")
    subprocess.run(["docker", "cp", str(tmp_path / "deb/usr/bin/restic"),
                    f"{host.backend.get_hostname()}:{folder}/restic"], check=True)
    version = host.check_output(f"{folder}/restic version")
    assert version.startswith(f"restic {release}."), f"not restic {release}: {version}"
    before = {snapshot["id"] for snapshot in snapshots(host, "db:megapi")}
    # The service's environment, with that restic first on the PATH.
    result = host.run("systemd-run --wait --collect --pipe --quiet"
                      " --property=EnvironmentFile=/etc/musicsim/backup/restic.env"
                      f" --setenv=PATH={folder}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
                      " /usr/local/lib/musicsim/musicsim-backup run")
    assert result.rc == 0, result.stdout + result.stderr
    made = [snapshot for snapshot in snapshots(host, "db:megapi") if snapshot["id"] not in before]
    assert len(made) == 1
    # restic 0.16 and later write their version into a snapshot; 0.14 did not.
    if release == "0.14":
        assert "program_version" not in made[0], made[0]
    else:
        assert made[0].get("program_version", "").startswith(f"restic {release}."), made[0]
    assert metrics(host)["musicsim_backup_last_run_success"] == 1


def test_the_backup_waits_for_the_repositorys_disk(host):
    for unit in ("musicsim-backup.service", "musicsim-backup-check.service"):
        shown = host.check_output(f"systemctl show --property RequiresMountsFor --property After {unit}")
        assert f"RequiresMountsFor={REPOSITORY}" in shown, shown
        assert "srv-outside.mount" in shown, shown


def test_a_repository_whose_disk_is_not_mounted_fails_the_backup(host):
    # The repository's path as it would be with its disk missing: a
    # directory of the root file system.
    good = metrics(host)["musicsim_backup_last_success_timestamp_seconds"]
    result = host.run("systemd-run --wait --collect --pipe --quiet"
                      " --setenv=RESTIC_REPOSITORY=/srv/usb-disk-not-mounted/musicsim"
                      " /usr/local/lib/musicsim/musicsim-backup run")
    assert result.rc != 0
    assert "not on a disk of its own: is its disk mounted?" in result.stderr, result.stdout + result.stderr
    assert not host.file("/srv/usb-disk-not-mounted").exists
    seen = metrics(host)
    assert seen["musicsim_backup_last_run_success"] == 0
    assert seen["musicsim_backup_last_success_timestamp_seconds"] == good


def test_a_full_repository_disk_fails_the_backup_loudly(host):
    # A new repository on a small disk of its own (a tmpfs capped at 64 MB,
    # mounted for this test only, never the machine's disk), 95% full: 3.2
    # MB left, less than the site's data with the 4 MB the site has just
    # made; the whole disk is room enough for it.
    disk = "/srv/small-disk"
    new_data = "/opt/musicsim/megapi/new-data.bin"
    env = f"RESTIC_REPOSITORY={disk}/repository RESTIC_PASSWORD_FILE=/etc/musicsim/backup/password"
    # Not restic.env, whose repository would win over --setenv's.
    run = (f"systemd-run --wait --collect --pipe --quiet --setenv=RESTIC_REPOSITORY={disk}/repository"
           " --setenv=RESTIC_PASSWORD_FILE=/etc/musicsim/backup/password /usr/local/lib/musicsim/musicsim-backup run")
    good = metrics(host)["musicsim_backup_last_success_timestamp_seconds"]
    host.check_output(f"mkdir -p {disk} && mount -t tmpfs -o size=64m,mode=0700 small-disk {disk}")
    host.check_output(f"head -c 4000000 /dev/urandom > {new_data}")
    try:
        host.check_output(f"{env} restic init")
        size, used = map(int, host.check_output(f"stat -f -c '%b %S' {disk} | awk '{{print $1 * $2}}'; du -sb {disk} | cut -f1").split())
        host.check_output(f"fallocate -l {int(size * 0.95) - used} {disk}/filler")
        assert int(host.check_output(f"df --output=pcent {disk} | tail -1").strip(" %")) >= 95
        result = host.run(run)
        assert result.rc != 0
        assert "no space left on device" in result.stderr, result.stderr[-2000:]
        seen = metrics(host)
        assert seen["musicsim_backup_last_run_success"] == 0
        assert seen["musicsim_backup_last_success_timestamp_seconds"] == good
        # Nothing half-written is taken for a snapshot, and the repository
        # is sound: once there is room, the next backup succeeds.
        assert host.run(f"{env} restic check").rc == 0
        host.check_output(f"rm {disk}/filler")
        result = host.run(run)
        assert result.rc == 0, result.stderr[-2000:]
        assert metrics(host)["musicsim_backup_last_run_success"] == 1
    finally:
        host.run(f"umount {disk}; rm -f {new_data}")


def test_files_it_cannot_read_keep_the_snapshot_with_a_warning(host):
    # A file that root cannot read: mode 000, and the backup run without
    # root's right to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH),
    # as a file on a failing disk or a FUSE mount refusing root would be.
    # The databases stay readable: SQLite's copy of Grafana's needs to make
    # its -wal and -shm beside it, which root then does as the directory's
    # group (0) rather than by that right; without it the copy fails, and
    # with it the backup, as it should.
    before = {snapshot["id"] for snapshot in snapshots(host, "files")}
    grafana = "/srv/musicsim/monitoring/grafana"
    host.check_output("install -m 000 /dev/null /opt/musicsim/megapi/unreadable.txt")
    host.check_output(f"chmod g+w {grafana} {grafana}/grafana.db")
    try:
        result = host.run("systemd-run --wait --collect --pipe --quiet"
                          " --property=EnvironmentFile=/etc/musicsim/backup/restic.env"
                          " '--property=CapabilityBoundingSet=~CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH'"
                          " /usr/local/lib/musicsim/musicsim-backup run")
    finally:
        host.check_output("rm -f /opt/musicsim/megapi/unreadable.txt")
        host.check_output(f"chmod g-w {grafana} {grafana}/grafana.db")
    assert result.rc == 0, result.stdout + result.stderr
    assert "some files could not be read: the snapshot was kept" in result.stderr, result.stderr
    made = [snapshot for snapshot in snapshots(host, "files") if snapshot["id"] not in before]
    assert len(made) == 1
    seen = metrics(host)
    assert seen["musicsim_backup_last_run_success"] == 1
    assert seen["musicsim_backup_last_run_incomplete"] == 1
    # The next backup that reads everything clears the warning.
    assert back_up(host).rc == 0
    assert metrics(host)["musicsim_backup_last_run_incomplete"] == 0


def test_a_database_down_fails_the_backup_and_keeps_no_snapshot(host):
    good = metrics(host)["musicsim_backup_last_success_timestamp_seconds"]
    count = len(snapshots(host, "db:megapi"))
    host.check_output("docker stop megapi-postgres")
    try:
        result = back_up(host)
    finally:
        host.check_output("docker start megapi-postgres")
    assert result.rc != 0
    assert len(snapshots(host, "db:megapi")) == count
    seen = metrics(host)
    assert seen["musicsim_backup_last_run_success"] == 0
    assert seen["musicsim_backup_last_success_timestamp_seconds"] == good
    assert host.service("musicsim-backup.service").is_running is False
    assert "failed" in host.run("systemctl is-failed musicsim-backup.service").stdout


def test_the_repository_check_passes(host):
    assert host.run("systemctl start musicsim-backup-check.service").rc == 0
    seen = metrics(host)
    assert seen["musicsim_backup_last_check_success"] == 1
    assert seen["musicsim_backup_last_check_timestamp_seconds"] > time.time() - 600


def test_a_wrong_password_stops_the_role_and_leaves_the_repository_alone(host):
    """side_effect.yml ran the role with another password."""
    outcome = host.file("/var/tmp/wrong-password.txt").content_string
    assert outcome != "applied\n"
    assert "wrong password" in outcome and "vault_backup_password" in outcome, outcome
    before, after = host.file("/var/tmp/repository-fingerprints.txt").content_string.split()[::2]
    assert before == after


def test_a_restore_onto_a_machine_with_data_is_refused(host):
    """side_effect.yml tried it without force."""
    outcome = host.file("/var/tmp/restore-over-data.txt").content_string
    assert outcome != "applied\n"
    assert "already holds data" in outcome and "backup_restore_force" in outcome, outcome


# Where each repository's files are, on the machine that keeps them.
REPOSITORIES = {
    "local": "/srv/outside/backup-repository",
    "sftp": "sftp:restic@10.98.0.10:/srv/sftp/musicsim",
    "s3": "s3:http://10.98.0.11:9000/musicsim-backup",
}
# Each remote repository's files, relative to it, on the machine that
# keeps them. s3rver keeps each object as KEY._S3rver_object.
REMOTE_FILES = {
    "sftp": "docker exec lan-sftp find /srv/sftp/musicsim -type f -printf '%P\\n'",
    "s3": "docker exec lan-s3 sh -c \"find /data/musicsim-backup -type f -name '*._S3rver_object' -printf '%P\\n'"
          " | sed 's/._S3rver_object$//'\"",
}


@pytest.mark.parametrize("repository", ["local", "sftp", "s3"])
def test_a_lost_machine_comes_back_from_its_backup(host, repository):
    """side_effect.yml pointed the role at each repository (a local disk,
    the LAN's SFTP host, its S3 store), backed up, removed both stacks with
    their volumes and every file, and restored: the databases, objects and
    files are the same."""
    record = json.loads(host.file(f"/var/tmp/restore-{repository}.json").content_string)
    print(f"\nrestore from {record['repository']}: {record['seconds']:.1f} s")
    assert record["repository"] == REPOSITORIES[repository]
    tags = {tag for snapshot in record["snapshots"] for tag in snapshot["tags"]}
    assert {"db:megapi", "db:mlflow", "db:grafana", "files"} <= tags, tags
    lines = record["before"].splitlines()
    assert lines[0].startswith("500 ") and lines[1].startswith("120 ") and len(lines) == 2 + 3 + 1 + 1
    # Grafana's database: sound, its ledger and total agreeing, as it was.
    check, rows, amount, ledger_rows, ledger_amount = lines[-1].split()
    assert check == "ok" and (rows, amount) == (ledger_rows, ledger_amount) and int(rows) > 0
    assert record["after"] == record["before"]
    if repository in REMOTE_FILES:
        # The snapshots are on the other machine, as restic lays out a
        # repository: its config, keys, snapshots and packs of data.
        files = host.check_output(REMOTE_FILES[repository]).splitlines()
        assert "config" in files, files
        assert sum(name.startswith("snapshots/") for name in files) == len(record["snapshots"]), files
        assert any(name.startswith("data/") for name in files), files


def test_a_repository_moved_elsewhere_leaves_no_key_behind(host):
    """The role, pointed back at the local disk after the SFTP host and the
    S3 store, removed their keys."""
    for path in ("/etc/musicsim/backup/sftp_key", "/etc/musicsim/backup/known_hosts",
                 "/etc/musicsim/backup/s3_credentials", "/etc/ssh/ssh_config.d/musicsim-backup.conf"):
        assert not host.file(path).exists, path
    settings = host.file("/etc/musicsim/backup/restic.env").content_string
    assert f"RESTIC_REPOSITORY={REPOSITORIES['local']}\n" in settings and "AWS_" not in settings
