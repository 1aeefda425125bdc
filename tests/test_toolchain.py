"""The installed toolchain matches what the project declares."""

import json
import re
import subprocess
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _installed_collections():
    out = subprocess.run(["ansible-galaxy", "collection", "list", "--format", "json"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    found = {}
    for collections in json.loads(out).values():
        for name, info in collections.items():
            found.setdefault(name, info["version"])
    return found


def test_installed_collections_satisfy_requirements():
    wanted = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    installed = _installed_collections()
    for item in wanted:
        assert item["name"] in installed, f"{item['name']} is not installed"
        version = Version(installed[item["name"]])
        spec = SpecifierSet(item["version"].replace(" ", ""))
        assert version in spec, f"{item['name']} {version} does not satisfy {spec}"


def test_every_collection_used_is_declared():
    """A module from a collection missing in requirements.yml fails here."""
    declared = {c["name"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    declared.add("ansible.builtin")
    used = set()
    fqcn = re.compile(r"^\s*(?:- )?([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:", re.MULTILINE)
    # Tasks and handlers only: a role's defaults may have dotted keys of
    # their own (kernel.yama.ptrace_scope).
    for path in list(ROOT.glob("roles/*/tasks/**/*.yml")) + list(ROOT.glob("roles/*/handlers/*.yml")) + \
            list(ROOT.glob("playbooks/*.yml")) + \
            list(ROOT.glob("molecule/*/*.yml")) + list(ROOT.glob("tests/**/*.yml")) + [ROOT / "site.yml"]:
        used.update(fqcn.findall(path.read_text()))
    assert used, "no module found: the pattern is wrong"
    assert used <= declared, f"not in requirements.yml: {sorted(used - declared)}"


def test_python_requirements_are_pinned_and_installed():
    from importlib.metadata import version

    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert "==" in line, f"not pinned: {line}"
        name, pinned = line.split("==")
        name = name.split("[")[0]
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"


def _locked(here_only=False):
    """Name -> version of every package of requirements.lock (with
    here_only, those whose environment marker holds on this machine)."""
    from packaging.markers import Marker

    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)(?: ; ([^\\\n]+))?", (ROOT / "requirements.lock").read_text(),
                      re.MULTILINE)
    return {name.split("[")[0].lower().replace("_", "-"): pinned for name, pinned, marker in pins
            if not (here_only and marker and not Marker(marker.strip()).evaluate())}


def test_the_lock_holds_every_requirement_at_its_pin_with_hashes():
    """requirements.lock was made from requirements.txt as it is (`make lock`)."""
    locked = _locked()
    lock = (ROOT / "requirements.lock").read_text()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, pinned = line.split("==")
        name = name.split("[")[0].lower().replace("_", "-")
        assert locked.get(name) == pinned, f"{name}: {pinned} in requirements.txt, {locked.get(name)} in the lock"
    entries = re.split(r"\n(?=\S)", lock.strip())
    assert all("--hash=sha256:" in entry for entry in entries if not entry.startswith("#")), "an entry has no hash"


def test_every_locked_package_is_installed_at_its_version():
    """The dependencies of dependencies too: nothing floats."""
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in _locked(here_only=True).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        assert installed == pinned, f"{name}: installed {installed}, locked {pinned}"
