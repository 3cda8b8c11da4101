"""The Teams relay Alertmanager 0.25 uses: card contents and the HTTP round trip on loopback."""

import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from horilla_ops.monitoring import msteams_relay

NOTIFICATION = {
    "status": "firing",
    "commonLabels": {"alertname": "HorillaApplicationDown", "severity": "critical"},
    "externalURL": "http://mon1:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HorillaApplicationDown", "instance": "app1"},
            "annotations": {"summary": "Horilla is down"},
        }
    ],
}


def test_message_card():
    card = msteams_relay.message_card(NOTIFICATION)
    assert card["@type"] == "MessageCard"
    assert card["title"] == "[FIRING] HorillaApplicationDown (critical)"
    assert card["themeColor"] == "C0392B"
    assert card["sections"][0]["facts"] == [{"name": "firing HorillaApplicationDown app1", "value": "Horilla is down"}]
    resolved = msteams_relay.message_card({**NOTIFICATION, "status": "resolved"})
    assert resolved["themeColor"] == msteams_relay.RESOLVED_COLOUR


@pytest.mark.parametrize(("teams_answer", "relay_answer"), [(200, 200), (429, 502)])
def test_round_trip(teams_answer, relay_answer):
    posted = []

    def post(url, body):
        posted.append((url, body))
        return teams_answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), msteams_relay.make_handler("https://teams.test/hook", post))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        request = urllib.request.Request(url, data=json.dumps(NOTIFICATION).encode(), method="POST")
        try:
            code = urllib.request.urlopen(request, timeout=5).status  # noqa: S310 (loopback test server)
        except urllib.error.HTTPError as exc:
            code = exc.code
    finally:
        server.shutdown()
        server.server_close()
    assert code == relay_answer
    assert posted[0][0] == "https://teams.test/hook"
    assert posted[0][1]["title"].startswith("[FIRING]")
