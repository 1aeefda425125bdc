"""The front end on a test host: built from its repository at the pinned
revision with the API's URL baked in, healthy, unprivileged, reached through
the proxy's root route, not published on the host, and rebuilt when the
site's domain changes."""

import json
import shlex

import pytest

REQUEST = r"""
import sys, urllib.request
r = urllib.request.Request("http://127.0.0.1" + sys.argv[1])
r.add_header("Host", "music-sim.test")
reply = urllib.request.urlopen(r, timeout=20)
print(reply.status)
print(reply.read().decode())
"""


def through_the_proxy(host, path):
    status, _, body = host.check_output(f"python3 -c {shlex.quote(REQUEST)} {path}").partition("\n")
    return int(status), body


@pytest.fixture(scope="module")
def state(host):
    return json.loads(host.check_output("docker inspect musicsim-web"))[0]


def test_the_front_end_is_healthy_unprivileged_and_memory_limited(state):
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["Config"]["User"] == "1000:1000"
    assert state["HostConfig"]["Memory"] == 384 * 1024 * 1024


def test_it_is_built_from_the_pinned_revision(host, state):
    revision = host.check_output("git -C /srv/fixture-web rev-parse rev-a")
    assert state["Config"]["Image"].startswith(f"musicsim/web:{revision[:12]}-")
    assert host.check_output("git -C /opt/musicsim/web/src rev-parse HEAD") == revision


def test_the_root_route_serves_it_with_the_api_url_baked_in(host):
    status, page = through_the_proxy(host, "/")
    assert status == 200
    assert 'data-api-base-url="https://api.music-sim.test"' in page
    # Baked in by the build, not read from the container's environment.
    assert host.check_output("docker exec musicsim-web cat .next/api-base-url") == "https://api.music-sim.test"


def test_it_is_not_published_on_the_host(state):
    assert (state["HostConfig"]["PortBindings"] or {}) == {}


def test_a_new_domain_rebuilds_and_recreates_it(host):
    # side_effect.yml applied the role with another API URL, then the
    # inventory's again.
    change = json.loads(host.file("/var/tmp/domain-change.json").content_string)
    before, after = change["before"], change["after"]
    assert before["api"] == "https://api.music-sim.test"
    assert after["api"] == "https://api.other-domain.test"
    assert after["image"] != before["image"] and after["id"] != before["id"]
    # The revision part of the tag is the same: only the URL changed.
    assert after["image"].split("-")[0] == before["image"].split("-")[0]
