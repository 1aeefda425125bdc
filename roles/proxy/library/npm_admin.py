#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: musicsim-infra contributors; MIT License (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: npm_admin
short_description: Make sure nginx-proxy-manager has its admin, with the password from the vault
description:
  - On a fresh nginx-proxy-manager, creates the first admin user.
  - From 2.13 there is no default user; while none exists, the first one is
    made without a token (POST /api/users).
  - Before 2.13 the image starts with admin@example.com / changeme; that user
    is given the declared email, name and password at once, so no default
    password is left behind.
  - Once set up, only checks that the declared credentials log in, and fails
    (without changing anything) when they do not.
options:
  url:
    description: Base URL of the admin API.
    type: str
    default: http://127.0.0.1:81/api
  email:
    description: The admin's email, which is also the login.
    type: str
    required: true
  password:
    description: The admin's password (at least 8 characters).
    type: str
    required: true
  name:
    description: The admin's full name.
    type: str
    default: Administrator
  wait:
    description: Seconds to wait for the API to answer (none in check mode, which starts no container).
    type: int
    default: 60
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Make sure the proxy has its admin
  npm_admin:
    email: admin@example.org
    password: "{{ vault_proxy_admin_password }}"
  no_log: true
"""

RETURN = r"""
version:
  description: The server's version, major.minor.revision.
  returned: when the API answered
  type: str
action:
  description: created (2.13+ first user), replaced-default (older default admin), or none.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.npm_api import NpmClient, NpmError, version_tuple

DEFAULT_ADMIN = ("admin@example.com", "changeme")


def wait_for_api(client, seconds):
    deadline = time.time() + seconds
    while True:
        try:
            return client.status()
        except NpmError as error:
            if error.status is not None or time.time() > deadline:
                raise
            time.sleep(2)


def logs_in(client, identity, secret):
    """A token for these credentials, or None when the server refuses them."""
    try:
        return client.login(identity, secret)
    except NpmError as error:
        if error.status not in (400, 401):
            raise
        return None


def ensure_admin(client, params, check_mode):
    """Return (changed, action, version)."""
    # A preview waits for nothing: check mode starts no container, so an API
    # that does not answer now will not answer later in the same run.
    status = wait_for_api(client, 0 if check_mode else params["wait"])
    version = ".".join(str(part) for part in version_tuple(status))
    # The declared credentials first: servers before 2.13 do not report
    # "setup" at all, so only a login tells that the admin is in place.
    if logs_in(client, params["email"], params["password"]):
        return False, "none", version

    profile = {"name": params["name"], "nickname": params["name"].split()[0], "email": params["email"]}
    token = logs_in(client, *DEFAULT_ADMIN)
    if token:
        # The default admin with the default password (before 2.13, or a
        # server upgraded from then): it becomes the declared admin at once.
        if not check_mode:
            me = client.send("GET", "/users/me", None, token)
            client.send("PUT", "/users/%d" % me["id"], profile, token)
            client.send("PUT", "/users/%d/auth" % me["id"],
                        {"type": "password", "current": DEFAULT_ADMIN[1], "secret": params["password"]}, token)
        return True, "replaced-default", version
    if status.get("setup") is False:
        # 2.13 and later: no user yet, the first one is made without a token.
        if not check_mode:
            body = dict(profile, roles=["admin"], is_disabled=False,
                        auth={"type": "password", "secret": params["password"]})
            client.send("POST", "/users", body, None)
        return True, "created", version
    raise NpmError("POST", "/tokens", 401,
                   "nginx-proxy-manager is already set up, but %s does not log in with the password "
                   "from the vault. Set the vault password to the one in use, or change it in the "
                   "admin UI first." % params["email"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:81/api"),
            email=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            name=dict(type="str", default="Administrator"),
            wait=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    if len(module.params["password"]) < 8:
        module.fail_json(msg="password: nginx-proxy-manager needs at least 8 characters")
    client = NpmClient(module.params["url"])
    try:
        changed, action, version = ensure_admin(client, module.params, module.check_mode)
    except NpmError as error:
        if module.check_mode and error.status is None:
            # A preview of a host whose proxy is not running yet.
            module.exit_json(changed=True, action="created", msg="the API does not answer yet: %s" % error)
        module.fail_json(msg=str(error), status=error.status)
    module.exit_json(changed=changed, action=action, version=version)


if __name__ == "__main__":
    main()
