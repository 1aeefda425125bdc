# -*- coding: utf-8 -*-
# Copyright: musicsim-infra contributors; MIT License (see LICENSE)
"""A small client of nginx-proxy-manager's admin API, shared by the proxy
role's modules (npm_admin, npm_site).

It speaks JSON, logs in with a token (POST /api/tokens), logs in again when
the token has expired (a 401, or upstream's 400 "Token has expired"), and
turns every error into NpmError carrying the server's own message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url


# Upstream's words when it refuses a token: its AuthError, a 400.
TOKEN_REFUSED = ("Token has expired", "Empty token")


class NpmError(Exception):
    """An answer other than 2xx (status set), or no answer at all (status None)."""

    def __init__(self, method, path, status, message):
        self.status = status
        self.message = message
        where = "%s %s" % (method, path)
        if status is None:
            text = "%s: nginx-proxy-manager did not answer: %s" % (where, message)
        else:
            text = "%s: nginx-proxy-manager answered %s: %s" % (where, status, message)
        super(NpmError, self).__init__(text)


def version_tuple(status):
    """(major, minor, revision) from the answer of GET /api: an object in
    released versions, a "2.x.y" string in upstream's development branch."""
    version = status.get("version") or {}
    if isinstance(version, str):
        parts = (version.lstrip("v").split("-")[0].split(".") + ["0", "0", "0"])[:3]
        return tuple(int(part) if part.isdigit() else 0 for part in parts)
    return tuple(int(version.get(part, 0) or 0) for part in ("major", "minor", "revision"))


class NpmClient:
    """The admin API at url (for example http://127.0.0.1:81/api)."""

    def __init__(self, url, identity=None, secret=None, timeout=30):
        self.url = url.rstrip("/")
        self.identity = identity
        self.secret = secret
        self.timeout = timeout
        self._token = None
        self._expires = 0.0

    # --- transport -------------------------------------------------------
    def send(self, method, path, body, token, timeout=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        if token:
            headers["Authorization"] = "Bearer %s" % token
        try:
            reply = open_url(self.url + path, method=method, data=data, headers=headers,
                             timeout=timeout or self.timeout, follow_redirects="none")
            text = reply.read()
        except HTTPError as error:
            raise NpmError(method, path, error.code, self._message(error))
        except (URLError, OSError) as error:
            raise NpmError(method, path, None, str(getattr(error, "reason", error)))
        return json.loads(text) if text else None

    @staticmethod
    def _message(error):
        """The server's own words: {"error": {"message": ...}} upstream."""
        try:
            payload = json.loads(error.read())
        except (ValueError, TypeError, AttributeError):
            return error.reason
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            return payload["error"].get("message") or error.reason
        return error.reason

    def call(self, method, path, body=None, timeout=None):
        """An authenticated request; one new login when the token was refused
        (upstream answers 400 "Token has expired": its AuthError is a 400)."""
        try:
            return self.send(method, path, body, self.token(), timeout)
        except NpmError as error:
            refused = error.status == 401 or (error.status == 400 and error.message in TOKEN_REFUSED)
            if not refused:
                raise
            self._token = None
            return self.send(method, path, body, self.token(), timeout)

    # --- session ---------------------------------------------------------
    def status(self):
        """GET /api: {"status": "OK", "setup": bool, "version": {...}}, no login needed."""
        return self.send("GET", "/", None, None)

    def login(self, identity, secret):
        """A token for these credentials; NpmError when they are refused
        (upstream: 400 "Invalid email or password")."""
        reply = self.send("POST", "/tokens", {"identity": identity, "secret": secret}, None)
        return reply["token"]

    def token(self):
        # Tokens last a day upstream; renew a minute early rather than be refused.
        if self._token is None or time.time() > self._expires:
            reply = self.send("POST", "/tokens", {"identity": self.identity, "secret": self.secret}, None)
            self._token = reply["token"]
            self._expires = time.time() + self._lifetime(reply) - 60
        return self._token

    @staticmethod
    def _lifetime(reply):
        """Seconds the token is valid, read from its own exp claim (default: one hour)."""
        try:
            payload = reply["token"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return max(0, claims["exp"] - time.time())
        except (KeyError, IndexError, ValueError, TypeError):
            return 3600

    # --- objects ---------------------------------------------------------
    def list(self, kind, expand=None):
        return self.call("GET", "/nginx/%s%s" % (kind, "?expand=" + expand if expand else ""))

    def create(self, kind, body, timeout=None):
        return self.call("POST", "/nginx/%s" % kind, body, timeout)

    def update(self, kind, ident, body):
        return self.call("PUT", "/nginx/%s/%d" % (kind, ident), body)

    def delete(self, kind, ident):
        return self.call("DELETE", "/nginx/%s/%d" % (kind, ident))
