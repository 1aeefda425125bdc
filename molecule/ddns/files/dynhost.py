#!/usr/bin/python3
"""Stand-in for OVH's DynHost endpoint (no internet in the tests), on
127.0.0.1:8245. It speaks the dyndns2 answers the updater reads and keeps
its state in files the tests change:

  /var/lib/dynhost-standin/address      the "public address" GET /ip answers
  /var/lib/dynhost-standin/login        user:password that updates need
  /var/lib/dynhost-standin/records.json the DynHost records (name -> address)
  /var/lib/dynhost-standin/requests.log one JSON line per update request

GET /nic/update?system=dyndns&hostname=NAME&myip=ADDRESS with Basic auth:
badauth on a wrong login, nohost for a name without a record, nochg ADDRESS
when the record holds it already, good ADDRESS after changing it.
"""

import base64
import json
import pathlib
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = pathlib.Path("/var/lib/dynhost-standin")


class Handler(BaseHTTPRequestHandler):
    def answer(self, text, status=200):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/ip":
            return self.answer((STATE / "address").read_text().strip())
        if url.path != "/nic/update":
            return self.answer("not found", 404)
        query = dict(urllib.parse.parse_qsl(url.query))
        header = self.headers.get("Authorization", "")
        login = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
        records = json.loads((STATE / "records.json").read_text())
        name, address = query.get("hostname", ""), query.get("myip", "")
        if login != (STATE / "login").read_text().strip():
            reply = "badauth"
        elif query.get("system") != "dyndns" or not address:
            reply = "911"
        elif name not in records:
            reply = "nohost"
        elif records[name] == address:
            reply = "nochg " + address
        else:
            records[name] = address
            (STATE / "records.json").write_text(json.dumps(records))
            reply = "good " + address
        with (STATE / "requests.log").open("a") as log:
            log.write(json.dumps({"hostname": name, "myip": address, "user": login.split(":")[0],
                                  "reply": reply}) + "\n")
        return self.answer(reply)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", 8245), Handler).serve_forever()
