"""A change that cannot start leaves the site serving (side_effect.yml):
the proxy's admin port moved onto a port a container of the user's own
publishes. The run stopped, saying so, and the proxy runs again from the
compose file it ran from before; its routes still answer (test_site.py)."""

import json


def test_the_run_stopped_and_said_why(host):
    record = json.loads(host.file("/var/tmp/bad-change.json").content_string)
    assert record["failed"] is True, "the change that cannot start went through"
    assert record["task"].startswith("Stop here"), record
    assert "port is already allocated" in record["msg"], record["msg"]
    assert "is back and running" in record["msg"], record["msg"]


def test_the_proxy_runs_again_from_its_previous_compose_file(host):
    compose = host.file("/opt/musicsim/proxy/compose.yaml")
    assert "127.0.0.1:81:81" in compose.content_string
    assert "8181" not in compose.content_string
    # The file put back, kept from before the change.
    assert host.file("/opt/musicsim/proxy/compose.previous.yaml").content_string == compose.content_string
    proxy = json.loads(host.check_output("docker inspect nginx-proxy-manager"))[0]
    assert proxy["State"]["Health"]["Status"] == "healthy"
    assert proxy["HostConfig"]["PortBindings"]["81/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "81"}]
    assert host.run("docker inspect users-own-exporter").rc != 0
