"""horilla-dashboard: the operators' web dashboard on :8080 (the operators' guide, "Web Dashboard").

One page, behind a login, over TLS, on each monitoring host's internal address. It shows
what `horilla-monitor --status` prints (every tier, every host, leader and primary,
replication lag, HAProxy backends, firing alerts, the SLA and its error budget), with
graphs of the last hours (CPU and memory per host, p95 and error rate, the budget's burn
rate, announced maintenance shaded) and the alerts and maintenance of those hours. The
page asks for fresh figures every few seconds; every figure comes from this host's
Prometheus and Alertmanager at that moment.

Settings: /etc/horilla-ops/dashboard.env (HORILLA_DASHBOARD_*), beside monitoring.env
(where Prometheus and Alertmanager are, the MONITOR_* thresholds). The password is read
from the file HORILLA_DASHBOARD_PASSWORD_FILE names, never from the environment.
"""

from __future__ import annotations

import argparse
import hmac
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from horilla_ops.envfile import SettingsError, read_env_file
from horilla_ops.monitoring import promapi, status
from horilla_ops.monitoring.settings import AVAILABILITY_OBJECTIVE, Settings

SETTINGS_FILE = Path("/etc/horilla-ops/dashboard.env")
# Where Debian's libjs-chart.js puts Chart.js (3.x names it chart.min.js, 4.x chart.umd.js).
CHART_JS_CANDIDATES = (
    "/usr/share/javascript/chart.js/chart.umd.min.js",
    "/usr/share/javascript/chart.js/chart.umd.js",
    "/usr/share/javascript/chart.js/chart.min.js",
)
# Graphs of the last hours: at most this many points per series.
HISTORY_POINTS = 240
HISTORY_QUERIES: dict[str, str] = {
    "cpu_percent": status.Q_CPU,
    "memory_percent": status.Q_MEMORY,
    "response_p95_seconds": status.Q_RESPONSE_P95,
    "error_ratio": "max(horilla:http_errors:ratio_rate5m)",
    # How fast the availability budget burns: 1 spends the 30 days' budget in 30 days.
    "budget_burn_rate_1h": f"max(horilla:availability_errors:ratio_1h) / {1 - AVAILABILITY_OBJECTIVE:.6g}",
}
# Each firing alert of the window, one series per alert (instance, severity).
Q_ALERT_HISTORY = 'ALERTS{alertstate="firing", alertname!="Watchdog"}'
# Planned maintenance (horilla-maintenance, which the rolling deploy, the switchover and
# the OS updates run): 1 while it runs, per reason. The graphs shade those periods.
Q_MAINTENANCE_HISTORY = "max by (reason) (horilla_maintenance_active)"
MIN_PASSWORD_LENGTH = 16


@dataclass(frozen=True)
class DashboardSettings:
    bind: str = "127.0.0.1:8080"
    cert_file: Path | None = None
    key_file: Path | None = None
    user: str = "operator"
    password_file: Path | None = None
    refresh_seconds: int = 5
    history_hours: int = 3
    chart_js: Path | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, settings_file: Path | None = None) -> DashboardSettings:
        env = dict(os.environ if environ is None else environ)
        path = Path(env.get("HORILLA_DASHBOARD_SETTINGS", str(settings_file or SETTINGS_FILE)))
        merged = {**read_env_file(path), **env}

        def optional_path(name: str) -> Path | None:
            return Path(merged[name]) if merged.get(name) else None

        def positive(name: str, default: int) -> int:
            raw = merged.get(name) or str(default)
            if not raw.isdigit() or int(raw) < 1:
                raise SettingsError(f"{name} must be a whole number of at least 1, got {raw!r}")
            return int(raw)

        chart_js = optional_path("HORILLA_DASHBOARD_CHART_JS") or next(
            (Path(p) for p in CHART_JS_CANDIDATES if Path(p).is_file()), None
        )
        return cls(
            bind=merged.get("HORILLA_DASHBOARD_BIND") or cls.bind,
            cert_file=optional_path("HORILLA_DASHBOARD_CERT"),
            key_file=optional_path("HORILLA_DASHBOARD_KEY"),
            user=merged.get("HORILLA_DASHBOARD_USER") or cls.user,
            password_file=optional_path("HORILLA_DASHBOARD_PASSWORD_FILE"),
            refresh_seconds=positive("HORILLA_DASHBOARD_REFRESH", cls.refresh_seconds),
            history_hours=positive("HORILLA_DASHBOARD_HISTORY_HOURS", cls.history_hours),
            chart_js=chart_js,
        )

    def password(self) -> str:
        """The operator's password, from its file; refuses to serve without a good one."""
        if self.password_file is None:
            raise SettingsError("HORILLA_DASHBOARD_PASSWORD_FILE is not set: the dashboard never serves without login")
        try:
            password = self.password_file.read_text().strip()
        except OSError as exc:
            raise SettingsError(f"cannot read the password file {self.password_file}: {exc.strerror}") from None
        if len(password) < MIN_PASSWORD_LENGTH:
            raise SettingsError(f"the password in {self.password_file} has fewer than {MIN_PASSWORD_LENGTH} characters")
        return password


class Throttle:
    """Failed logins from one address: each one costs a second more, up to 30 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, address: str) -> float:
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
        return max(0.0, last + min(count, 30) - self._clock()) if count else 0.0

    def failed(self, address: str) -> None:
        with self._lock:
            count, _ = self._failures.get(address, (0, 0.0))
            self._failures[address] = (count + 1, self._clock())

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def periods(times: list[float], step: float) -> list[tuple[float, float]]:
    """The runs of consecutive sample times: a gap of more than one step ends a run."""
    runs: list[tuple[float, float]] = []
    for t in times:
        if runs and t - runs[-1][1] <= step * 1.5:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def alert_history(series: list[promapi.Series], step: float) -> list[dict[str, Any]]:
    """Each firing period of each alert in the window, newest first (ALERTS has a sample
    every evaluation while an alert fires)."""
    out = [
        {
            "name": s.labels.get("alertname", "?"),
            "severity": s.labels.get("severity", "none"),
            "instance": s.labels.get("instance", ""),
            "started": start,
            "last_seen": end,
        }
        for s in series
        for start, end in periods([t for t, _ in s.points], step)
    ]
    return sorted(out, key=lambda a: a["started"], reverse=True)


def maintenance_history(series: list[promapi.Series], step: float) -> list[dict[str, Any]]:
    """Each announced maintenance in the window, oldest first: the runs of 1 (the metric
    stays at 0 after `horilla-maintenance end`)."""
    out = [
        {"reason": s.labels.get("reason", ""), "started": start, "last_seen": end}
        for s in series
        for start, end in periods([t for t, v in s.points if v >= 1], step)
    ]
    return sorted(out, key=lambda m: m["started"])


def history(prom: promapi.Prometheus, hours: int, now: float | None = None) -> dict[str, Any]:
    """The graphs' series and the alert periods of the last `hours`."""
    end = time.time() if now is None else now
    start = end - hours * 3600
    step = max(15.0, hours * 3600 / HISTORY_POINTS)
    graphs = {}
    for name, expr in HISTORY_QUERIES.items():
        # A ratio or a quantile over no requests is NaN: a gap in the line, and JSON has no NaN.
        graphs[name] = [
            {
                "instance": s.labels.get("instance", ""),
                "points": [[t, round(v, 4)] for t, v in s.points if math.isfinite(v)],
            }
            for s in prom.query_range(expr, start, end, step)
        ]
    alerts = alert_history(prom.query_range(Q_ALERT_HISTORY, start, end, step), step)
    maintenance = maintenance_history(prom.query_range(Q_MAINTENANCE_HISTORY, start, end, step), step)
    return {"start": start, "end": end, "step": step, "graphs": graphs, "alerts": alerts, "maintenance": maintenance}


def finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None: JSON has neither, and a browser
    refuses a whole answer that holds one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def alertmanager_alerts(url: str, fetch: promapi.Fetch = promapi.http_get_json) -> dict[str, Any]:
    """What Alertmanager holds now: each alert, and whether a silence (maintenance) or an
    inhibition keeps it from the receivers."""
    try:
        answer = fetch(f"{url.rstrip('/')}/api/v2/alerts")
    except promapi.PrometheusError as exc:
        return {"error": str(exc), "alerts": []}
    if not isinstance(answer, list):
        return {"error": f"unexpected answer from {url}", "alerts": []}
    alerts = []
    for a in answer:
        labels = a.get("labels", {})
        if labels.get("alertname") == "Watchdog":
            continue
        state = a.get("status", {})
        alerts.append(
            {
                "name": labels.get("alertname", "?"),
                "severity": labels.get("severity", "none"),
                "instance": labels.get("instance", ""),
                "state": state.get("state", "?"),
                "silenced": bool(state.get("silencedBy")),
                "since": a.get("startsAt", ""),
                "summary": a.get("annotations", {}).get("summary", ""),
            }
        )
    return {"error": None, "alerts": sorted(alerts, key=lambda a: a["since"], reverse=True)}


def create_app(
    settings: DashboardSettings,
    monitoring: Settings,
    password: str,
    prometheus: Callable[[], promapi.Prometheus] | None = None,
    fetch: promapi.Fetch = promapi.http_get_json,
) -> Any:
    """The Flask application (the web framework is the `monitoring` extra's)."""
    from flask import Flask, abort, jsonify, redirect, render_template, request, send_file, session, url_for

    app = Flask(__name__)
    # A key of this process only: a restart logs everyone out, and no key is stored.
    app.secret_key = secrets.token_bytes(32)
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
    )
    throttle = Throttle()
    prom = prometheus or (lambda: promapi.Prometheus(monitoring.prometheus_url, fetch))

    def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if session.get("user") != settings.user:
                if request.path.startswith("/api/"):
                    return jsonify({"error": "log in first"}), 401
                return redirect(url_for("login"))
            return view(*args, **kwargs)

        return wrapped

    @app.after_request
    def security_headers(response: Any) -> Any:
        # Everything from this host: no CDN, no inline script, no framing.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/login")
    def login() -> Any:
        return render_template("login.html", error=None)

    @app.post("/login")
    def login_post() -> Any:
        address = request.remote_addr or "?"
        wait = throttle.wait_seconds(address)
        if wait > 0:
            return render_template("login.html", error=f"Too many failed logins: try again in {wait:.0f} s."), 429
        user_ok = hmac.compare_digest(request.form.get("user", "").encode(), settings.user.encode())
        password_ok = hmac.compare_digest(request.form.get("password", "").encode(), password.encode())
        if not (user_ok and password_ok):
            throttle.failed(address)
            return render_template("login.html", error="Wrong user or password."), 401
        throttle.succeeded(address)
        session.clear()
        session.permanent = True
        session["user"] = settings.user
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    def index() -> Any:
        return render_template(
            "index.html",
            user=settings.user,
            refresh_ms=1000 * settings.refresh_seconds,
            history_hours=settings.history_hours,
            thresholds={
                "cpu": monitoring.max_cpu_usage,
                "memory": monitoring.max_memory_usage,
                "disk": monitoring.min_disk_space,
                "p95_ms": monitoring.max_response_time_ms,
            },
        )

    @app.get("/api/status")
    @login_required
    def api_status() -> Any:
        state, _ = status.cycle(prom(), monitoring)
        state["alertmanager"] = alertmanager_alerts(monitoring.alertmanager_url, fetch)
        return jsonify(finite(state))

    @app.get("/api/history")
    @login_required
    def api_history() -> Any:
        try:
            return jsonify(finite(history(prom(), settings.history_hours)))
        except promapi.PrometheusError as exc:
            return jsonify({"error": str(exc)}), 502

    @app.get("/vendor/chart.js")
    @login_required
    def chart_js() -> Any:
        if settings.chart_js is None or not settings.chart_js.is_file():
            abort(404)
        return send_file(settings.chart_js, mimetype="text/javascript")

    return app


def serve(app: Any, settings: DashboardSettings) -> None:
    """gunicorn over TLS: one process, a few threads (each request is a few Prometheus queries)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": settings.bind,
                "workers": 1,
                "threads": 4,
                "worker_class": "gthread",
                "certfile": str(settings.cert_file),
                "keyfile": str(settings.key_file),
                "accesslog": "-",
                "timeout": 60,
            }
            # gunicorn 27's control socket (runtime management) is not wanted: nothing
            # manages this process but systemd, and its user has no home to put it in.
            if "control_socket_disable" in self.cfg.settings:
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="horilla-dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = DashboardSettings.load()
        monitoring = Settings.load().open_apis()
        password = settings.password()
        tls = {"HORILLA_DASHBOARD_CERT": settings.cert_file, "HORILLA_DASHBOARD_KEY": settings.key_file}
        for name, path in tls.items():
            if path is None or not os.access(path, os.R_OK):
                raise SettingsError(f"{name} must name a readable file (TLS only), got {path}")
        if settings.chart_js is None:
            raise SettingsError(f"Chart.js not found (install libjs-chart.js): tried {', '.join(CHART_JS_CANDIDATES)}")
    except SettingsError as exc:
        print(f"horilla-dashboard: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"horilla-dashboard: settings good, https://{settings.bind}/ for {settings.user}")
        return 0
    serve(create_app(settings, monitoring, password), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
