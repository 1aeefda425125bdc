"""Every role has the shape the project promises, and its docs stay true."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def _load(path):
    return yaml.safe_load(path.read_text()) or {}


def _options(role):
    """The options of every entry point of the role."""
    specs = _load(ROOT / "roles" / role / "meta/argument_specs.yml")["argument_specs"]
    return {name: spec for entry in specs.values() for name, spec in entry.get("options", {}).items()}


def _playbook_roles(path):
    """The roles a playbook applies (its plays' roles), following imports."""
    roles = set()
    for play in yaml.safe_load(path.read_text()) or []:
        if "ansible.builtin.import_playbook" in play:
            roles |= _playbook_roles((path.parent / play["ansible.builtin.import_playbook"]).resolve())
        for entry in play.get("roles", []):
            roles.add(entry["role"] if isinstance(entry, dict) else entry)
    return roles


def _scenario_roles(scenario):
    """The roles a scenario's converge applies, less those it skips by tag,
    and those of the project's playbooks its plays run (the upgrade
    scenario runs playbooks/upgrade.yml as a user does, as a command)."""
    skipped = (_load(scenario / "molecule.yml").get("provisioner", {}).get("options", {})
               .get("skip-tags", ""))
    run = {name for path in scenario.glob("*.yml")
           for name in re.findall(r"\.\./\.\./playbooks/([\w-]+\.yml)['\"]", path.read_text())}
    return ((_playbook_roles(scenario / "converge.yml") - set(skipped.split(",")))
            | {role for name in run for role in _playbook_roles(ROOT / "playbooks" / name)})


@pytest.mark.parametrize("role", ROLES)
def test_role_has_spec_readme_and_scenario(role):
    base = ROOT / "roles" / role
    assert (base / "meta/argument_specs.yml").is_file()
    assert (base / "README.md").is_file()
    if "main" in _load(base / "meta/argument_specs.yml")["argument_specs"]:
        # A scenario that applies it (its own, or its playbook's: host, app,
        # mlops) and holds its tests.
        scenarios = [s for s in (ROOT / "molecule").iterdir()
                     if role in _scenario_roles(s) and (s / "tests" / f"test_{role}.py").is_file()]
        assert scenarios, f"no Molecule scenario applies {role} and holds tests/test_{role}.py"
    else:
        # Shared steps only (compose_stack): run, and so tested, by the
        # scenarios of the roles that include them.
        users = [p for p in ROOT.glob("roles/*/tasks/*.yml") if f"name: {role}\n" in p.read_text()]
        assert users, f"no role includes {role}'s steps"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_specs_and_readme(role):
    base = ROOT / "roles" / role
    defaults = _load(base / "defaults/main.yml")
    options = _options(role)
    readme = (base / "README.md").read_text()
    for name in defaults:
        assert name.startswith(f"{role}_"), f"{name} lacks the role's prefix"
        assert name in options, f"{name} has no argument spec"
    for name, spec in options.items():
        assert name.startswith(f"{role}_"), f"{name} lacks the role's prefix"
        assert f"`{name}`" in readme, f"{name} is not documented in roles/{role}/README.md"
        assert spec.get("description"), f"{name} has no description"
        if "default" in spec:
            assert defaults.get(name) == spec["default"], f"{name}: default differs from defaults/main.yml"


COMPOSE_TEMPLATES = sorted((ROOT / "roles").glob("*/templates/compose.yaml.j2"))


@pytest.mark.parametrize("template", COMPOSE_TEMPLATES, ids=lambda p: p.parts[-3])
def test_every_service_starts_hardened(template):
    """Each stack's compose file takes the shared hardened start
    (roles/compose_stack/templates/hardened.yaml.j2) once, and every one of
    its services merges it first, before what the service changes."""
    text = template.read_text()
    assert text.count("{% include 'hardened.yaml.j2' %}") == 1
    services = text.split("\nservices:\n", 1)[1]
    services = services.split("\nvolumes:\n", 1)[0].split("\nnetworks:\n", 1)[0]
    blocks = services.split("\n\n")
    assert blocks
    for block in blocks:
        lines = block.strip("\n").splitlines()
        assert lines[0].startswith("  ") and lines[0].endswith(":"), lines[0]
        assert lines[1] == "    <<: *hardened", lines[0]
