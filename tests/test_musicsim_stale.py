"""plugins/filter/musicsim_stale.py against what ansible.builtin.find
really returns (run here, on local files): a path is stale, and its task
runs, unless its kind, mode, owner, group and content all match."""

import importlib.util
import json
import os
import pwd
import grp
import subprocess

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("musicsim_stale", ROOT / "plugins/filter/musicsim_stale.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
stale = _module.musicsim_stale

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def find(path):
    """The `files` of ansible.builtin.find over `path`, as a task gets them."""
    # Ansible's defaults, run from `path`: not the project's ansible.cfg,
    # whose timing callback prints on standard output too.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    out = subprocess.run(
        ["ansible", "localhost", "-c", "local", "-m", "ansible.builtin.find",
         "-a", json.dumps({"paths": [str(path)], "file_type": "any", "hidden": True, "get_checksum": True})],
        cwd=path, env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]["files"]


@pytest.fixture
def found(tmp_path):
    (tmp_path / "app.env").write_text("KEY='value'\n")
    (tmp_path / "app.env").chmod(0o600)
    (tmp_path / "data").mkdir()
    (tmp_path / "data").chmod(0o750)
    return tmp_path, find(tmp_path)


def test_a_file_as_it_should_be_is_not_stale(found):
    where, files = found
    assert not stale(files, f"{where}/app.env", content="KEY='value'\n", mode="0600", owner=ME, group=MY_GROUP)
    # Owner and group by id as well as by name.
    assert not stale(files, f"{where}/app.env", content="KEY='value'\n", mode="0600",
                     owner=os.getuid(), group=str(os.getgid()))


@pytest.mark.parametrize("change", [
    {"content": "KEY='other'\n"},
    {"content": "KEY='value'"},  # the newline counts
    {"mode": "0640"},
    {"owner": "nobody-else-here"},
    {"group": 65533},
])
def test_any_difference_makes_a_file_stale(found, change):
    where, files = found
    wanted = {"content": "KEY='value'\n", "mode": "0600", "owner": ME, "group": MY_GROUP, **change}
    assert stale(files, f"{where}/app.env", **wanted)


def test_a_missing_path_is_stale(found):
    where, files = found
    assert stale(files, f"{where}/missing.env", content="", mode="0600", owner=ME, group=MY_GROUP)
    assert stale(files, f"{where}/missing", mode="0750", owner=ME, group=MY_GROUP)
    assert stale([], f"{where}/data", mode="0750", owner=ME, group=MY_GROUP)


def test_a_directory_is_judged_by_kind_mode_and_owner(found):
    where, files = found
    assert not stale(files, f"{where}/data", mode="0750", owner=ME, group=MY_GROUP)
    assert stale(files, f"{where}/data", mode="0755", owner=ME, group=MY_GROUP)
    # A file where a directory is wanted (no content given): stale.
    assert stale(files, f"{where}/app.env", mode="0600", owner=ME, group=MY_GROUP)


def test_content_in_non_ascii_is_compared_as_utf8(tmp_path):
    (tmp_path / "f").write_text("Café\n", encoding="utf-8")
    (tmp_path / "f").chmod(0o644)
    files = find(tmp_path)
    assert not stale(files, f"{tmp_path}/f", content="Café\n", mode="0644", owner=ME, group=MY_GROUP)
