"""The unit shapes several roles share (templates/systemd/), rendered by Ansible as the
roles render them, then read by systemd's own parser (systemd-analyze verify)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lab import playbook
from lab.state import PROJECT_DIR

SYSTEMD = PROJECT_DIR / "templates" / "systemd"
GROUPS = {"ops": {"node1": "192.0.2.7"}}


def render(tmp_path: Path, template: str, unit: dict, name: str) -> Path:
    work = tmp_path / name
    work.mkdir()
    text = playbook.render_template(work, SYSTEMD / template, "node1", GROUPS, {"unit": unit})
    path = tmp_path / "units" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def verify(*units: Path) -> None:
    """systemd's parser accepts the units (no unknown key, no bad value)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if str(units[0].parent) in line or "Unknown" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_a_scheduled_job_yields_and_catches_up(tmp_path):
    unit = {
        "description": "Horilla backup: pgBackRest full backup",
        "exec_start": "/bin/true --job pgbackrest --type full",
        "schedule": "Sun *-*-* 01:00:00",
        "randomized_delay": "15m",
        "background": True,
        "timeout": "6h",
    }
    service = render(tmp_path, "ops-job.service.j2", unit, "horilla-test-job.service")
    timer = render(tmp_path, "ops-job.timer.j2", unit, "horilla-test-job.timer")
    text = service.read_text()
    assert "Type=oneshot" in text and "ExecStart=/bin/true --job pgbackrest --type full" in text
    assert "Nice=10" in text and "IOSchedulingClass=idle" in text and "TimeoutStartSec=6h" in text
    timing = timer.read_text()
    assert "OnCalendar=Sun *-*-* 01:00:00" in timing and "Persistent=true" in timing
    assert "RandomizedDelaySec=15m" in timing
    verify(service, timer)


def test_a_job_in_the_foreground_has_no_priority_change(tmp_path):
    unit = {"description": "SLA report", "exec_start": "/bin/true", "schedule": "monthly"}
    text = render(tmp_path, "ops-job.service.j2", unit, "horilla-test-report.service").read_text()
    assert "Nice=" not in text and "TimeoutStartSec=1h" in text


def test_a_long_running_service_is_hardened(tmp_path):
    plain = render(
        tmp_path,
        "ops-service.service.j2",
        {"description": "Horilla cluster status", "exec_start": "/bin/true --daemon"},
        "horilla-test-monitor.service",
    )
    text = plain.read_text()
    assert "Restart=on-failure" in text and "ProtectSystem=full" in text and "NoNewPrivileges=true" in text
    assert "DynamicUser" not in text and "EnvironmentFile" not in text
    relay = render(
        tmp_path,
        "ops-service.service.j2",
        {
            "description": "relay",
            "exec_start": "/bin/true --listen 127.0.0.1:9095",
            "environment_file": "/etc/horilla-ops/relay.env",
            "dynamic_user": True,
            "protect_system": "strict",
            "comment": ["Why it exists."],
        },
        "horilla-test-relay.service",
    )
    text = relay.read_text()
    assert text.count("# Why it exists.") == 1
    assert "DynamicUser=true" in text and "EnvironmentFile=/etc/horilla-ops/relay.env" in text
    assert "ProtectSystem=strict" in text
    verify(plain, relay)
