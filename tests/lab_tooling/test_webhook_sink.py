"""The drills' webhook sink (lab/webhook_sink.py), run as the lab runs it: keeps every
notification with its arrival time and hands back those after a given time, over HTTP
and over SMTP, and answers each channel as its real service does."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
import requests

from lab.state import PROJECT_DIR
from lab.testing import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ports():
    """(HTTP port, SMTP port) of a sink running as lab/create.yml runs it."""
    http_port, smtp_port = free_port(), free_port()
    script = PROJECT_DIR / "lab" / "webhook_sink.py"
    process = subprocess.Popen([sys.executable, str(script), str(http_port), str(smtp_port)])
    wait_for(lambda: requests.get(f"http://127.0.0.1:{http_port}", timeout=1).ok, 10, "the sink")
    wait_for(lambda: socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close() is None, 10, "its SMTP")
    yield http_port, smtp_port
    process.terminate()
    process.wait(10)


@pytest.fixture
def sink(ports):
    return f"http://127.0.0.1:{ports[0]}"


@pytest.fixture
def smtp(ports):
    with smtplib.SMTP("127.0.0.1", ports[1], timeout=10) as client:
        yield client


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


def test_the_lab_external_service_goes_down_and_up_on_request(sink):
    """The drill settings' external service: a test takes it down and brings it back."""
    assert requests.get(f"{sink}/service", timeout=5).status_code == 200
    assert requests.put(f"{sink}/service", data=b"down", timeout=5).ok
    assert requests.get(f"{sink}/service", timeout=5).status_code == 503
    assert requests.put(f"{sink}/service", data=b"sideways", timeout=5).status_code == 400
    assert requests.put(f"{sink}/service", data=b"up", timeout=5).ok
    assert requests.get(f"{sink}/service", timeout=5).text == "up"
    assert received(sink) == []  # not a notification


def test_each_channel_is_answered_as_its_service_answers(sink):
    """Alertmanager 0.28 fails a Slack delivery unless the body is "ok"; Discord answers
    204, PagerDuty's Events API 202 with its status."""
    slack = requests.post(f"{sink}/slack", json={"attachments": [{"title": "t", "text": "x"}]}, timeout=5)
    assert (slack.status_code, slack.text) == (200, "ok")
    assert requests.post(f"{sink}/discord", json={"content": "", "embeds": []}, timeout=5).status_code == 204
    pagerduty = requests.post(f"{sink}/pagerduty", json={"event_action": "trigger", "dedup_key": "k1"}, timeout=5)
    assert pagerduty.status_code == 202
    assert pagerduty.json() == {"status": "success", "message": "Event processed", "dedup_key": "k1"}
    assert requests.post(f"{sink}/alerts", json={"alerts": []}, timeout=5).status_code == 200
    assert [n["path"] for n in received(sink)] == ["/slack", "/discord", "/pagerduty", "/alerts"]


# Its second line must be dot-stuffed on the wire (and unstuffed by the sink).
HTML = "<p>HorillaTestAlert</p>\n.a line that starts with a dot\n"


def alertmanager_like_mail() -> EmailMessage:
    """An e-mail shaped as Alertmanager's: multipart/alternative, the HTML part only,
    quoted-printable."""
    message = EmailMessage()
    message["Subject"] = "[FIRING:1] HorillaTestAlert critical (mon1 true)"
    message["From"] = "alertmanager@horilla-lab.test"
    message["To"] = "ops@horilla-lab.test, oncall@horilla-lab.test"
    message.set_content("placeholder")
    message.add_alternative(HTML, subtype="html", cte="quoted-printable")
    message.get_payload().pop(0)  # Alertmanager's default e-mail has no text part
    return message


def mails(sink: str, after: float = 0) -> list[dict]:
    return requests.get(f"{sink}/smtp", params={"after": after}, timeout=5).json()


def test_an_email_is_kept_with_its_envelope_subject_and_body(sink, smtp):
    before = time.time()
    refused = smtp.sendmail(
        "alertmanager@horilla-lab.test",
        ["ops@horilla-lab.test", "oncall@horilla-lab.test"],
        alertmanager_like_mail().as_bytes(),
    )
    assert refused == {}
    [mail] = mails(sink)
    assert mail["from"] == "alertmanager@horilla-lab.test"
    assert mail["to"] == ["ops@horilla-lab.test", "oncall@horilla-lab.test"]
    assert mail["subject"] == "[FIRING:1] HorillaTestAlert critical (mon1 true)"
    assert mail["body"] == HTML
    assert mail["received_at"] >= before
    assert mails(sink, time.time()) == []
    assert received(sink) == []  # the webhook notifications are apart


def test_a_plain_text_email_keeps_its_text(sink, smtp):
    message = EmailMessage()
    message["Subject"] = "plain"
    message.set_content("just text")
    smtp.send_message(message, from_addr="a@horilla-lab.test", to_addrs=["b@horilla-lab.test"])
    assert [(m["subject"], m["body"].strip()) for m in mails(sink)] == [("plain", "just text")]


def test_smtp_speaks_the_plain_minimum_and_refuses_what_it_does_not(sink, smtp):
    assert smtp.ehlo()[0] == 250
    assert not smtp.has_extn("starttls") and not smtp.has_extn("auth")  # lab only: no TLS, no AUTH
    with pytest.raises(smtplib.SMTPNotSupportedError):
        smtp.starttls()
    assert smtp.helo()[0] == 250
    assert smtp.noop()[0] == 250
    assert smtp.rcpt("b@horilla-lab.test")[0] == 503  # no MAIL FROM yet
    assert smtp.docmd("DATA")[0] == 503
    assert smtp.mail("a@horilla-lab.test")[0] == 250
    assert smtp.rcpt("b@horilla-lab.test")[0] == 250
    assert smtp.rset()[0] == 250  # the transaction is dropped
    assert smtp.docmd("DATA")[0] == 503
    assert smtp.docmd("VRFY", "b@horilla-lab.test")[0] == 502
    assert mails(sink) == []
