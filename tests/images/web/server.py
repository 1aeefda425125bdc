"""A stand-in for music-sim's web front end, for the infrastructure tests.

What it shares with the Next.js app (Hatchi-Kin/react-music-sim): HTTP on
0.0.0.0:3000, an HTML home page, and the API's public address from
NEXT_PUBLIC_API_BASE_URL (baked in at build time there, read at start here).
It serves GET / (HTML naming the API base URL) and GET /api-base (the URL as
text); anything else is 404.
"""

import html
import http.server
import os
import signal
import sys

API_BASE_URL = os.environ.get("NEXT_PUBLIC_API_BASE_URL", "")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the name http.server calls)
        if self.path == "/":
            body = (
                "<!DOCTYPE html><html><head><title>music-sim</title></head>"
                f'<body><main data-api-base-url="{html.escape(API_BASE_URL)}">'
                "music-sim (test fixture)</main></body></html>"
            ).encode()
            self.reply(200, "text/html; charset=utf-8", body)
        elif self.path == "/api-base":
            self.reply(200, "text/plain; charset=utf-8", API_BASE_URL.encode())
        else:
            self.reply(404, "text/plain; charset=utf-8", b"not found")

    def reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # PID 1 in its container: stop at once on `docker stop`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    http.server.ThreadingHTTPServer(("0.0.0.0", 3000), Handler).serve_forever()
