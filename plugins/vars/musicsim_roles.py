"""musicsim_roles: what each role brings to the site, known on every machine.

The site's lists (the containers monitoring expects on each machine, what
each machine backs up, what Prometheus scrapes, where the proxy routes)
must know about roles that do not run in the current play, or not on the
current machine: Prometheus on the Pi expects the laptop's containers, the
backup play dumps the databases of the roles that ran before it. A role's
defaults are not visible there, so each role declares what it owns in
`roles/<role>/meta/site.yml`, and this plugin gives every machine, in
every play:

- `site_roles`: each role's declaration, by role name;
- `site_role_groups`: which roles each inventory group runs, in the
  order of the plays site.yml imports (read from those plays);
- `site_role_defaults`: every role's defaults, by variable name, so a
  declaration can name a role's path the way the role resolves it
  (`megapi_project_dir | default(site_role_defaults.megapi_project_dir)`);
- `site_versions`: versions.yml, every version the site runs, which the
  roles' defaults read (`proxy_image: "{{ site_versions.images.proxy }}"`).

group_vars/all/main.yml derives the site's lists from these
(plugins/filter/musicsim_site.py). ansible.cfg (`vars_plugins`) and
Molecule's configuration (`ANSIBLE_VARS_PLUGINS`) point here.
"""

from pathlib import Path

from ansible.inventory.group import Group
from ansible.plugins.vars import BaseVarsPlugin

DOCUMENTATION = """
    name: musicsim_roles
    short_description: every role's declaration of what it owns, for every machine
    description:
      - Loads roles/*/meta/site.yml, roles/*/defaults/main.yml, the plays
        of site.yml and versions.yml, and sets site_roles, site_role_groups,
        site_role_defaults and site_versions for the group all.
"""

PROJECT = Path(__file__).resolve().parents[2]


def _load(loader, path):
    # Trusted as templates, as group_vars files are: a declaration may use
    # Jinja, rendered on the machine that reads it.
    return loader.load_from_file(str(path), cache="all", unsafe=True, trusted_as_template=True) or {}


def _role_name(entry):
    return entry if isinstance(entry, str) else entry.get("role", entry.get("name"))


def role_groups(loader, project=PROJECT):
    """Which roles each group runs: the plays site.yml imports, in order."""
    groups = {}
    for step in _load(loader, project / "site.yml"):
        playbook = step.get("ansible.builtin.import_playbook") or step.get("import_playbook")
        for play in _load(loader, project / playbook) if playbook else []:
            roles = [_role_name(entry) for entry in play.get("roles", [])]
            if roles:
                group = groups.setdefault(play["hosts"], [])
                group.extend(role for role in roles if role not in group)
    return groups


def site_vars(loader, project=PROJECT):
    roles_dir = project / "roles"
    declarations, defaults = {}, {}
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        if (role / "meta" / "site.yml").is_file():
            declarations[role.name] = _load(loader, role / "meta" / "site.yml")
        if (role / "defaults" / "main.yml").is_file():
            defaults.update(_load(loader, role / "defaults" / "main.yml"))
    return {
        "site_roles": declarations,
        "site_role_groups": role_groups(loader, project),
        "site_role_defaults": defaults,
        "site_versions": _load(loader, project / "versions.yml"),
    }


class VarsModule(BaseVarsPlugin):
    """Sets the four variables on the group all, from the project's files,
    read once per run (Ansible asks again for every task)."""

    is_stateless = True
    _site_vars = None

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not any(isinstance(e, Group) and e.name == "all" for e in entities):
            return {}
        if VarsModule._site_vars is None:
            VarsModule._site_vars = site_vars(loader)
        return VarsModule._site_vars
