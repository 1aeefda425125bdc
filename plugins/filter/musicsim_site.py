"""The site's lists, derived from what each role declares it owns
(roles/<role>/meta/site.yml, loaded by plugins/vars/musicsim_roles.py as
site_roles) and which roles each inventory group runs (site_role_groups).

Used by group_vars/all/main.yml: a container, a route, a scrape target or
a path to back up is written once, in the role that owns it.

A role turned off (`<role>_enabled: false` for the machine of its group)
owns nothing: no container is expected, no route or target leads to it,
nothing of it is backed up (its data stays on the disk, and in the
snapshots made before).
"""

from ansible.module_utils.parsing.convert_bool import boolean


def musicsim_roles_off(role_groups, groups, hostvars):
    """The roles turned off on the machine of their group."""
    machines = {}  # each machine's variables, read once (a read costs ms)
    off = []
    for group, names in role_groups.items():
        for machine in groups.get(group, [])[:1]:
            if machine not in machines:
                machines[machine] = hostvars[machine]
            off.extend(name for name in names
                       if not boolean(machines[machine].get(f"{name}_enabled", True), strict=False))
    return off


def musicsim_roles_of(role_groups, groups, off=()):
    """The roles a machine in these inventory groups runs, each once, in
    the order of site.yml's plays; those in `off` left out."""
    roles = []
    for group, names in role_groups.items():
        if group in groups:
            roles.extend(name for name in names if name not in roles and name not in off)
    return roles


def musicsim_declared(role_groups, declarations, key, off=()):
    """{group: [every item of `key` the group's roles declare]}, roles in
    `off` and groups whose roles declare none left out."""
    by_group = {}
    for group, names in role_groups.items():
        items = [item for name in names if name not in off for item in declarations.get(name, {}).get(key, [])]
        if items:
            by_group[group] = items
    return by_group


def musicsim_per_machine(by_group, groups):
    """[{host, name}] for every item of every group, on each machine of
    that group."""
    return [{"host": machine, "name": name}
            for group, names in by_group.items()
            for machine in groups.get(group, [])
            for name in names]


def _where(item, group, addresses):
    # A group's services are reached at its machine's LAN address when the
    # inventory gives one (they are then published there), else by
    # container name on the shared network.
    return addresses.get(group) or item["container"]


def musicsim_routes(routes, declared, addresses):
    """The site's routes, each with its upstream and group: a route that
    names no upstream takes the one of the role route of that name (its
    container, or its group's LAN address, and port), and its probe path
    unless the route gives one. A route no role declares is left as it is
    (the proxy's checks then say it has no upstream)."""
    resolved = []
    for route in routes:
        route = dict(route)
        if "upstream" not in route:
            for group, items in declared.items():
                for item in items:
                    if item["name"] == route.get("name"):
                        route["upstream"] = {"host": _where(item, group, addresses), "port": item["port"]}
                        route.setdefault("group", group)
                        if "probe_path" in item:
                            route.setdefault("probe_path", item["probe_path"])
        resolved.append(route)
    return resolved


def musicsim_scrape_jobs(declared, groups, addresses):
    """A Prometheus job for every target the roles declare, on the machine
    of the group that runs them (one per group: a job's name is unique),
    labelled with that machine."""
    return [{"name": item["name"],
             "targets": [f"{_where(item, group, addresses)}:{item['port']}"],
             "labels": {"host": machine}}
            for group, items in declared.items()
            for machine in groups.get(group, [])[:1]
            for item in items]


class FilterModule:
    """The site's lists from the roles' declarations."""

    def filters(self):
        return {
            "musicsim_roles_off": musicsim_roles_off,
            "musicsim_roles_of": musicsim_roles_of,
            "musicsim_declared": musicsim_declared,
            "musicsim_per_machine": musicsim_per_machine,
            "musicsim_routes": musicsim_routes,
            "musicsim_scrape_jobs": musicsim_scrape_jobs,
        }
