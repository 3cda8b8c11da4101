"""The drills' webhook sink: keeps every notification Alertmanager delivers to it.

Runs in a container of its own on the lab network (lab/create.yml starts it when the
inventory sets lab_webhook_sink_octet, as molecule/cluster/drill-settings does), from
the lab's creation to its destruction: Alertmanager delivers from the first converge
on, so no delivery ever fails for want of a receiver, and the sink outlives the loss of
any lab host. Standard library only (it runs on the lab image's python3).

    POST /<anything>     a notification (JSON), kept with the time it arrived
    GET  /?after=<t>     the notifications that arrived at or after t (time.time())
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RECEIVED: list[dict] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        received_at = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = json.loads(body)
        except ValueError:
            self.send_error(400)
            return
        with LOCK:
            RECEIVED.append({"received_at": received_at, "path": self.path, "payload": payload})
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        after = float(parse_qs(urlsplit(self.path).query).get("after", ["0"])[0])
        with LOCK:
            body = json.dumps([n for n in RECEIVED if n["received_at"] >= after]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("", int(sys.argv[1]) if len(sys.argv) > 1 else 9099), Handler).serve_forever()
