"""horilla-msteams-relay: Alertmanager webhook in, Microsoft Teams message card out.

Alertmanager 0.25 (Debian 12) has no Teams receiver (0.26 brought msteams_configs).
The alertmanager role then points a webhook receiver at this relay on loopback; it
posts one message card per notification to the incoming webhook in
$HORILLA_MSTEAMS_WEBHOOK_URL and answers 502 when Teams refuses it, so that
Alertmanager retries and counts the failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COLOURS = {"critical": "C0392B", "warning": "E67E22", "info": "2C6FBB"}
RESOLVED_COLOUR = "27AE60"

Post = Callable[[str, dict[str, Any]], int]


def message_card(notification: dict[str, Any]) -> dict[str, Any]:
    """A Teams MessageCard for one Alertmanager webhook notification (version 4)."""
    status = notification.get("status", "firing")
    common = notification.get("commonLabels", {})
    alerts = notification.get("alerts", [])
    severity = common.get("severity", "")
    name = common.get("alertname", "alerts")
    title = f"[{status.upper()}{':' + str(len(alerts)) if len(alerts) > 1 else ''}] {name}"
    if severity:
        title += f" ({severity})"
    facts = []
    for alert in alerts:
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        where = labels.get("instance", "")
        facts.append(
            {
                "name": f"{alert.get('status', status)} {labels.get('alertname', name)} {where}".strip(),
                "value": annotations.get("summary") or annotations.get("description") or "",
            }
        )
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title,
        "themeColor": RESOLVED_COLOUR if status == "resolved" else COLOURS.get(severity, "777777"),
        "title": title,
        "sections": [{"facts": facts, "markdown": False}],
        "potentialAction": [
            {
                "@type": "OpenUri",
                "name": "Open Alertmanager",
                "targets": [{"os": "default", "uri": notification.get("externalURL", "")}],
            }
        ]
        if notification.get("externalURL")
        else [],
    }


def post_json(url: str, body: dict[str, Any]) -> int:
    if not url.startswith(("http://", "https://")):
        return 599
    data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (scheme checked)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 599


def make_handler(webhook_url: str, post: Post = post_json) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                notification = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            code = post(webhook_url, message_card(notification))
            self.send_response(200 if 200 <= code < 300 else 502)
            self.end_headers()

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("horilla-msteams-relay: " + (fmt % args) + "\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="horilla-msteams-relay", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:9095", help="host:port (default 127.0.0.1:9095)")
    args = parser.parse_args(argv)
    url = os.environ.get("HORILLA_MSTEAMS_WEBHOOK_URL", "")
    if not url.startswith(("https://", "http://")):
        print("horilla-msteams-relay: set HORILLA_MSTEAMS_WEBHOOK_URL to the Teams incoming webhook", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), make_handler(url))
    print(f"horilla-msteams-relay: listening on {args.listen}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
