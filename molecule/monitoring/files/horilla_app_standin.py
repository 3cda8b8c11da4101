#!/usr/bin/python3
"""A STAND-IN for the Horilla app tier (built elsewhere), for the monitoring scenario only.

Answers what the monitoring tier scrapes and probes on an app node (:8000):
/health/, /health/ready/ and /metrics/ with the metric names of the real app
(django-prometheus request counters and latency histogram, horilla_scheduler_leader,
horilla_health_check_up), counting the requests it really serves.
"""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 2.5, 5.0, 7.5, 10.0, float("inf"))
LOCK = threading.Lock()
RESPONSES: dict[tuple[str, str], int] = {}  # (view, status) -> count
LATENCY: dict[str, list[float]] = {}  # view -> [bucket counts..., sum, count]


def record(view: str, status: int, seconds: float) -> None:
    with LOCK:
        RESPONSES[(view, str(status))] = RESPONSES.get((view, str(status)), 0) + 1
        h = LATENCY.setdefault(view, [0.0] * (len(BUCKETS) + 2))
        for i, le in enumerate(BUCKETS):
            if seconds <= le:
                h[i] += 1
        h[-2] += seconds
        h[-1] += 1


def metrics() -> str:
    lines = [
        "# TYPE horilla_scheduler_leader gauge",
        "horilla_scheduler_leader 1",
        "# TYPE horilla_health_check_up gauge",
        'horilla_health_check_up{check="database"} 1',
        'horilla_health_check_up{check="cache"} 1',
        "# TYPE django_http_responses_total_by_status_view_method_total counter",
    ]
    with LOCK:
        for (view, status), n in sorted(RESPONSES.items()):
            labels = f'method="GET",status="{status}",view="{view}"'
            lines.append(f"django_http_responses_total_by_status_view_method_total{{{labels}}} {n}")
        lines.append("# TYPE django_http_requests_latency_seconds_by_view_method histogram")
        for view, h in sorted(LATENCY.items()):
            for i, le in enumerate(BUCKETS):
                bound = "+Inf" if le == float("inf") else repr(le)
                labels = f'le="{bound}",method="GET",view="{view}"'
                lines.append(f"django_http_requests_latency_seconds_by_view_method_bucket{{{labels}}} {h[i]}")
            lines.append(
                f'django_http_requests_latency_seconds_by_view_method_sum{{method="GET",view="{view}"}} {h[-2]}'
            )
            lines.append(
                f'django_http_requests_latency_seconds_by_view_method_count{{method="GET",view="{view}"}} {h[-1]}'
            )
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        started = time.monotonic()
        routes = {
            "/health/": ("health", "text/plain", "ok\n"),
            "/health/ready/": ("ready", "application/json", '{"status": "ok", "stand_in": true}\n'),
            "/metrics/": ("metrics", "text/plain; version=0.0.4", None),
        }
        view, ctype, body = routes.get(self.path, ("unknown", "text/plain", None))
        status = 200 if view != "unknown" else 404
        if view == "metrics":
            body = metrics()
        body = body or "not found\n"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.end_headers()
        self.wfile.write(body.encode())
        record(view, status, time.monotonic() - started)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    ThreadingHTTPServer((host, port), Handler).serve_forever()
