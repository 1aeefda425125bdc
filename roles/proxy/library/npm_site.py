#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: musicsim-infra contributors; MIT License (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: npm_site
short_description: Make nginx-proxy-manager's proxy hosts, access lists and certificates match a declaration
description:
  - Reads what the server holds and creates what is missing, updates what
    differs and, when I(prune) is on, deletes the proxy hosts that this
    module created earlier (marked in their meta) and that are no longer
    declared. A host made by hand in the UI is left alone unless it serves
    a declared domain: then it is adopted (updated and marked).
  - The API has no upsert; a proxy host is matched on its domain names, an
    access list on its name, a certificate on its domain names.
  - Access lists are created and updated, never deleted (upstream keeps no
    marker on them from 2.13).
  - A certificate that already exists for the same domain names and has not
    expired is reused, never requested again (Let's Encrypt rate limits): a
    host rebuilt from a backup keeps its certificates.
  - Speaks to the server by its version; fields an older server rejects are
    not sent.
  - Logs in again when the token expires; fails with the server's message
    on any 4xx answer.
options:
  url:
    description: Base URL of the admin API.
    type: str
    default: http://127.0.0.1:81/api
  identity:
    description: Login (email) of an admin user.
    type: str
    required: true
  secret:
    description: That user's password.
    type: str
    required: true
  marker:
    description: Key set to true in the meta of every object this module creates.
    type: str
    default: musicsim_managed
  prune:
    description: Delete proxy hosts carrying the marker that are not declared.
    type: bool
    default: true
  access_lists:
    description: Access lists, each with name, clients (address and directive allow/deny), satisfy_any, pass_auth.
    type: list
    elements: dict
    default: []
  certificates:
    description:
      - Shared certificates (a wildcard through a DNS-01 challenge), each with name,
        domain_names, and dns_provider and dns_credentials for DNS-01.
      - Proxy hosts refer to them by name.
    type: list
    elements: dict
    default: []
  proxy_hosts:
    description:
      - Proxy hosts, each with domain_names, forward_scheme, forward_host,
        forward_port, and optionally access_list (a name), certificate (none,
        letsencrypt for one of its own, or the name of a shared certificate),
        ssl_forced, hsts_enabled, hsts_subdomains, http2_support,
        block_exploits, caching_enabled, allow_websocket_upgrade,
        advanced_config, trust_forwarded_proto (2.14 and later).
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Route the site through the proxy
  npm_site:
    identity: admin@example.org
    secret: "{{ vault_proxy_admin_password }}"
    access_lists:
      - name: lan-only
        clients: [{address: 192.168.0.0/16, directive: allow}]
    proxy_hosts:
      - domain_names: [api.example.org]
        forward_host: megapi
        forward_port: 8000
        certificate: letsencrypt
        ssl_forced: true
  no_log: true
"""

RETURN = r"""
created:
  description: Objects created, as "kind domain-or-name".
  returned: always
  type: list
updated:
  description: Objects updated, with the fields that changed.
  returned: always
  type: list
deleted:
  description: Objects deleted.
  returned: always
  type: list
version:
  description: The server's version.
  returned: always
  type: str
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.npm_api import NpmClient, NpmError, version_tuple

# Proxy host fields, with the value upstream gives them when left out.
HOST_FIELDS = {
    "forward_scheme": "http",
    "ssl_forced": False,
    "hsts_enabled": False,
    "hsts_subdomains": False,
    "http2_support": False,
    "block_exploits": True,
    "caching_enabled": False,
    "allow_websocket_upgrade": False,
    "advanced_config": "",
}
# Fields older servers refuse (their schema has additionalProperties false).
HOST_FIELDS_SINCE = {"trust_forwarded_proto": (2, 14, 0)}
# The server answers a certificate request once certbot is done: allow for
# DNS propagation and Let's Encrypt's own checks.
CERTIFICATE_TIMEOUT = 180


class DeclarationError(Exception):
    """The declaration cannot be applied as written (found before any change)."""


def domains(names):
    return sorted(name.lower() for name in names)


def still_valid(certificate):
    """True unless the certificate's expiry is known and past."""
    text = str(certificate.get("expires_on") or "")[:19].replace("T", " ")
    try:
        expires = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return True
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return expires > now


class Site:
    """One run: read the server, work out the changes, apply them unless checking."""

    def __init__(self, client, params, check_mode):
        self.client = client
        self.params = params
        self.check = check_mode
        self.marker = params["marker"]
        self.version = version_tuple(client.status())
        self.warnings = []
        self.created, self.updated, self.deleted = [], [], []
        self.before, self.after = {}, {}

    # --- helpers ---------------------------------------------------------
    def managed(self, item):
        return bool((item.get("meta") or {}).get(self.marker))

    def mark(self, meta):
        return dict(meta or {}, **{self.marker: True})

    def record(self, key, before, after):
        if before is not None:
            self.before[key] = before
        if after is not None:
            self.after[key] = after

    # --- access lists ----------------------------------------------------
    def access_lists(self):
        current = {a["name"]: a for a in self.client.list("access-lists", "items,clients")}
        ids = {name: item["id"] for name, item in current.items()}
        for wanted in self.params["access_lists"]:
            name = wanted["name"]
            body = {
                "name": name,
                "satisfy_any": bool(wanted.get("satisfy_any", True)),
                "pass_auth": bool(wanted.get("pass_auth", False)),
                "clients": clients(wanted.get("clients", [])),
            }
            key = "access list %s" % name
            have = current.get(name)
            if have is None:
                self.created.append(key)
                self.record(key, None, body)
                if self.check:
                    ids[name] = 0
                else:
                    made = self.client.create("access-lists", dict(body, items=[]))
                    ids[name] = made["id"]
                continue
            old = {
                "name": have["name"],
                "satisfy_any": bool(have.get("satisfy_any")),
                "pass_auth": bool(have.get("pass_auth")),
                "clients": clients(have.get("clients") or []),
            }
            if old != body:
                self.updated.append("%s (%s)" % (key, ", ".join(k for k in body if body[k] != old[k])))
                self.record(key, old, body)
                if not self.check:
                    self.client.update("access-lists", have["id"], body)
        return ids

    # --- certificates ----------------------------------------------------
    def certificate_meta(self, extra=None):
        meta = dict(extra or {})
        if self.version < (2, 13, 0):
            # Older servers take the Let's Encrypt account from the request.
            meta.update(letsencrypt_email=self.params["identity"], letsencrypt_agree=True)
        return meta

    def find_certificate(self, certificates, names):
        for cert in certificates:
            if domains(cert.get("domain_names") or []) == domains(names) and still_valid(cert):
                return cert
        return None

    def request_certificate(self, certificates, names, nice_name, meta, key):
        self.created.append(key)
        self.record(key, None, {"domain_names": domains(names)})
        if self.check:
            return 0
        body = {"provider": "letsencrypt", "nice_name": nice_name, "domain_names": names,
                "meta": self.certificate_meta(meta)}
        timeout = CERTIFICATE_TIMEOUT + int((meta or {}).get("propagation_seconds", 0))
        made = self.client.create("certificates", body, timeout=timeout)
        certificates.append(made)
        return made["id"]

    def shared_certificates(self, certificates):
        ids = {}
        for wanted in self.params["certificates"]:
            found = self.find_certificate(certificates, wanted["domain_names"])
            if found:
                ids[wanted["name"]] = found["id"]
                continue
            meta = {"dns_challenge": False}
            if wanted.get("dns_provider"):
                meta = {"dns_challenge": True, "dns_provider": wanted["dns_provider"],
                        "dns_provider_credentials": wanted.get("dns_credentials", ""),
                        "propagation_seconds": int(wanted.get("propagation_seconds", 120))}
            ids[wanted["name"]] = self.request_certificate(
                certificates, wanted["domain_names"], wanted["name"], meta,
                "certificate %s" % wanted["name"])
        return ids

    def host_certificate(self, wanted, certificates, shared):
        choice = wanted.get("certificate") or "none"
        if choice == "none":
            return 0
        if choice in shared:
            return shared[choice]
        if choice != "letsencrypt":
            raise DeclarationError("proxy host %s: certificate %r is neither none, letsencrypt, nor a declared "
                                   "certificate (%s)" % (wanted["domain_names"][0], choice,
                                                         ", ".join(shared) or "none"))
        found = self.find_certificate(certificates, wanted["domain_names"])
        if found:
            return found["id"]
        return self.request_certificate(certificates, wanted["domain_names"], wanted["domain_names"][0],
                                        {"dns_challenge": False},
                                        "certificate %s" % ",".join(domains(wanted["domain_names"])))

    # --- proxy hosts -----------------------------------------------------
    def host_body(self, wanted, list_ids, cert_id):
        body = {
            "domain_names": domains(wanted["domain_names"]),
            "forward_host": wanted["forward_host"],
            "forward_port": int(wanted["forward_port"]),
            "access_list_id": list_ids.get(wanted.get("access_list") or "", 0),
            "certificate_id": cert_id,
        }
        for field, default in HOST_FIELDS.items():
            value = wanted.get(field)
            body[field] = default if value is None else value
        for field, since in HOST_FIELDS_SINCE.items():
            if wanted.get(field) is None:
                continue
            if self.version >= since:
                body[field] = wanted[field]
            else:
                self.warnings.append("%s: %s needs nginx-proxy-manager %s or later; not sent to %s" % (
                    body["domain_names"][0], field, ".".join(map(str, since)), ".".join(map(str, self.version))))
        if wanted.get("access_list") and wanted["access_list"] not in list_ids:
            raise DeclarationError("proxy host %s: access list %r is not declared" % (
                body["domain_names"][0], wanted["access_list"]))
        if not cert_id:
            # Without a certificate these would point at nothing.
            body.update(ssl_forced=False, hsts_enabled=False, hsts_subdomains=False, http2_support=False)
        return body

    def proxy_hosts(self, list_ids):
        certificates = self.client.list("certificates")
        shared = self.shared_certificates(certificates)
        current = self.client.list("proxy-hosts")
        declared = set(tuple(domains(w["domain_names"])) for w in self.params["proxy_hosts"])
        for wanted in self.params["proxy_hosts"]:
            names = domains(wanted["domain_names"])
            body = self.host_body(wanted, list_ids, self.host_certificate(wanted, certificates, shared))
            key = "proxy host %s" % ",".join(names)
            have = next((h for h in current if domains(h["domain_names"]) == names), None)
            clash = [h for h in current if h is not have and set(domains(h["domain_names"])) & set(names)]
            if have is None and clash and self.managed(clash[0]) \
                    and tuple(domains(clash[0]["domain_names"])) not in declared:
                # One of ours whose names changed (an alias added or dropped).
                have, clash = clash[0], clash[1:]
            if clash:
                raise DeclarationError("%s: %s already belongs to proxy host %d (%s); declare the same domain "
                                       "names or remove that host" % (
                                           key, ", ".join(sorted(set(domains(clash[0]["domain_names"])) & set(names))),
                                           clash[0]["id"], ", ".join(clash[0]["domain_names"])))
            if have is None:
                self.created.append(key)
                self.record(key, None, body)
                if not self.check:
                    self.client.create("proxy-hosts", dict(body, meta=self.mark({}), enabled=True))
                continue
            current.remove(have)
            current.append(dict(have, domain_names=names))  # pruning sees it as declared
            old = {field: have.get(field) for field in body}
            old["domain_names"] = domains(have["domain_names"])
            differs = [field for field in body if body[field] != old[field]]
            if not have.get("enabled", True):
                differs.append("enabled")
            if not self.managed(have):
                differs.append("meta")  # adopted: from now on this module owns it
            if differs:
                self.updated.append("%s (%s)" % (key, ", ".join(differs)))
                self.record(key, old, body)
                if not self.check:
                    self.client.update("proxy-hosts", have["id"],
                                       dict(body, meta=self.mark(have.get("meta")), enabled=True))
        return current, declared

    # --- pruning ---------------------------------------------------------
    def prune(self, hosts, declared):
        for host in hosts:
            names = tuple(domains(host["domain_names"]))
            if names in declared or not self.managed(host):
                continue
            key = "proxy host %s" % ",".join(names)
            self.deleted.append(key)
            self.record(key, {"domain_names": list(names), "forward_host": host["forward_host"],
                              "forward_port": host["forward_port"]}, None)
            if not self.check:
                self.client.delete("proxy-hosts", host["id"])

    def run(self):
        list_ids = self.access_lists()
        hosts, declared = self.proxy_hosts(list_ids)
        if self.params["prune"]:
            self.prune(hosts, declared)
        return bool(self.created or self.updated or self.deleted)


def clients(items):
    """Access list clients in a stable order: the server keeps none."""
    return sorted(({"address": c["address"], "directive": c.get("directive", "allow")} for c in items),
                  key=lambda c: (c["address"], c["directive"]))


def check_declaration(params):
    """Errors in the declaration itself, found before the server is touched."""
    errors = []
    seen = {}
    for index, host in enumerate(params["proxy_hosts"]):
        for field in ("domain_names", "forward_host", "forward_port"):
            if not host.get(field):
                errors.append("proxy_hosts[%d] has no %s" % (index, field))
        for name in domains(host.get("domain_names") or []):
            if name in seen:
                errors.append("%s is declared by proxy_hosts[%d] and proxy_hosts[%d]" % (name, seen[name], index))
            seen[name] = index
        unknown = set(host) - set(HOST_FIELDS) - set(HOST_FIELDS_SINCE) - {
            "domain_names", "forward_host", "forward_port", "access_list", "certificate"}
        if unknown:
            errors.append("proxy_hosts[%d] has unknown fields: %s" % (index, ", ".join(sorted(unknown))))
    for index, item in enumerate(params["access_lists"]):
        if not item.get("name"):
            errors.append("access_lists[%d] has no name" % index)
        for client in item.get("clients", []):
            if client.get("directive", "allow") not in ("allow", "deny") or not client.get("address"):
                errors.append("access_lists[%d]: each client needs an address and allow or deny" % index)
    for index, item in enumerate(params["certificates"]):
        if not item.get("name") or not item.get("domain_names"):
            errors.append("certificates[%d] needs a name and domain_names" % index)
    return errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:81/api"),
            identity=dict(type="str", required=True),
            secret=dict(type="str", required=True, no_log=True),
            marker=dict(type="str", default="musicsim_managed"),
            prune=dict(type="bool", default=True),
            access_lists=dict(type="list", elements="dict", default=[]),
            certificates=dict(type="list", elements="dict", default=[]),
            proxy_hosts=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    for item in module.params["certificates"]:
        if item.get("dns_credentials"):
            module.no_log_values.add(item["dns_credentials"])
    errors = check_declaration(module.params)
    if errors:
        module.fail_json(msg="The declaration is wrong: " + "; ".join(errors))
    client = NpmClient(module.params["url"], module.params["identity"], module.params["secret"])
    try:
        site = Site(client, module.params, module.check_mode)
        changed = site.run()
    except DeclarationError as error:
        module.fail_json(msg="The declaration is wrong: %s" % error)
    except NpmError as error:
        if module.check_mode and error.status is None:
            module.exit_json(changed=True, created=[], updated=[], deleted=[], version="",
                             msg="the API does not answer yet: %s" % error)
        module.fail_json(msg=str(error), status=error.status)
    for warning in site.warnings:
        module.warn(warning)
    result = dict(changed=changed, created=site.created, updated=site.updated, deleted=site.deleted,
                  version=".".join(map(str, site.version)))
    if module._diff:
        result["diff"] = {"before": site.before, "after": site.after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
