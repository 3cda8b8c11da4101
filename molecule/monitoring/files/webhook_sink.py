#!/usr/bin/python3
"""The alert drill's HTTP sink on mon1: a real receiver for Alertmanager's webhooks.

POST /alerts appends {"received_at": <unix time>, "payload": <notification>} as one
JSON line to the log file; GET / returns the log, for the drill to read.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOG = Path("/var/lib/horilla-drill/notifications.jsonl")
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
        with LOCK, LOG.open("a") as log:
            log.write(json.dumps({"received_at": received_at, "path": self.path, "payload": payload}) + "\n")
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        with LOCK:
            data = LOG.read_bytes() if LOG.exists() else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    LOG.parent.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
