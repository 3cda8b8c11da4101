"""Settings of the monitoring commands: the MONITOR_* variables and the endpoints.

Values come from the environment, else from the settings file the ops_cli role writes
(/etc/horilla-ops/monitoring.env, KEY=value lines), else from their documented defaults.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from horilla_ops.envfile import SettingsError, read_env_file

SETTINGS_FILE = Path("/etc/horilla-ops/monitoring.env")
STATE_FILE = Path("/var/lib/horilla-ops/monitor-state.json")

# The availability objective (CONTRIBUTING.md, Requirements): 99.99 % (4.32 minutes per 30 days).
AVAILABILITY_OBJECTIVE = 0.9999
# The error-rate (under 0.1 %) and p95 latency (under 2 s) objectives (same section).
ERROR_RATE_OBJECTIVE = 0.001
LATENCY_P95_OBJECTIVE_SECONDS = 2.0


@dataclass(frozen=True)
class Settings:
    prometheus_url: str = "http://localhost:9090"
    alertmanager_url: str = "http://localhost:9093"
    # Who the commands are to Prometheus and Alertmanager (basic auth; both serve https,
    # verified against the system's trust store, where the monitoring hosts keep the
    # internal CA). No user: no credentials sent.
    api_user: str = ""
    api_password_file: Path | None = None
    state_file: Path = STATE_FILE
    # The MONITOR_* defaults of CONTRIBUTING.md, Requirements ("Thresholds").
    check_interval: int = 30  # MONITOR_CHECK_INTERVAL, seconds
    alert_cooldown: int = 300  # MONITOR_ALERT_COOLDOWN, seconds (Alertmanager's repeat_interval)
    max_response_time_ms: int = 2000  # MONITOR_MAX_RESPONSE_TIME
    min_disk_space: float = 10.0  # MONITOR_MIN_DISK_SPACE, percent free
    max_cpu_usage: float = 80.0  # MONITOR_MAX_CPU_USAGE, percent
    max_memory_usage: float = 85.0  # MONITOR_MAX_MEMORY_USAGE, percent

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, settings_file: Path | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        path = Path(env.get("HORILLA_MONITORING_SETTINGS", str(settings_file or SETTINGS_FILE)))
        merged = {**read_env_file(path), **env}

        def number(name: str, default: float, kind: type = float) -> float:
            raw = merged.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise SettingsError(f"{name} must not be negative, got {raw!r}")
            return value

        return cls(
            prometheus_url=merged.get("HORILLA_PROMETHEUS_URL") or cls.prometheus_url,
            alertmanager_url=merged.get("HORILLA_ALERTMANAGER_URL") or cls.alertmanager_url,
            api_user=merged.get("HORILLA_MONITORING_USER") or "",
            api_password_file=Path(p) if (p := merged.get("HORILLA_MONITORING_PASSWORD_FILE")) else None,
            state_file=Path(merged.get("HORILLA_MONITOR_STATE_FILE") or STATE_FILE),
            check_interval=int(number("MONITOR_CHECK_INTERVAL", cls.check_interval, int)),
            alert_cooldown=int(number("MONITOR_ALERT_COOLDOWN", cls.alert_cooldown, int)),
            max_response_time_ms=int(number("MONITOR_MAX_RESPONSE_TIME", cls.max_response_time_ms, int)),
            min_disk_space=number("MONITOR_MIN_DISK_SPACE", cls.min_disk_space),
            max_cpu_usage=number("MONITOR_MAX_CPU_USAGE", cls.max_cpu_usage),
            max_memory_usage=number("MONITOR_MAX_MEMORY_USAGE", cls.max_memory_usage),
        )

    def open_apis(self) -> Settings:
        """Make every urllib request of this process to Prometheus and Alertmanager carry
        the API user's credentials from the first request on (no 401 round trip); the
        password is read from its file, never from the environment or a command line."""
        if not self.api_user:
            return self
        if self.api_password_file is None:
            raise SettingsError("HORILLA_MONITORING_USER is set, HORILLA_MONITORING_PASSWORD_FILE is not")
        try:
            password = self.api_password_file.read_text().strip()
        except OSError as exc:
            where = f"HORILLA_MONITORING_PASSWORD_FILE {self.api_password_file}"
            raise SettingsError(f"cannot read {where}: {exc.strerror}") from None
        if not password:
            raise SettingsError(f"HORILLA_MONITORING_PASSWORD_FILE {self.api_password_file} is empty")
        manager = urllib.request.HTTPPasswordMgrWithPriorAuth()
        apis = [self.prometheus_url, self.alertmanager_url]
        manager.add_password(None, apis, self.api_user, password, is_authenticated=True)
        urllib.request.install_opener(urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager)))
        return self
