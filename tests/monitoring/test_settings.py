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


def test_an_unreadable_settings_file_is_an_error_naming_the_group(tmp_path: Path, monkeypatch):
    """Falling back to the defaults (localhost:9090) would describe the wrong cluster."""
    settings_file = tmp_path / "monitoring.env"
    settings_file.write_text("HORILLA_PROMETHEUS_URL=http://mon1:9090\n")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(SettingsError, match=r"cannot read .*monitoring.env.*group horilla-ops"):
        Settings.load(environ={}, settings_file=settings_file)


@pytest.mark.parametrize(
    ("module", "prog", "argv"),
    [
        ("status", "horilla-monitor", ["--status"]),
        ("sla_report", "horilla-sla-report", []),
        ("test_alerts", "horilla-test-alerts", []),
    ],
)
def test_the_commands_say_why_they_cannot_read_their_settings(module, prog, argv, monkeypatch, capsys):
    import importlib

    cli = importlib.import_module(f"horilla_ops.monitoring.{module}")

    def refuse(*args, **kwargs):
        raise SettingsError("cannot read /etc/horilla-ops/monitoring.env: run as root, or ...")

    monkeypatch.setattr(cli.Settings, "load", refuse)
    assert cli.main(argv) == 2
    assert f"{prog}: cannot read /etc/horilla-ops/monitoring.env" in capsys.readouterr().err


def test_the_role_creates_the_group_the_commands_name():
    import yaml

    from horilla_ops.envfile import OPERATORS_GROUP

    role_vars = Path(__file__).resolve().parents[2] / "roles" / "ops_cli" / "vars" / "main.yml"
    assert yaml.safe_load(role_vars.read_text())["_ops_cli_group"] == OPERATORS_GROUP


def test_the_api_user_is_sent_from_the_first_request_to_prometheus_and_alertmanager_only(tmp_path: Path):
    """open_apis(): the password comes from its file; Prometheus and Alertmanager get it
    with the first request (no 401 round trip), any other URL never does."""
    import base64
    import http.server
    import threading
    import urllib.request

    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    (tmp_path / "password").write_text("s3cret-api-password\n")
    env = {
        "HORILLA_PROMETHEUS_URL": f"{base}/prom",
        "HORILLA_ALERTMANAGER_URL": f"{base}/am",
        "HORILLA_MONITORING_USER": "horilla-ops",
        "HORILLA_MONITORING_PASSWORD_FILE": str(tmp_path / "password"),
    }
    try:
        Settings.load(environ=env, settings_file=tmp_path / "missing.env").open_apis()
        for path in ("/prom/api/v1/query", "/am/api/v2/alerts", "/elsewhere"):
            urllib.request.urlopen(f"{base}{path}", timeout=5).close()  # noqa: S310 (a local test server)
    finally:
        urllib.request.install_opener(None)
        server.shutdown()
    token = "Basic " + base64.b64encode(b"horilla-ops:s3cret-api-password").decode()
    assert seen == [token, token, None]


def test_an_api_user_without_a_readable_password_file_is_an_error(tmp_path: Path):
    env = {"HORILLA_MONITORING_USER": "horilla-ops", "HORILLA_MONITORING_PASSWORD_FILE": str(tmp_path / "none")}
    with pytest.raises(SettingsError, match="cannot read HORILLA_MONITORING_PASSWORD_FILE"):
        Settings.load(environ=env, settings_file=tmp_path / "missing.env").open_apis()
    with pytest.raises(SettingsError, match="HORILLA_MONITORING_PASSWORD_FILE is not"):
        Settings.load(environ={"HORILLA_MONITORING_USER": "x"}, settings_file=tmp_path / "missing.env").open_apis()
