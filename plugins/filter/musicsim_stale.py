"""musicsim_stale: whether a path needs the file module (or template,
or copy) to run, judged from one `ansible.builtin.find` over its directory.

Most runs change nothing, and a file or directory left as it is still costs
its module a round trip to the host (a template or copy: two module runs,
stat then file, and its temporary directory made and removed). One find
reads a whole directory at once; the tasks then run only where this filter
says something differs. It errs one way only: anything it cannot confirm (a path
not found, a content not given for a file) counts as stale, so the module
runs and decides as before.
"""

import hashlib


def _matches(wanted, name, number):
    wanted = str(wanted)
    return wanted == name or wanted == str(number)


def musicsim_stale(found, path, content=None, mode=None, owner="root", group="root"):
    """True unless `found` (the `files` of a find, with get_checksum for
    files) holds `path` with this mode, owner and group (a name or an id)
    and, for a file, this content (the text the task would write)."""
    entry = next((f for f in found if f.get("path") == path), None)
    if entry is None:
        return True
    if mode is not None and entry.get("mode") != str(mode):
        return True
    if not _matches(owner, entry.get("pw_name"), entry.get("uid")):
        return True
    if not _matches(group, entry.get("gr_name"), entry.get("gid")):
        return True
    if content is None:
        return not entry.get("isdir", False)
    checksum = hashlib.sha1(str(content).encode("utf-8")).hexdigest()
    return entry.get("checksum") != checksum


class FilterModule:
    """Filters of this project, for every role (ansible.cfg and Molecule's
    configuration both point filter_plugins here)."""

    def filters(self):
        return {"musicsim_stale": musicsim_stale}
