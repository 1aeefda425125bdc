"""Secrets stay secret: the tasks that use a vault value hide it, and the
repository holds no secret in clear text outside the throwaway values of
the local demo and the tests.

A secret is every role variable whose argument spec says `no_log: true`
(each one comes from a `vault_*` variable in group_vars/all/main.yml)."""

import json
import re

import pytest
import yaml

from conftest import ROOT

SPECS = sorted(ROOT.glob("roles/*/meta/argument_specs.yml"))
SECRETS = sorted({name for spec in SPECS
                  for entry in yaml.safe_load(spec.read_text())["argument_specs"].values()
                  for name, option in entry.get("options", {}).items()
                  if option.get("no_log")})
TASK_FILES = sorted(list(ROOT.glob("roles/*/tasks/*.yml")) + list(ROOT.glob("roles/*/handlers/*.yml")))
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if "block" in node:
            for key in ("block", "rescue", "always"):
                yield from _tasks(node.get(key, []))
        else:
            yield node


def _printed_secrets(text):
    """Secrets whose value a template expression prints ({{ }}), not a
    condition on it ({% if %}) nor its length."""
    printed = " ".join(re.findall(r"\{\{.*?\}\}", text, re.DOTALL))
    printed = re.sub(r"\b\w+\s*\|\s*length\b", "", printed)
    return {name for name in SECRETS if re.search(rf"\b{name}\b", printed)}


# Templates that print a secret, by role and file name.
PRINTING_TEMPLATES = {(p.parts[-3], p.name): _printed_secrets(p.read_text())
                      for p in ROOT.glob("roles/*/templates/*.j2")}


def _values_used(task, role):
    """Secrets whose value the task's output could show: printed by a
    template expression of its arguments, loop or vars, or by a template it
    renders with a lookup. An assert's condition is evaluated, never
    printed: only its message counts."""
    module = next((key for key in task if "." in key), None)
    if module == "ansible.builtin.assert":
        shown = task[module].get("fail_msg", "")
    else:
        shown = {k: v for k, v in task.items() if k not in ("name", "when", "no_log", "diff")}
    text = json.dumps(shown)
    used = _printed_secrets(text)
    for template in re.findall(r"lookup\('ansible\.builtin\.template', '([^']+)'\)", text):
        used |= PRINTING_TEMPLATES.get((role, template), set())
    return used


def test_there_are_secrets_to_check():
    assert "megapi_db_password" in SECRETS and "monitoring_discord_webhook_url" in SECRETS
    assert len(SECRETS) >= 15


def test_every_value_from_the_vault_is_a_secret_of_its_role():
    """The other direction: a role variable wired from a vault_* value is
    marked no_log in its argument spec, so the checks below cover it."""
    wiring = (ROOT / "group_vars/all/main.yml").read_text()
    wired = set(re.findall(r"^(\w+): .*\bvault_\w+", wiring, re.MULTILINE))
    assert wired, "no variable wired from the vault: the pattern is wrong"
    role_vars = {name for name in wired if not name.startswith(("site_", "_"))}
    assert role_vars - set(SECRETS) == set()


def test_every_secret_comes_from_the_vault():
    wiring = (ROOT / "group_vars/all/main.yml").read_text()
    for name in SECRETS:
        match = re.search(rf"^{name}: (.*)$", wiring, re.MULTILINE)
        assert match, f"{name} is not wired in group_vars/all/main.yml"
        assert "vault_" in match.group(1) or re.search(r"\{\{ \w+ \}\}", match.group(1)), f"{name}: {match.group(1)}"


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: str(p.relative_to(ROOT / "roles")))
def test_a_task_that_uses_a_secret_hides_it(path):
    for task in _tasks(yaml.safe_load(path.read_text()) or []):
        used = _values_used(task, path.parts[-3])
        if used:
            assert task.get("no_log") is True, f"{task.get('name')}: uses {sorted(used)} without no_log"


def _role_vars(role):
    """The role's own variables (vars/ and defaults/), as text by name."""
    found = {}
    for kind in ("defaults", "vars"):
        path = ROOT / "roles" / role / kind / "main.yml"
        if path.exists():
            found.update({name: json.dumps(value) for name, value in (yaml.safe_load(path.read_text()) or {}).items()})
    return found


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: str(p.relative_to(ROOT / "roles")))
def test_no_task_passes_a_secret_in_its_environment(path):
    """Ansible prints a task's environment at -vvv (in the command it runs
    on the host), no_log or not: a secret goes in by a file or stdin."""
    role_vars = _role_vars(path.parts[-3])
    for task in _tasks(yaml.safe_load(path.read_text()) or []):
        text = json.dumps(task.get("environment", ""))
        for _ in range(3):  # the role's variables it names, and theirs
            text += " ".join(role_vars[name] for name in set(re.findall(r"\b\w+\b", text)) if name in role_vars)
        assert not _printed_secrets(text), f"{task.get('name')}: {sorted(_printed_secrets(text))} in its environment"


@pytest.mark.parametrize("path", sorted(ROOT.glob("roles/*/templates/*.j2")), ids=lambda p: str(p.relative_to(ROOT / "roles")))
def test_a_template_with_a_secret_is_written_without_diff_into_a_private_file(path):
    used = PRINTING_TEMPLATES[(path.parts[-3], path.name)]
    role = path.parts[-3]
    tasks = [t for f in (ROOT / "roles" / role / "tasks").glob("*.yml") for t in _tasks(yaml.safe_load(f.read_text()) or [])]
    if not used or any(f"'{path.name}'" in json.dumps(t) for t in tasks if "ansible.builtin.template" not in t):
        # No secret in it, or rendered by a lookup: the task test covers that task.
        return
    # The task names the template itself, or the file it makes in a loop;
    # or the role hands the file to compose_stack's env files step.
    writers = [t for t in tasks if "ansible.builtin.template" in t
               and (path.name in json.dumps(t) or f'"{path.name.removesuffix(".j2")}"' in json.dumps(t))]
    if any(path.name.removesuffix(".j2") in t.get("vars", {}).get("compose_stack_env_files", []) for t in tasks):
        writers += [t for t in _tasks(yaml.safe_load((ROOT / "roles/compose_stack/tasks/project.yml").read_text()))
                    if "compose_stack_env_files" in json.dumps(t.get("loop", ""))]
    assert writers, f"no task writes {path.name}"
    for task in writers:
        assert task.get("diff") is False, f"{task['name']}: diff of a template with {sorted(used)}"
        assert task.get("no_log") is True, f"{task['name']}: no no_log"
        assert task["ansible.builtin.template"]["mode"] == "0600", f"{task['name']}: mode"


# --- Nothing secret committed -----------------------------------------------------------
# Files that may hold values standing in for secrets: the demo inventory and
# the test scenarios. Each such value says it is a throwaway.
THROWAWAY_PLACES = ("inventories/local/", "molecule/", "tests/")
SECRET_LINE = re.compile(r"^\s*(vault_\w+|\w*(password|secret|token|api_key)\w*):\s*(\S.*)$", re.IGNORECASE)


def _committed_files():
    import subprocess
    # Committed, and new files not ignored: a change is scanned before it lands.
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if line]


def test_no_private_key_is_committed():
    for path in _committed_files():
        if path.is_file() and path.suffix not in (".png", ".jpg"):
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY-----" not in text or "BEGIN" not in text.split("PRIVATE KEY-----")[0][-40:], path


def test_every_secret_value_in_a_yaml_file_is_empty_a_reference_or_a_throwaway():
    found = []
    for path in _committed_files():
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        relative = str(path.relative_to(ROOT))
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SECRET_LINE.match(line)
            if not match:
                continue
            value = match.group(3).split(" #")[0].strip().strip("'\"")
            if value in ("", "[]", "{}", "null") or "{{" in value or value.startswith(("-", ">", "|")):
                continue
            if not re.fullmatch(r"[^\s]+", value) or value.lower() in ("true", "false"):
                continue
            # Where a secret is read from, and settings named like one.
            if value.startswith("/") or re.search(r"(_file|_algorithm|_minutes|^update_password)$", match.group(1),
                                                  re.IGNORECASE):
                continue
            if "throwaway" in value and relative.startswith(THROWAWAY_PLACES):
                continue
            found.append(f"{relative}:{number}: {match.group(1)}")
    assert found == [], "clear-text secret values:\n" + "\n".join(found)
