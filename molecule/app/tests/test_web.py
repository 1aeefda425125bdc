"""The front end on a test host: react-music-sim built by the role from its
repository at the pinned revision, with the API's URL baked in, healthy,
unprivileged, reached through the proxy's root route, not published on the
host, rebuilt when the site's domain changes; and the calls its pages make
answered by megapi as a browser on the site's origin makes them."""

import base64
import json
import os
import pathlib
import shlex
import sys
import urllib.parse

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests" / "harness"))
from front_end import api_address  # noqa: E402  the API address the pages call, shared with other scenarios

ROOT = pathlib.Path(__file__).resolve().parents[3]
SITE, API = "music-sim.test", "api.music-sim.test"
ADMIN = ("admin@music-sim.test", "throwaway-admin-password")

# An HTTPS request to a route, from the client on the edge network
# (prepare.yml: it trusts the ACME server's root). Arguments: method, name,
# path, headers (JSON), body. Prints the status, the headers (JSON), the body.
REQUEST = r"""
import json, sys, urllib.request, urllib.error
method, name, path, headers, body = sys.argv[1:6]
r = urllib.request.Request(f"https://{name}{path}", method=method, data=body.encode() or None,
                           headers=json.loads(headers))
try:
    reply = urllib.request.urlopen(r, timeout=20)
except urllib.error.HTTPError as e:
    reply = e
print(reply.status)
print(json.dumps({k.lower(): v for k, v in reply.headers.items()}))
print(reply.read().decode())
"""


def request(host, method, name, path, headers=None, body=""):
    args = (REQUEST, method, name, path, json.dumps(headers or {}), body)
    out = host.check_output("docker exec browser python3 -c " + " ".join(shlex.quote(a) for a in args))
    status, headers, text = (out + "\n").split("\n", 2)
    text = text[:-1]
    return int(status), json.loads(headers), text


def page(host, path):
    status, _, text = request(host, "GET", SITE, path)
    assert status == 200, (path, status, text[:300])
    return text


@pytest.fixture(scope="module")
def state(host):
    return json.loads(host.check_output("docker inspect musicsim-web"))[0]


def test_the_front_end_is_healthy_unprivileged_and_memory_limited(state):
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["Config"]["User"] == "1000:1000"
    assert state["HostConfig"]["Memory"] == 384 * 1024 * 1024


def test_it_is_built_from_the_pinned_revision(host, state):
    revision = host.check_output("git -C /srv/web rev-parse rev-a")
    # The commit the site's versions pin: upstream's code, not a copy of it.
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    assert revision == versions["sources"]["web"]["revision"]
    assert state["Config"]["Image"].startswith(f"musicsim/web:{revision[:12]}-")
    assert host.check_output("git -C /opt/musicsim/web/src rev-parse HEAD") == revision


def test_the_root_route_serves_upstreams_pages(host):
    landing = page(host, "/")
    assert "<title>Music Similiarity</title>" in landing  # (sic: upstream's title)
    assert "La Meilleure Plateforme pour" in landing and 'href="/sign-in"' in landing
    assert "Password" in page(host, "/sign-in")
    assert request(host, "GET", SITE, "/no-such-page")[0] == 404


def test_the_api_url_is_baked_into_the_pages_scripts(host):
    assert api_address(lambda path: page(host, path)) == f"https://{API}"
    # Baked in by the build, in the scripts of every page that calls the API.
    chunks = host.check_output(f"docker exec musicsim-web grep -rlF https://{API} .next/static/chunks").split()
    assert len(chunks) >= 10, chunks


def signed_in_artists(host, headers=None):
    """(status, headers, artists) of megapi's artists list, after the login by
    email the sign-in page posts, both requests with the given headers."""
    form = urllib.parse.urlencode({"username": ADMIN[0], "password": ADMIN[1]})
    status, _, text = request(host, "POST", API, "/auth/token", dict(
        headers or {}, **{"Content-Type": "application/x-www-form-urlencoded"}), form)
    assert status == 200, text
    token = json.loads(text)["access_token"]
    status, reply_headers, text = request(host, "GET", API, "/music_library/artists",
                                          dict(headers or {}, Authorization=f"Bearer {token}"))
    return status, reply_headers, json.loads(text) if status == 200 else text


def test_a_page_on_the_sites_origin_signs_in_and_lists_the_artists(host):
    # What the sign-in and artists pages do in a browser on https://SITE:
    # a CORS preflight, the form's post with the email, the list with the
    # token (AllArtists.tsx), reading a refreshed token from the reply.
    origin = {"Origin": f"https://{SITE}"}
    status, headers, _ = request(host, "OPTIONS", API, "/music_library/artists", dict(
        origin, **{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}))
    assert status == 200 and headers["access-control-allow-origin"] in ("*", origin["Origin"]), headers
    status, headers, artists = signed_in_artists(host, origin)
    assert status == 200, artists
    assert artists and all(isinstance(name, str) for name in artists), artists
    assert headers.get("authorization", "").startswith("Bearer "), headers
    assert headers.get("access-control-expose-headers") in ("*", "Authorization"), headers


def test_a_person_signs_in_in_a_browser_and_sees_the_artists(host):
    # browse.py in Chromium: https://SITE/ (the ACME server's root trusted
    # as a person's CA), "Sign In", the admin's email and password, "List
    # all Artists". The screenshot of the last page is kept with the test
    # output (the scenario's step logs).
    script = (pathlib.Path(__file__).parent / "browse.py").read_text()
    host.check_output("docker exec browser rm -f /tmp/artists.png")
    run = host.run("docker exec browser python3 -c " + " ".join(
        shlex.quote(a) for a in (script, SITE, *ADMIN, "/tmp/artists.png")))
    # The screenshot first: it shows what a failure looked like.
    logs = pathlib.Path(os.environ.get("MUSICSIM_STEP_LOGS", ROOT / ".cache" / "molecule-logs")) / "app"
    logs.mkdir(parents=True, exist_ok=True)
    if host.run("docker cp browser:/tmp/artists.png /var/tmp/artists.png").rc == 0:
        pathlib.Path(logs / "browser-artists.png").write_bytes(
            base64.b64decode(host.check_output("base64 -w0 /var/tmp/artists.png")))
    assert run.rc == 0, run.stderr
    seen = json.loads(run.stdout)
    assert "screenshot" not in seen, seen
    assert "error" not in seen, seen
    # Without the root the browser refused the site; with it, the site.
    assert seen["untrusted_title"] == "Privacy error", seen["untrusted_title"]
    assert seen["title"] == "Music Similiarity"
    assert seen["signed_in_at"] == f"https://{SITE}/homepage"
    assert seen["artists_at"] == f"https://{SITE}/homepage/byartist"
    # The first page of artists (33 on a wide screen) as megapi lists them
    # from Postgres, its "MegaSet/" prefix taken off by the page.
    status, _, listed = signed_in_artists(host)
    assert status == 200, listed
    assert seen["artists"] == [name.replace("MegaSet/", "") for name in listed][:33]
    assert len(seen["artists"]) == min(33, len(listed)) > 1


def test_it_is_not_published_on_the_host(state):
    assert (state["HostConfig"]["PortBindings"] or {}) == {}


def test_a_new_domain_rebuilds_and_recreates_it(host):
    # side_effect.yml applied the role with another API URL, then the
    # inventory's again.
    change = json.loads(host.file("/var/tmp/domain-change.json").content_string)
    before, after = change["before"], change["after"]
    assert before["api"] == f"https://{API}"
    assert after["api"] == "https://api.other-domain.test"
    assert after["image"] != before["image"] and after["id"] != before["id"]
    # The revision part of the tag is the same: only the URL changed.
    assert after["image"].split("-")[0] == before["image"].split("-")[0]
