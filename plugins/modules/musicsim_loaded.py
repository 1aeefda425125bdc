#!/usr/bin/python
"""musicsim_loaded: which services run another configuration than their
files, after a run was cut off between a file written and its handler."""

DOCUMENTATION = r"""
module: musicsim_loaded
short_description: Tell which services have not loaded their configuration files yet
description:
  - A handler runs at the end of a play. A run cut off before it (a laptop
    closed, an SSH session dropped, Ctrl-C) leaves the file written and the
    service on its old configuration; the next run finds the file right,
    notifies nothing, and the service keeps the old one for good.
  - With O(state=recorded) (a handler of the role, after the ones that
    restart or reload), the module records the checksum of each service's
    files, as the service has now loaded them. Services of the record not
    given keep their entry. With O(state=compared) (a task
    of the role), it returns the services whose files differ from that
    record, so that the role notifies their handlers again.
  - A file that does not exist counts as such; a service with no record yet
    is outdated as soon as one of its files exists.
options:
  record:
    description: The JSON file the records are kept in (one per role).
    type: path
    required: true
  services:
    description: Each service (the name of its handler) and the files it reads.
    type: dict
    required: true
  state:
    description: Compare the files with the record, or record them as loaded.
    type: str
    choices: [compared, recorded]
    default: compared
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

RETURN = r"""
outdated:
  description: The services whose files differ from what they last loaded (O(state=compared)).
  type: list
  elements: str
  returned: always
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


class NotAFile(Exception):
    """A path that is there but cannot be read as a file."""


def checksums(paths):
    """Each path's SHA-256, or None where there is no file."""
    found = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                found[path] = hashlib.sha256(handle.read()).hexdigest()
        except FileNotFoundError:
            found[path] = None
        except OSError as error:
            raise NotAFile(f"{path}: {error.strerror}") from error
    return found


def outdated(services, record):
    """The services whose files now differ from their record."""
    names = []
    for name, paths in sorted(services.items()):
        now = checksums(paths)
        if name in record:
            if record[name] != now:
                names.append(name)
        elif any(digest is not None for digest in now.values()):
            names.append(name)
    return names


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {}
    except ValueError:
        # A record cut off half-written: nothing is known to be loaded.
        return {}
    return record if isinstance(record, dict) else {}


def write_record(path, record):
    """Replace the record at once (a cut-off run leaves the old or the new)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".musicsim_loaded.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    # The checksums of files that may hold secrets: root's alone.
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "record": {"type": "path", "required": True},
            "services": {"type": "dict", "required": True},
            "state": {"type": "str", "choices": ["compared", "recorded"], "default": "compared"},
        },
        supports_check_mode=True,
    )
    services = module.params["services"]
    for name, paths in services.items():
        if not isinstance(paths, list) or not all(isinstance(path, str) and path.startswith("/") for path in paths):
            module.fail_json(msg=f"services: {name!r} must be a list of absolute paths, got {paths!r}")
    path = module.params["record"]
    record = read_record(path)

    try:
        if module.params["state"] == "compared":
            module.exit_json(changed=False, outdated=outdated(services, record))
        new = {**record, **{name: checksums(paths) for name, paths in services.items()}}
    except NotAFile as error:
        module.fail_json(msg=f"services: {error}")
    changed = new != record
    if changed and not module.check_mode:
        write_record(path, new)
    module.exit_json(changed=changed, outdated=[])


if __name__ == "__main__":
    main()
