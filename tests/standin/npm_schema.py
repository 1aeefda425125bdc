"""The request schemas of nginx-proxy-manager's API that the proxy role uses,
transcribed from the upstream repository (backend/schema/), and the version
differences the role has to handle.

Each body is validated with JSON Schema (additionalProperties false, as
upstream), so an unknown or misspelt field is a 400 here as it is there.
"""

DOMAIN_NAME = {"type": "string", "pattern": r"^[^&| @!#%^();:/\\}{=+?<>,~`'\"]+$"}
DOMAIN_NAMES = {"type": "array", "minItems": 1, "uniqueItems": True, "items": DOMAIN_NAME}
BOOLEAN = {"type": "boolean"}
ID = {"type": "integer", "minimum": 0}
CERTIFICATE_ID = {"anyOf": [ID, {"type": "string", "enum": ["new"]}]}
FORWARD_SCHEME = {"type": "string", "enum": ["http", "https"]}
FORWARD_HOST = {"type": "string", "minLength": 1, "maxLength": 255}
FORWARD_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}

LOCATION = {
    "type": "object",
    "required": ["path", "forward_scheme", "forward_host", "forward_port"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": ["integer", "null"]},
        "path": {"type": "string", "minLength": 1},
        "forward_scheme": FORWARD_SCHEME,
        "forward_host": FORWARD_HOST,
        "forward_port": FORWARD_PORT,
        "forward_path": {"type": "string"},
        "advanced_config": {"type": "string"},
    },
}

PROXY_HOST_FIELDS = {
    "domain_names": DOMAIN_NAMES,
    "forward_scheme": FORWARD_SCHEME,
    "forward_host": FORWARD_HOST,
    "forward_port": FORWARD_PORT,
    "access_list_id": ID,
    "certificate_id": CERTIFICATE_ID,
    "ssl_forced": BOOLEAN,
    "hsts_enabled": BOOLEAN,
    "hsts_subdomains": BOOLEAN,
    "http2_support": BOOLEAN,
    "block_exploits": BOOLEAN,
    "caching_enabled": BOOLEAN,
    "allow_websocket_upgrade": BOOLEAN,
    "advanced_config": {"type": "string"},
    "enabled": BOOLEAN,
    "meta": {"type": "object"},
    "locations": {"type": "array", "items": LOCATION},
}

CERTIFICATE_META = {
    "dns_challenge": BOOLEAN,
    "dns_provider": {"type": "string"},
    "dns_provider_credentials": {"type": "string"},
    "propagation_seconds": {"type": "integer", "minimum": 0},
}
# Before 2.13 the Let's Encrypt account came from the request; from 2.13 the
# owner's email is used and these fields are refused.
LEGACY_CERTIFICATE_META = {
    "letsencrypt_email": {"type": "string", "format": "email"},
    "letsencrypt_agree": {"type": "boolean"},
}

ACCESS_LIST_FIELDS = {
    "name": {"type": "string", "minLength": 1},
    "satisfy_any": BOOLEAN,
    "pass_auth": BOOLEAN,
    "items": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "username": {"type": "string", "minLength": 1},
                "password": {"type": "string"},
            },
        },
    },
    "clients": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["address", "directive"],
            "properties": {
                "address": {"type": "string", "minLength": 1},
                "directive": {"type": "string", "enum": ["allow", "deny"]},
            },
        },
    },
}
# Before 2.13 an access list's meta was accepted (and not stored); from 2.13
# it is refused.
LEGACY_ACCESS_LIST_FIELDS = {"meta": {"type": "object"}}

USER_FIELDS = {
    "name": {"type": "string", "minLength": 1},
    "nickname": {"type": "string"},
    "email": {"type": "string", "format": "email"},
    "roles": {"type": "array", "items": {"type": "string", "enum": ["admin"]}},
    "is_disabled": BOOLEAN,
    "auth": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "secret"],
        "properties": {"type": {"type": "string", "enum": ["password"]}, "secret": {"type": "string", "minLength": 8}},
    },
}


def _object(fields, required=(), min_properties=0):
    schema = {"type": "object", "additionalProperties": False, "properties": fields}
    if required:
        schema["required"] = list(required)
    if min_properties:
        schema["minProperties"] = min_properties
    return schema


def schemas(version):
    """The request schemas of API version (major, minor, revision)."""
    proxy_host = dict(PROXY_HOST_FIELDS)
    if version >= (2, 14, 0):
        proxy_host["trust_forwarded_proto"] = BOOLEAN
    access_list = dict(ACCESS_LIST_FIELDS)
    if version < (2, 13, 0):
        access_list.update(LEGACY_ACCESS_LIST_FIELDS)
    meta = dict(CERTIFICATE_META)
    if version < (2, 13, 0):
        meta.update(LEGACY_CERTIFICATE_META)
    certificate_meta = _object(meta, required=("letsencrypt_email", "letsencrypt_agree") if version < (2, 13, 0) else ())
    return {
        "token": _object({"identity": {"type": "string", "minLength": 1},
                          "secret": {"type": "string", "minLength": 1},
                          "scope": {"type": "string", "enum": ["user"]}},
                         required=("identity", "secret")),
        "user_create": _object(USER_FIELDS, required=("name", "email")),
        "user_update": _object({k: v for k, v in USER_FIELDS.items() if k != "auth"}, min_properties=1),
        "user_auth": _object({"type": {"type": "string", "enum": ["password"]},
                              "current": {"type": "string"},
                              "secret": {"type": "string", "minLength": 8}},
                             required=("type", "secret")),
        "proxy_host_create": _object(proxy_host, required=("domain_names", "forward_scheme",
                                                           "forward_host", "forward_port")),
        "proxy_host_update": _object(proxy_host, min_properties=1),
        "access_list_create": _object(access_list, required=("name",)),
        "access_list_update": _object(access_list, min_properties=1),
        "certificate_create": _object({
            "provider": {"type": "string", "enum": ["letsencrypt", "other"]},
            "nice_name": {"type": "string"},
            "domain_names": DOMAIN_NAMES,
            "meta": certificate_meta,
        }, required=("provider",)),
    }
