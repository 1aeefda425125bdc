"""Every role has the shape the project promises, and its docs stay true."""

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


@pytest.mark.parametrize("role", ROLES)
def test_role_has_spec_readme_and_scenario(role):
    base = ROOT / "roles" / role
    assert (base / "meta/argument_specs.yml").is_file()
    assert (base / "README.md").is_file()
    if "main" in _load(base / "meta/argument_specs.yml")["argument_specs"]:
        assert (ROOT / "molecule" / role / "molecule.yml").is_file(), f"no Molecule scenario for {role}"
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
