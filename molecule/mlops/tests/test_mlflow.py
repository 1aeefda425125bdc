"""MLflow as the site runs it: a run with an artifact logged through the
LAN route with the admin's credentials lands as a row in MariaDB and an
object in MinIO's bucket; no credentials, no access; an unknown Host header
refused; MariaDB unreachable from the edge network; nothing published; the
secrets in 0600 files and in no play's output."""

import json
import os
import pathlib
import shlex

import pytest

ADMIN = ("admin", "throwaway-mlflow-admin-password")
SECRETS = ["throwaway-mlflow-db-pass/word", "throwaway-mlflow-db-pass%2Fword", "throwaway-mlflow-admin-password",
           "throwaway-mlflow-secret-key-of-32-characters", "throwaway-mlf-minio-password"]
ROUTE = "https://mlflow.music-sim.test"
ACME_ROOT = "/etc/musicsim-test/acme-root.pem"

# A LAN client of the site: a container on the edge network, where the proxy
# answers for the route's name; MLflow's own Python client, over HTTPS,
# verifying the route's certificate against the root of the ACME test
# server that issued it (tests/harness/acme-server.yml).
LOG_A_RUN = """
import mlflow
mlflow.set_tracking_uri("%s")
experiment = mlflow.set_experiment("infra-check")
with mlflow.start_run() as run:
    mlflow.log_param("model", "openl3")
    mlflow.log_metric("recall_at_10", 0.87)
    mlflow.log_text("weights of the similarity model", "model/weights.txt")
print(experiment.experiment_id, run.info.run_id)
""" % ROUTE


def in_edge_container(host, code, env=None):
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": ACME_ROOT, **(env or {})}
    env_args = " ".join(f"-e {k}={shlex.quote(v)}" for k, v in env.items())
    return host.run(f"docker run --rm --network edge -v {ACME_ROOT}:{ACME_ROOT}:ro {env_args} "
                    f"musicsim-test/mlflow:3.17.2 python -c {shlex.quote(code)}")


@pytest.fixture(scope="module")
def logged_run(host):
    out = in_edge_container(host, LOG_A_RUN, {"MLFLOW_TRACKING_USERNAME": ADMIN[0],
                                              "MLFLOW_TRACKING_PASSWORD": ADMIN[1]})
    assert out.rc == 0, out.stderr[-3000:]
    experiment_id, run_id = out.stdout.split()[-2:]
    return experiment_id, run_id


@pytest.mark.parametrize("name, memory", [("mlflow", 768), ("mlflow-mariadb", 256)])
def test_each_service_is_healthy_with_a_memory_limit_and_not_published(host, name, memory):
    state = json.loads(host.check_output(f"docker inspect {name}"))[0]
    assert state["State"]["Health"]["Status"] == "healthy"
    assert state["HostConfig"]["Memory"] == memory * 2**20
    assert not state["HostConfig"]["PortBindings"]


def test_the_run_is_a_row_in_mariadb(host, logged_run):
    _, run_id = logged_run
    out = host.check_output("docker exec -e MYSQL_PWD=throwaway-mlflow-db-pass/word mlflow-mariadb "
                            "mariadb -umlflow mlflow -N -e "
                            + shlex.quote(f"SELECT r.status, p.value FROM runs r JOIN params p ON p.run_uuid = r.run_uuid "
                                          f"WHERE r.run_uuid = '{run_id}' AND p.`key` = 'model'"))
    assert out.split() == ["FINISHED", "openl3"]


def test_the_artifact_is_an_object_in_the_bucket(host, logged_run):
    experiment_id, run_id = logged_run
    code = ("import boto3; s3 = boto3.client('s3', endpoint_url='http://minio:9000'); "
            f"print(s3.get_object(Bucket='mlflow', Key='{experiment_id}/{run_id}/artifacts/model/weights.txt')"
            "['Body'].read().decode())")
    out = in_edge_container(host, code, {"AWS_ACCESS_KEY_ID": "musicsim",
                                         "AWS_SECRET_ACCESS_KEY": "throwaway-mlf-minio-password"})
    assert out.rc == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "weights of the similarity model"


def test_without_credentials_the_api_refuses(host):
    code = ("import ssl, urllib.request, urllib.error\n"
            f"ctx = ssl.create_default_context(cafile='{ACME_ROOT}')\n"
            "try:\n"
            f"    print(urllib.request.urlopen('{ROUTE}/api/2.0/mlflow/experiments/search?max_results=1', context=ctx).status)\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n")
    out = in_edge_container(host, code)
    assert out.stdout.strip() == "401", out.stdout + out.stderr


@pytest.mark.parametrize("name, status", [("evil.example", 403), ("mlflow.music-sim.test", 401)])
def test_only_the_routes_host_name_is_answered(host, name, status):
    # An unknown Host header is refused before auth (DNS rebinding); the
    # route's name gets as far as asking for credentials.
    code = ("import sys, urllib.request, urllib.error\n"
            "r = urllib.request.Request('http://127.0.0.1:5000/', headers={'Host': sys.argv[1]})\n"
            "try:\n    print(urllib.request.urlopen(r).status)\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n")
    out = host.check_output(f"docker exec mlflow python -c {shlex.quote(code)} {name}")
    assert out.strip() == str(status)


def test_mariadb_is_not_on_the_edge_network(host):
    code = ("import socket\ntry:\n    socket.create_connection(('mlflow-mariadb', 3306), timeout=3)\n    print('open')\n"
            "except OSError:\n    print('closed')\n")
    assert in_edge_container(host, code).stdout.strip() == "closed"


def test_the_env_files_are_roots_alone(host):
    for name in ("mariadb.env", "mlflow.env"):
        env = host.file(f"/opt/musicsim/mlflow/{name}")
        assert env.mode == 0o600 and env.user == "root", name


def test_no_secret_is_in_the_compose_file_or_a_play_output(host):
    compose = host.file("/opt/musicsim/mlflow/compose.yaml").content_string
    # Every play's output (MUSICSIM_PLAYS_LOG, .config/molecule/config.yml).
    outputs = pathlib.Path(os.environ["MUSICSIM_PLAYS_LOG"]).read_text(errors="replace")
    assert "mlflow : " in outputs
    for secret in SECRETS:
        assert secret not in compose and secret not in outputs, secret


def test_turned_off_nothing_runs_and_the_data_stays(host):
    """The side effect turned MLflow and Locust off (mlflow_enabled,
    locust_enabled: false), recorded the machine, and turned them on again."""
    off = json.loads(host.file("/root/mlops-off.json").content_string)
    assert off["containers"] == {"mlflow": False, "mlflow-mariadb": False, "locust": False}
    assert off["paths"] == {"/opt/musicsim/mlflow": False, "/opt/musicsim/locust": False,
                            "/srv/musicsim/mlflow/auth": True, "/srv/musicsim/locust/results": True}
    assert off["volume"] is True


def test_an_experiment_made_before_the_off_path_is_there_after(host):
    out = in_edge_container(host, "import mlflow; mlflow.set_tracking_uri('%s'); "
                                  "print(mlflow.get_experiment_by_name('kept-across-off').experiment_id)" % ROUTE,
                            {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]})
    assert out.rc == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1].isdigit()
