"""versions.yml, the one place of every version the site runs, against the
roles that read it and the Renovate patterns that update it: a pin cannot
be added to a role without the manifest, nor to the manifest without
Renovate finding it."""

import json
import re

import pytest
import yaml

from conftest import ROOT

VERSIONS_TEXT = (ROOT / "versions.yml").read_text()
VERSIONS = yaml.safe_load(VERSIONS_TEXT)
RENOVATE = json.loads((ROOT / "renovate.json").read_text())
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "defaults" / "main.yml").is_file())
DEFAULTS = {name: value for role in ROLES
            for name, value in (yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}).items()}
READS = re.compile(r"\bsite_versions\.(?P<path>[a-z_.]+)\b")
# The role variables that pin a version: the images, the applications'
# repositories and revisions, the Python packages of a built image.
PINS = {name for name, value in DEFAULTS.items()
        if (name.endswith("_image") and value) or name.endswith(("_version", "_pip_packages"))
        or (name.endswith("_repo_url") and name.replace("_repo_url", "_version") in DEFAULTS)}


def manifest_paths(node=VERSIONS, prefix=""):
    """Every leaf of versions.yml, by dotted path (a list is one leaf)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from manifest_paths(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip(".")


def lookup(path):
    node = VERSIONS
    for key in path.split("."):
        node = node[key]
    return node


def test_the_pins_are_found():
    """The test below is not empty: the images, sources and packages."""
    assert {"proxy_image", "megapi_version", "megapi_repo_url", "mlflow_pip_packages"} <= PINS


@pytest.mark.parametrize("name", sorted(PINS))
def test_every_pin_of_a_role_is_read_from_the_manifest(name):
    value = DEFAULTS[name]
    match = READS.search(str(value))
    assert match, f"{name} is {value!r}: pin it in versions.yml and read it from there"
    assert match["path"] in set(manifest_paths()), f"{name} reads {match['path']}, which versions.yml lacks"


def test_every_entry_of_the_manifest_is_read_by_a_role():
    read = {READS.search(str(DEFAULTS[name]))["path"] for name in PINS}
    # A source's branch is Renovate's: where it looks for newer commits.
    renovate_only = {f"sources.{source}.branch" for source in VERSIONS["sources"]}
    assert set(manifest_paths()) - read - renovate_only == set()


@pytest.mark.parametrize("key", VERSIONS["images"])
def test_every_image_is_pinned(key):
    image = VERSIONS["images"][key]
    match = re.fullmatch(r"(?P<name>[a-z0-9][a-z0-9./_-]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
                         r"(@sha256:[a-f0-9]{64})?", image)
    assert match, image
    assert match["tag"] != "latest", image


def test_minio_is_pinned_by_digest():
    # Its last community image, archived: no fixes will come, and only the
    # digest keeps its tag from being moved (roles/megapi/README.md, "MinIO,
    # frozen").
    assert re.search(r":RELEASE\.[0-9TZ-]+@sha256:[a-f0-9]{64}$", VERSIONS["images"]["megapi_minio"])


@pytest.mark.parametrize("source", VERSIONS["sources"])
def test_every_source_is_a_full_commit_of_a_branch(source):
    entry = VERSIONS["sources"][source]
    assert set(entry) == {"url", "branch", "revision"}
    assert re.fullmatch(r"[a-f0-9]{40}", entry["revision"])


def test_mlflow_is_installed_at_its_image_s_version_never_pinned_apart():
    """The derived image reinstalls mlflow (for its auth extra): at the
    base image's tag, read by the role, so the two cannot drift apart."""
    assert not [p for p in VERSIONS["packages"]["mlflow"] if re.match(r"mlflow\b", p)]
    assert "'mlflow[auth]==' ~ mlflow_base_image" in DEFAULTS["mlflow_pip_packages"]


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "roles").glob("*/files/Dockerfile")), ids=lambda p: p.parts[-3])
def test_no_dockerfile_pins_a_base_of_its_own(dockerfile):
    """Each role gives its Dockerfile the base from versions.yml."""
    text = dockerfile.read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE) and all(
        base == "${BASE_IMAGE}" for base in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)), dockerfile
    assert re.search(r"^ARG BASE_IMAGE$", text, re.MULTILINE), f"{dockerfile}: ARG BASE_IMAGE with no default"


def renovate_finds():
    """What Renovate's patterns extract from versions.yml, by datasource.
    They are RE2 (ECMAScript named groups); Python writes those (?P<...>)."""
    found = {}
    for manager in RENOVATE["customManagers"]:
        assert manager["managerFilePatterns"] == ["/^versions\\.yml$/"]
        for pattern in manager["matchStrings"]:
            python = re.compile(pattern.replace("(?<", "(?P<"))
            for match in python.finditer(VERSIONS_TEXT):
                found.setdefault(manager["datasourceTemplate"], []).append(match.groupdict())
    return found


def test_renovate_finds_every_image_with_its_tag_and_digest():
    expected = []
    for image in VERSIONS["images"].values():
        name_tag, _, digest = image.partition("@")
        name, tag = name_tag.rsplit(":", 1)
        expected.append({"depName": name, "currentValue": tag, "currentDigest": digest or None})
    assert renovate_finds()["docker"] == expected


def test_renovate_finds_every_package():
    expected = [dict(zip(["depName", "currentValue"], re.fullmatch(r"([^\[=]+)(?:\[[a-z,]+\])?==(.+)", pin).groups()))
                for pins in VERSIONS["packages"].values() for pin in pins]
    assert renovate_finds()["pypi"] == expected


def test_renovate_finds_every_source_at_its_revision():
    expected = [{"depName": s["url"], "currentValue": s["branch"], "currentDigest": s["revision"]}
                for s in VERSIONS["sources"].values()]
    assert renovate_finds()["git-refs"] == expected


def test_renovate_s_rules_name_pins_that_exist():
    names = {found["depName"] for finds in renovate_finds().values() for found in finds}
    for rule in RENOVATE["packageRules"]:
        assert set(rule["matchDepNames"]) <= names, rule["description"]
