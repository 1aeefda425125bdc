"""The service image manifest, its build folders, checks and documentation
agree: an image cannot be added without a recipe, a check and a row in the
table of what it proves."""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "images"
CHECKS = ROOT / "molecule" / "images" / "checks"
MANIFEST = yaml.safe_load((IMAGES / "images.yml").read_text())["images"]
KINDS = {"real", "stand-in"}
UPSTREAM = ROOT.parent / "shared" / "upstream"


@pytest.mark.parametrize("name", MANIFEST)
def test_entry_is_complete(name):
    entry = MANIFEST[name]
    assert {"tag", "official", "kind"} <= set(entry) <= {"tag", "official", "kind", "base", "context", "args",
                                                         "upstream", "revision", "dockerfile", "build_base",
                                                         "dockerfile_args"}, name
    if "dockerfile" in entry:
        # A role's own Dockerfile, built on the folder's image from the
        # upstream tree at a pinned revision.
        assert (ROOT / entry["dockerfile"]).is_file(), (name, entry["dockerfile"])
        assert re.fullmatch(r"musicsim-test/[a-z0-9-]+:[0-9][\w.-]*", entry["build_base"]), name
        assert entry["upstream"].endswith(".bundle") and re.fullmatch(r"[0-9a-f]{40}", entry["revision"]), name
        role_dockerfile = (ROOT / entry["dockerfile"]).read_text()
        for arg in entry.get("dockerfile_args", {}):
            assert re.search(rf"^ARG {arg}$", role_dockerfile, re.MULTILINE), (name, arg)
    else:
        assert "dockerfile_args" not in entry, name
    assert entry.get("base", "trixie") in {"trixie", "bookworm"}, name
    if "upstream" in entry:
        # A snapshot of upstream's source, beside the clone as CI lays it.
        assert (UPSTREAM / entry["upstream"]).is_file(), (name, entry["upstream"])
    assert entry["kind"] in KINDS, name
    # Local tags only, each pinned: never a registry name, never latest.
    assert re.fullmatch(r"musicsim-test/[a-z0-9-]+:[0-9][\w.-]*", entry["tag"]), entry["tag"]


@pytest.mark.parametrize("name", [name for name, entry in MANIFEST.items() if "revision" in entry])
def test_built_from_the_commit_its_tag_names(name):
    # The tag names the commit built (musicsim-test/web:4a7c579), so a new
    # revision is a new tag in every inventory that runs it.
    entry = MANIFEST[name]
    assert entry["tag"].rsplit(":", 1)[1] == entry["revision"][:7], name
    for base in [entry.get("build_base")] if "build_base" in entry else []:
        assert base.rsplit(":", 1)[1] == entry["revision"][:7], name


def test_the_front_end_built_is_the_one_the_site_pins():
    # The web role's pinned commit is in the snapshot: the tests build what
    # a site runs. (megapi's snapshot is upstream's tree at the role's pin,
    # re-committed with generated data: ../shared/upstream/README.md.)
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    assert MANIFEST["web"]["revision"] == versions["sources"]["web"]["revision"]


@pytest.mark.parametrize("name", MANIFEST)
def test_built_on_the_service_base(name):
    entry = MANIFEST[name]
    dockerfile = (IMAGES / entry.get("context", name) / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    # A recipe built on more than one base takes it as ARG BASE, whose
    # default is Debian 13's; build_images.py gives the entry's.
    default = re.search(r"^ARG BASE=(\S+)", dockerfile, re.MULTILINE)
    froms = [default.group(1) if default and f == "${BASE}" else f for f in froms]
    # Build stages too: every layer shared by all images comes from the base.
    assert froms and set(froms) == {"musicsim-test/service-base:trixie"}, name
    if "base" in entry:
        assert default, f"{name} names a base: its recipe takes ARG BASE"
    for arg in entry.get("args", {}):
        assert re.search(rf"^ARG {arg}=", dockerfile, re.MULTILINE), (name, arg)


@pytest.mark.parametrize("name", MANIFEST)
def test_checked_with_its_tag(name):
    compose = yaml.safe_load((CHECKS / name / "compose.yml").read_text())
    service = compose["services"][name]
    assert service["image"] == MANIFEST[name]["tag"]
    assert service["container_name"] == f"check-{name}"
    assert "healthcheck" in service and "mem_limit" in service


@pytest.mark.parametrize("name", MANIFEST)
def test_documented(name):
    table = (IMAGES / "README.md").read_text()
    assert f"| `{MANIFEST[name]['tag']}` for `{MANIFEST[name]['official']}` |" in table


def test_no_stray_folders():
    folders = {p.name for p in IMAGES.iterdir() if p.is_dir()}
    assert folders == {entry.get("context", name) for name, entry in MANIFEST.items()}
    assert {p.name for p in CHECKS.iterdir() if p.is_dir()} == set(MANIFEST)
