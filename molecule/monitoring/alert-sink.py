#!/usr/bin/python3
"""Stands in for Discord's webhook endpoint and a dead man's switch (tests
only; neither is reachable from the tests).

Every POST is kept as a line of /var/lib/alert-sink/requests.jsonl: its
path, when it came, its JSON body and what Discord would have refused in
it. A request to /api/webhooks/ is checked as Discord checks a webhook
message (discord.com/developers/docs/resources/webhook#execute-webhook and
the embed limits of .../resources/message#embed-object-embed-limits); one
it would refuse gets Discord's 400 answer, and Alertmanager's log and
metrics show the failed notification, as they would with Discord. Anything
else (the dead man's switch) gets 200, as healthchecks.io answers.
"""

import http.server
import json
import os
import time

LOG = "/var/lib/alert-sink/requests.jsonl"
EMBED_LIMITS = {"title": 256, "description": 4096}
EMBED_TOTAL = 6000


def discord_errors(headers, body):
    """What Discord would refuse in this webhook message, as a list of reasons."""
    if headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return ["Content-Type is not application/json"]
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    errors = []
    content, embeds = body.get("content"), body.get("embeds") or []
    if not content and not embeds:
        errors.append("Cannot send an empty message (content or embeds)")
    if content is not None and (not isinstance(content, str) or len(content) > 2000):
        errors.append("content: a string of at most 2000 characters")
    if len(body.get("username") or "") > 80:
        errors.append("username: at most 80 characters")
    if not isinstance(embeds, list) or len(embeds) > 10:
        return errors + ["embeds: a list of at most 10"]
    total = 0
    for n, embed in enumerate(embeds):
        for key, limit in EMBED_LIMITS.items():
            value = embed.get(key) or ""
            if not isinstance(value, str) or len(value) > limit:
                errors.append(f"embeds.{n}.{key}: a string of at most {limit} characters")
            total += len(value)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.append(f"embeds.{n}.fields: at most 25")
        for field in fields:
            if len(field.get("name", "")) > 256 or len(field.get("value", "")) > 1024:
                errors.append(f"embeds.{n}.fields: names of at most 256, values of at most 1024 characters")
            total += len(field.get("name", "")) + len(field.get("value", ""))
        total += len((embed.get("footer") or {}).get("text", "")) + len((embed.get("author") or {}).get("name", ""))
        color = embed.get("color", 0)
        if not isinstance(color, int) or not 0 <= color <= 0xFFFFFF:
            errors.append(f"embeds.{n}.color: an integer from 0 to 0xFFFFFF")
    if total > EMBED_TOTAL:
        errors.append(f"embeds: {total} characters in all, more than {EMBED_TOTAL}")
    return errors


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        discord = self.path.startswith("/api/webhooks/")
        errors = discord_errors(self.headers, body) if discord else []
        with open(LOG, "a") as log:
            log.write(json.dumps({"path": self.path, "time": time.time(), "body": body, "errors": errors}) + "\n")
        if errors:
            answer = json.dumps({"code": 50035, "message": "Invalid Form Body", "errors": errors}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        # Discord answers 204 No Content to a webhook without ?wait=true.
        self.send_response(204 if discord else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


os.makedirs(os.path.dirname(LOG), exist_ok=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8099), Sink).serve_forever()
