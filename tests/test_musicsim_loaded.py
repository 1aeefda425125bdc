"""plugins/modules/musicsim_loaded.py: which services run another
configuration than their files, run as Ansible runs it (a module process
with its arguments), on files of a temporary directory."""

import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import ROOT

MODULE = ROOT / "plugins/modules/musicsim_loaded.py"


def run(args, check_mode=False, fails=False):
    """The module's JSON answer, as Ansible would read it."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    done = subprocess.run([sys.executable, str(MODULE)], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONPATH=""))
    answer = json.loads(done.stdout)
    assert bool(answer.get("failed")) == fails, answer
    return answer


@pytest.fixture
def site(tmp_path):
    """Two services: one with two files, one with a file not written yet."""
    (tmp_path / "prometheus.yml").write_text("scrape_interval: 30s\n")
    (tmp_path / "alerts.yml").write_text("groups: []\n")
    services = {
        "Reload Prometheus": [str(tmp_path / "prometheus.yml"), str(tmp_path / "alerts.yml")],
        "Restart Grafana": [str(tmp_path / "grafana.ini")],
    }
    return tmp_path, {"record": str(tmp_path / "loaded" / "monitoring.json"), "services": services}


def compared(args):
    return run(dict(args, state="compared"))


def recorded(args, check_mode=False):
    return run(dict(args, state="recorded"), check_mode)


def test_no_record_yet_outdates_what_has_a_file(site):
    _, args = site
    answer = compared(args)
    assert answer["outdated"] == ["Reload Prometheus"]
    assert answer["changed"] is False


def test_recorded_then_nothing_outdated_and_no_change(site):
    _, args = site
    assert recorded(args)["changed"] is True
    assert compared(args)["outdated"] == []
    assert recorded(args)["changed"] is False


def test_a_file_written_after_the_record_outdates_its_service_only(site):
    tmp_path, args = site
    recorded(args)
    (tmp_path / "alerts.yml").write_text("groups: [{name: disk}]\n")
    assert compared(args)["outdated"] == ["Reload Prometheus"]
    (tmp_path / "grafana.ini").write_text("[server]\n")
    assert compared(args)["outdated"] == ["Reload Prometheus", "Restart Grafana"]


def test_a_file_removed_after_the_record_outdates_its_service(site):
    tmp_path, args = site
    recorded(args)
    (tmp_path / "alerts.yml").unlink()
    assert compared(args)["outdated"] == ["Reload Prometheus"]


def test_the_same_content_written_again_outdates_nothing(site):
    tmp_path, args = site
    recorded(args)
    (tmp_path / "prometheus.yml").write_text("scrape_interval: 30s\n")
    assert compared(args)["outdated"] == []


def test_a_service_new_to_the_record_is_outdated_if_its_files_exist(site):
    tmp_path, args = site
    recorded(args)
    (tmp_path / "jail.local").write_text("[sshd]\n")
    args["services"]["Restart fail2ban"] = [str(tmp_path / "jail.local")]
    assert compared(args)["outdated"] == ["Restart fail2ban"]


def test_check_mode_records_nothing(site):
    tmp_path, args = site
    assert recorded(args, check_mode=True)["changed"] is True
    assert not (tmp_path / "loaded").exists()
    assert compared(args)["outdated"] == ["Reload Prometheus"]


def test_the_record_is_root_s_alone(site):
    tmp_path, args = site
    recorded(args)
    assert stat.S_IMODE(os.stat(tmp_path / "loaded" / "monitoring.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "loaded").st_mode) == 0o700


def test_a_record_cut_off_half_written_counts_as_none(site):
    tmp_path, args = site
    recorded(args)
    record = tmp_path / "loaded" / "monitoring.json"
    record.write_text(record.read_text()[:20])
    assert compared(args)["outdated"] == ["Reload Prometheus"]


def test_a_record_of_some_services_keeps_the_others(site):
    tmp_path, args = site
    recorded(args)
    (tmp_path / "alerts.yml").write_text("groups: [{name: disk}]\n")
    (tmp_path / "grafana.ini").write_text("[server]\n")
    grafana_only = dict(args, services={"Restart Grafana": args["services"]["Restart Grafana"]})
    recorded(grafana_only)
    assert compared(args)["outdated"] == ["Reload Prometheus"]


def test_files_not_given_as_a_list_of_absolute_paths_are_refused(site):
    _, args = site
    for paths in ["/etc/prometheus.yml", ["prometheus.yml"], [1]]:
        answer = run(dict(args, services={"Reload Prometheus": paths}), fails=True)
        assert "Reload Prometheus" in answer["msg"] and "absolute paths" in answer["msg"]


def test_a_directory_named_as_a_file_is_an_error_not_a_traceback(site):
    tmp_path, args = site
    answer = run(dict(args, services={"Reload Prometheus": [str(tmp_path)]}), fails=True)
    assert answer["msg"].startswith(f"services: {tmp_path}:")
