import re
from pathlib import Path

import pytest

from horilla_ops.monitoring.settings import Settings, SettingsError, read_env_file


def test_monitor_defaults_without_any_setting(tmp_path: Path):
    """The MONITOR_* thresholds of CONTRIBUTING.md, Requirements."""
    s = Settings.load(environ={}, settings_file=tmp_path / "missing.env")
    assert (s.check_interval, s.alert_cooldown, s.max_response_time_ms) == (30, 300, 2000)
    assert (s.min_disk_space, s.max_cpu_usage, s.max_memory_usage) == (10, 80, 85)


def test_contributing_states_the_same_defaults():
    text = (Path(__file__).resolve().parents[2] / "CONTRIBUTING.md").read_text()
    section = text.split("## Requirements the project answers", 1)[1].split("\n## ", 1)[0]
    stated = {name: float(value) for name, value in re.findall(r"`(MONITOR_[A-Z_]+)` ([0-9.]+)", section)}
    d = Settings()
    assert stated == {
        "MONITOR_CHECK_INTERVAL": d.check_interval,
        "MONITOR_ALERT_COOLDOWN": d.alert_cooldown,
        "MONITOR_MAX_RESPONSE_TIME": d.max_response_time_ms,
        "MONITOR_MIN_DISK_SPACE": d.min_disk_space,
        "MONITOR_MAX_CPU_USAGE": d.max_cpu_usage,
        "MONITOR_MAX_MEMORY_USAGE": d.max_memory_usage,
    }


def test_file_then_environment(tmp_path: Path):
    env_file = tmp_path / "monitoring.env"
    env_file.write_text(
        "# written by ops_cli\nHORILLA_PROMETHEUS_URL=http://10.0.0.61:9090\nMONITOR_MAX_CPU_USAGE='90'\n\n"
    )
    s = Settings.load(environ={"MONITOR_MAX_CPU_USAGE": "95"}, settings_file=env_file)
    assert s.prometheus_url == "http://10.0.0.61:9090"
    assert s.max_cpu_usage == 95


def test_bad_number_names_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match="MONITOR_MIN_DISK_SPACE"):
        Settings.load(environ={"MONITOR_MIN_DISK_SPACE": "ten"}, settings_file=tmp_path / "x")


def test_env_file_parsing(tmp_path: Path):
    path = tmp_path / "f"
    path.write_text('A=1\n  B = "two" \nnot a line\n#C=3\n')
    assert read_env_file(path) == {"A": "1", "B": "two"}
