"""The drills' webhook sink (lab/webhook_sink.py), run as the lab runs it: keeps every
notification with its arrival time and hands back those after a given time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from lab.state import PROJECT_DIR
from lab.testing import wait_for


@pytest.fixture
def sink():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(PROJECT_DIR / "lab" / "webhook_sink.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url, timeout=1).ok, 10, "the sink")
    yield url
    process.terminate()
    process.wait(10)


def received(url: str, after: float = 0) -> list[dict]:
    return requests.get(url, params={"after": after}, timeout=5).json()


def test_it_keeps_every_notification_with_its_path_and_arrival(sink):
    before = time.time()
    assert requests.post(f"{sink}/alerts", json={"alerts": [{"labels": {"alertname": "HostDown"}}]}, timeout=5).ok
    middle = time.time()
    assert requests.post(f"{sink}/watchdog", json={"alerts": []}, timeout=5).ok
    everything = received(sink)
    assert [n["path"] for n in everything] == ["/alerts", "/watchdog"]
    assert before <= everything[0]["received_at"] <= middle <= everything[1]["received_at"]
    assert everything[0]["payload"]["alerts"][0]["labels"]["alertname"] == "HostDown"
    assert [n["path"] for n in received(sink, middle)] == ["/watchdog"]


def test_a_body_that_is_not_json_is_refused_and_not_kept(sink):
    assert requests.post(f"{sink}/alerts", data=b"not json", timeout=5).status_code == 400
    assert received(sink) == []
