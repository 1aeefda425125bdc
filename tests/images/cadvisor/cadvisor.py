"""A stand-in for cAdvisor, for the infrastructure tests.

No cAdvisor package exists in Debian, and Go modules cannot be fetched where
the tests run. This program serves what the monitoring stack reads from
cAdvisor, under cAdvisor's names, for the containers of the Docker engine
whose socket is mounted at /var/run/docker.sock (as cAdvisor's is):

- GET /healthz: "ok";
- GET /metrics: per running container, labelled id, name and image as
  cAdvisor labels them: container_last_seen, container_start_time_seconds,
  container_cpu_usage_seconds_total, container_memory_usage_bytes,
  container_memory_working_set_bytes (usage less inactive file pages),
  container_spec_memory_limit_bytes (0 when unlimited), and
  cadvisor_version_info.

The values come from the engine's API (one-shot stats), not from cgroups:
the same numbers `docker stats` shows. A stopped container is no longer
listed, as in cAdvisor. Flags: cAdvisor's -port, -housekeeping_interval,
-docker_only, -store_container_labels and -logtostderr are accepted; any
other flag stops the start, so a flag the role passes is never silently
ignored.
"""

import http.client
import http.server
import json
import socket
import sys
import time

KNOWN_FLAGS = {"port", "housekeeping_interval", "docker_only", "store_container_labels", "logtostderr"}


class DockerSocket(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=10)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def docker(path):
    connection = DockerSocket()
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        return json.loads(reply.read())
    finally:
        connection.close()


def escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics():
    series = {
        "container_last_seen": ("gauge", "Last time a container was seen by the exporter"),
        "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch in seconds."),
        "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed in seconds."),
        "container_memory_usage_bytes": ("gauge", "Current memory usage in bytes, including all memory regardless of when it was accessed"),
        "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
        "container_spec_memory_limit_bytes": ("gauge", "Memory limit for the container."),
    }
    values = {name: [] for name in series}
    now = time.time()
    for summary in docker("/containers/json"):
        details = docker(f"/containers/{summary['Id']}/json")
        stats = docker(f"/containers/{summary['Id']}/stats?stream=false&one-shot=true")
        labels = 'id="/docker/{}",image="{}",name="{}"'.format(
            summary["Id"], escape(summary["Image"]), escape(summary["Names"][0].lstrip("/")))
        memory = stats.get("memory_stats", {})
        usage = memory.get("usage", 0)
        inactive = memory.get("stats", {}).get("inactive_file", memory.get("stats", {}).get("total_inactive_file", 0))
        started = details["State"]["StartedAt"]
        start_time = time.mktime(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        values["container_last_seen"].append((labels, now))
        values["container_start_time_seconds"].append((labels, start_time))
        values["container_cpu_usage_seconds_total"].append(
            (labels, stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0) / 1e9))
        values["container_memory_usage_bytes"].append((labels, usage))
        values["container_memory_working_set_bytes"].append((labels, max(usage - inactive, 0)))
        values["container_spec_memory_limit_bytes"].append((labels, details["HostConfig"].get("Memory", 0)))
    lines = ["# HELP cadvisor_version_info A metric with a constant '1' value labeled by the cAdvisor version.",
             "# TYPE cadvisor_version_info gauge",
             'cadvisor_version_info{cadvisorVersion="stand-in"} 1']
    for name, (kind, text) in series.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {value}" for labels, value in values[name]]
    return "\n".join(lines) + "\n"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self.reply(200, "ok")
        if path == "/metrics":
            try:
                return self.reply(200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
            except OSError as error:
                return self.reply(500, f"cannot read the Docker engine: {error}\n")
        return self.reply(404, "404 page not found\n")


def main(argv):
    port = 8080
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name not in KNOWN_FLAGS:
            sys.stderr.write(f"flag provided but not defined: -{name}\n")
            return 2
        if name == "port":
            port = int(value)
    print(f"cadvisor stand-in listening on {port}", flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
