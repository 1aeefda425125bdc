"""Locust against the API as the site runs it: the web UI healthy, on the
edge network only; the side effect's 30-second run through the api route
logged in and read, and its CSV files are on the host."""

import csv
import io
import json


def test_the_web_ui_is_healthy_and_not_published(host):
    state = json.loads(host.check_output("docker inspect locust"))[0]
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == 256 * 2**20
    assert not state["HostConfig"]["PortBindings"]
    assert list(state["NetworkSettings"]["Networks"]) == ["edge"]


def test_the_account_is_in_a_file_of_root_alone(host):
    env = host.file("/opt/musicsim/locust/locust.env")
    assert env.mode == 0o600 and env.user == "root"
    assert "throwaway-mlf-admin-password" not in host.file("/opt/musicsim/locust/compose.yaml").content_string


def test_the_run_wrote_its_csv_with_requests_and_no_failure(host):
    runs = host.check_output("ls /srv/musicsim/locust/results").split()
    stats = [name for name in runs if name.endswith("_stats.csv")]
    assert len(stats) == 1, runs
    assert stats[0].replace("_stats.csv", "_failures.csv") in runs
    rows = {row["Name"]: row for row in csv.DictReader(io.StringIO(
        host.file(f"/srv/musicsim/locust/results/{stats[0]}").content_string))}
    for name in ("/auth/token", "/auth/users/me", "/music_library/random", "/music_library/artists",
                 "Aggregated"):
        assert int(rows[name]["Request Count"]) > 0, name
        assert int(rows[name]["Failure Count"]) == 0, name
    # Five users, each logged in once.
    assert int(rows["/auth/token"]["Request Count"]) == 5


def test_the_requests_went_through_the_proxy_to_megapi(host):
    # megapi's own metrics count the run's logins (200 only: by email) and
    # its reads of /auth/users/me.
    metrics = host.check_output("docker exec megapi python -c \"import urllib.request; "
                                "print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())\"")
    def count(handler, status):
        return sum(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("http_requests_total") and f'handler="{handler}"' in line
                   and f'status="{status}"' in line)
    assert count("/auth/token", "2xx") >= 5 and count("/auth/token", "4xx") == 0
    assert count("/auth/users/me", "2xx") > 0
