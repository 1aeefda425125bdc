"""Three auditors of other people's making, run on the converged site host:
lynis (Debian's package), ssh-audit (Debian's package) and
docker-bench-security (../shared/tools/docker-bench-security, which no
package carries). Each figure is written to the figures table that
tests/harness/summary.sh prints under the stages ($MUSICSIM_FIGURES), then
held to its goal. The two packages are installed on the host for the test:
nothing of the site needs them.

The test host is a container: its kernel is the build machine's. Kernel
settings, AppArmor and the audit rules are the machine's, not the
container's, so the figures here are the ones the site's own files can
earn; roles/security/README.md lists what docker-bench still warns about
and why, and this test holds the list to what it finds."""

import json
import os
import pathlib
import re
import tarfile

import pytest

HERE = pathlib.Path(__file__).parent
PROJECT = HERE.parents[2]
DOCKER_BENCH = pathlib.Path(
    os.environ.get("MUSICSIM_DOCKER_BENCH", PROJECT.parent / "shared/tools/docker-bench-security")
)
FIGURES = pathlib.Path(
    os.environ.get("MUSICSIM_FIGURES")
    or pathlib.Path(os.environ.get("MUSICSIM_STAGES", PROJECT / ".cache/stages.tsv")).parent / "figures.tsv"
)
# The stage the figures belong to in the table: the demo lane's, or the
# site scenario's when it runs alone.
STAGE = os.environ.get("MUSICSIM_FIGURES_STAGE", "site:verify")

LYNIS_MIN = 80
DOCKER_BENCH_MAX_WARN = 12


def record(figure, value, goal, met):
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as table:
        table.write(f"{STAGE}\t{figure}\t{value}\t{goal}\t{'met' if met else 'MISSED'}\n")


@pytest.fixture(scope="module")
def auditors(host):
    out = host.run(
        "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 "
        "install --no-install-recommends lynis ssh-audit"
    )
    assert out.rc == 0, out.stdout + out.stderr
    return host


def test_lynis_hardening_index(auditors):
    out = auditors.run("lynis audit system --quiet --no-colors")
    assert out.rc == 0, out.stdout + out.stderr
    report = auditors.file("/var/log/lynis-report.dat").content_string
    index = int(re.search(r"^hardening_index=(\d+)$", report, re.MULTILINE).group(1))
    record("lynis hardening index", index, f">= {LYNIS_MIN}", index >= LYNIS_MIN)
    assert index >= LYNIS_MIN, re.findall(r"^suggestion\[\]=.*$", report, re.MULTILINE)


def test_ssh_audit_finds_nothing_to_fail_or_warn(auditors):
    # Once only: OpenSSH 10's per-source penalties refuse a second run from
    # the same address for a while ("Not allowed at this time").
    out = auditors.run("ssh-audit --json 127.0.0.1")
    assert out.stdout.startswith("{"), out.stdout + out.stderr
    audit = json.loads(out.stdout)
    findings = {"fail": [], "warn": []}
    for part in ("kex", "key", "enc", "mac"):
        for algorithm in audit.get(part, []):
            for level in findings:
                findings[level] += [f"{part} {algorithm['algorithm']}: {note}"
                                    for note in algorithm.get("notes", {}).get(level, [])]
    findings["fail"] += [cve["name"] for cve in audit.get("cves", [])]
    record("ssh-audit fail", len(findings["fail"]), "0", not findings["fail"])
    record("ssh-audit warn", len(findings["warn"]), "0", not findings["warn"])
    assert findings == {"fail": [], "warn": []}


def explained_warnings():
    """The checks roles/security/README.md says docker-bench still warns
    about, with why: the rows of its table."""
    readme = (PROJECT / "roles/security/README.md").read_text()
    section = readme.split("### What docker-bench-security still warns about", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| (\d+\.\d+(?:\.\d+)?) \|", section, re.MULTILINE))


def test_docker_bench_security(auditors, tmp_path):
    assert (DOCKER_BENCH / "docker-bench-security.sh").is_file(), f"no docker-bench-security at {DOCKER_BENCH}"
    bundle = tmp_path / "docker-bench-security.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(DOCKER_BENCH, arcname="docker-bench-security", filter=lambda member: None if "/log/" in member.name else member)
    result = auditors.ansible("ansible.builtin.unarchive", f"src={bundle} dest=/opt", check=False)
    assert not result.get("failed"), result
    # The test host never loads its audit rules (the kernel's are the whole
    # build machine's: roles/security/README.md), so `auditctl -l` would
    # list the build machine's. docker-bench runs where auditctl is not
    # installed (a private mount namespace, in which /usr/sbin is a copy
    # without it), and then reads the rules from /etc/audit/audit.rules,
    # the file auditd loads at boot: its own way on a machine without
    # auditctl. Nothing outside that namespace sees the copy.
    out = auditors.run(
        "cd /opt/docker-bench-security && unshare --mount --propagation private sh -ec '"
        "cp -a /usr/sbin /run/sbin-without-auditctl; rm /run/sbin-without-auditctl/auditctl; "
        "mount --bind /run/sbin-without-auditctl /usr/sbin; "
        "./docker-bench-security.sh -b -l /var/tmp/docker-bench.log'; "
        "status=$?; rm -rf /run/sbin-without-auditctl; exit $status"
    )
    assert out.rc == 0, out.stdout[-2000:] + out.stderr
    report = json.loads(auditors.file("/var/tmp/docker-bench.log.json").content_string)
    warned = {result["id"]: result["desc"] for section in report["tests"] for result in section["results"]
              if result["result"] == "WARN"}
    record("docker-bench-security WARN", len(warned), f"<= {DOCKER_BENCH_MAX_WARN}",
           len(warned) <= DOCKER_BENCH_MAX_WARN)
    explained = explained_warnings()
    unexplained = {check: desc for check, desc in warned.items() if check not in explained}
    assert not unexplained, f"warnings roles/security/README.md does not explain: {unexplained}"
    assert explained <= set(warned), f"the README explains warnings no longer found: {explained - set(warned)}"
    assert len(warned) <= DOCKER_BENCH_MAX_WARN, warned
