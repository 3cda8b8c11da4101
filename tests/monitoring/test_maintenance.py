"""horilla-maintenance against a small fake Alertmanager (its silences API) on loopback."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from horilla_ops.monitoring import maintenance


class FakeAlertmanager(BaseHTTPRequestHandler):
    silences: ClassVar[dict[str, dict]] = {}

    def _answer(self, status: int, body: object = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        assert self.path == "/api/v2/silences"
        silence = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        silence_id = f"s{len(self.silences) + 1}"
        self.silences[silence_id] = {**silence, "state": "active"}
        self._answer(200, {"silenceID": silence_id})

    def do_DELETE(self) -> None:
        silence_id = self.path.rsplit("/", 1)[1]
        if silence_id not in self.silences:
            self._answer(404, "silence not found")
            return
        self.silences[silence_id]["state"] = "expired"
        self._answer(200)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def am(monkeypatch, tmp_path: Path):
    FakeAlertmanager.silences = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAlertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    monkeypatch.setenv("HORILLA_ALERTMANAGER_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HORILLA_MAINTENANCE_TEXTFILE_DIR", str(tmp_path / "textfile"))
    monkeypatch.setenv("HORILLA_MAINTENANCE_STATE_FILE", str(tmp_path / "state" / "maintenance.json"))
    yield FakeAlertmanager.silences
    server.shutdown()


def metric(tmp_path: Path) -> str:
    return (tmp_path / "textfile" / maintenance.METRIC_FILE).read_text().splitlines()[-1]


def test_start_announces_and_silences_what_is_expected_until_end(am, tmp_path: Path, capsys):
    expect = 'alertname=~"HorillaTierDegraded|HorillaEndpointProbeFailed",instance=~"app1|app2"'
    argv = ["start", "--reason", 'rolling "deploy"', "--duration", "45m", "--expect", expect]
    assert maintenance.main(argv) == 0
    assert metric(tmp_path) == 'horilla_maintenance_active{reason="rolling \\"deploy\\""} 1'
    [silence] = am.values()
    assert silence["matchers"] == [
        {
            "name": "alertname",
            "value": "HorillaTierDegraded|HorillaEndpointProbeFailed",
            "isRegex": True,
            "isEqual": True,
        },
        {"name": "instance", "value": "app1|app2", "isRegex": True, "isEqual": True},
    ]
    lasts = datetime.fromisoformat(silence["endsAt"]) - datetime.fromisoformat(silence["startsAt"])
    assert lasts == timedelta(minutes=45)  # a forgotten `end` does not mute them for good
    assert silence["createdBy"] == "horilla-maintenance" and 'rolling "deploy"' in silence["comment"]
    capsys.readouterr()
    assert maintenance.main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["silences"] == ["s1"]
    assert maintenance.main(["end"]) == 0
    assert metric(tmp_path).endswith(" 0")  # the announcement resolves; the series stays for the SLA report
    assert [s["state"] for s in am.values()] == ["expired"]
    assert maintenance.main(["end"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "horilla-maintenance: none was running"


def test_a_new_start_replaces_a_forgotten_one(am, tmp_path: Path):
    assert maintenance.main(["start", "--reason", "first", "--expect", 'alertname="A"']) == 0
    assert maintenance.main(["start", "--reason", "second", "--expect", 'alertname="B"']) == 0
    assert {s["comment"]: s["state"] for s in am.values()} == {
        "Planned maintenance: first": "expired",
        "Planned maintenance: second": "active",
    }
    assert metric(tmp_path) == 'horilla_maintenance_active{reason="second"} 1'


def test_an_unreachable_alertmanager_fails_before_announcing(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setenv("HORILLA_MONITORING_SETTINGS", str(tmp_path / "none.env"))
    monkeypatch.setenv("HORILLA_ALERTMANAGER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HORILLA_MAINTENANCE_TEXTFILE_DIR", str(tmp_path / "textfile"))
    monkeypatch.setenv("HORILLA_MAINTENANCE_STATE_FILE", str(tmp_path / "maintenance.json"))
    assert maintenance.main(["start", "--reason", "x", "--expect", 'alertname="A"']) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "textfile").exists() and not (tmp_path / "maintenance.json").exists()


@pytest.mark.parametrize("text", ["alertname", 'alertname=""', "=x", "a b=c"])
def test_bad_matchers_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        maintenance.parse_matchers(text)


def test_matchers_and_durations():
    assert maintenance.parse_matchers('severity!="info"') == [
        {"name": "severity", "value": "info", "isRegex": False, "isEqual": False}
    ]
    assert maintenance.parse_duration("2h") == timedelta(hours=2)
    with pytest.raises(argparse.ArgumentTypeError):
        maintenance.parse_duration("2 hours")
