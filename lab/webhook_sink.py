"""The drills' notification sink: keeps every notification Alertmanager delivers to it.

Runs in a container of its own on the lab network (lab/create.yml starts it when the
inventory sets lab_webhook_sink_octet, as molecule/cluster/drill-settings does), from
the lab's creation to its destruction: Alertmanager delivers from the first converge
on, so no delivery ever fails for want of a receiver, and the sink outlives the loss of
any lab host. Standard library only (it runs on the lab image's python3).

    webhook_sink.py [HTTP port, 9099] [SMTP port, 2525]

HTTP, every webhook channel (the path names the channel):

    POST /<anything>     a notification (JSON), kept with the time it arrived and the
                         address it came from (which Alertmanager sent it); answered
                         as the real service answers, where Alertmanager reads it:
                         /slack "ok" (0.28 fails a Slack delivery without it),
                         /discord 204, /pagerduty 202 and the Events API's status
    GET  /?after=<t>     the notifications that arrived at or after t (time.time())
    GET  /smtp?after=<t> the e-mails that arrived at or after t

HTTP, the lab's "external service" (monitoring_external_services in the drill settings),
which a test takes down and brings back:

    GET  /service        200 "up" while it is up, else 503 "down"
    PUT  /service        the body "up" or "down" sets it

SMTP, e-mail: the minimum of RFC 5321 that Alertmanager and smtplib speak (EHLO/HELO,
MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT). No STARTTLS and no AUTH: a lab-only plain
listener on the lab network (hence alertmanager_smtp_require_tls: false there). Each
message is kept as its envelope (from, to), its Subject and its body (the text part,
else the HTML part, decoded).
"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RECEIVED: list[dict] = []
MAILS: list[dict] = []
LOCK = threading.Lock()
SERVICE = {"up": True}


def reply_to(path: str, payload: dict) -> tuple[int, str, bytes]:
    """(status, content type, body) the real service sends back to a notification."""
    if path == "/slack":
        return 200, "text/plain", b"ok"
    if path == "/discord":
        return 204, "", b""
    if path == "/pagerduty":
        status = {"status": "success", "message": "Event processed", "dedup_key": payload.get("dedup_key")}
        return 202, "application/json", json.dumps(status).encode()
    return 200, "", b""


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        state = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode().strip()
        if self.path != "/service" or state not in ("up", "down"):
            self.send_error(400)
            return
        SERVICE["up"] = state == "up"
        self.answer(200, state.encode())

    def do_POST(self) -> None:
        received_at = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = json.loads(body)
        except ValueError:
            self.send_error(400)
            return
        with LOCK:
            RECEIVED.append(
                {"received_at": received_at, "path": self.path, "sender": self.client_address[0], "payload": payload}
            )
        status, content_type, answer = reply_to(self.path, payload if isinstance(payload, dict) else {})
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 204:
            self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/service":
            if SERVICE["up"]:
                self.answer(200, b"up")
            else:
                self.answer(503, b"down")
            return
        after = float(parse_qs(url.query).get("after", ["0"])[0])
        with LOCK:
            kept = MAILS if url.path == "/smtp" else RECEIVED
            body = json.dumps([n for n in kept if n["received_at"] >= after]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def address(argument: str) -> str:
    """The address of `FROM:<a@b> BODY=8BITMIME` or `TO:a@b` (`FROM:<>`: empty)."""
    value = argument.partition(":")[2].strip()
    return value[1 : value.find(">")] if value.startswith("<") else value.partition(" ")[0]


class SmtpHandler(socketserver.StreamRequestHandler):
    """One SMTP session; every message is kept once its DATA ends."""

    timeout = 60

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def data(self) -> bytes:
        lines = []
        for line in self.rfile:
            if line.rstrip(b"\r\n") == b".":
                break
            lines.append(line[1:] if line.startswith(b".") else line)  # dot-stuffing
        return b"".join(lines)

    def handle(self) -> None:
        self.reply("220 webhook-sink SMTP (lab only: no TLS, no AUTH)")
        sender, recipients = None, []
        for line in self.rfile:
            verb, _, argument = line.decode("utf-8", "replace").strip().partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):  # no extensions: no STARTTLS, no AUTH
                sender, recipients = None, []
                self.reply("250 webhook-sink")
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            elif verb == "MAIL" and argument.upper().startswith("FROM:"):
                sender, recipients = address(argument), []
                self.reply("250 OK")
            elif verb == "RCPT" and argument.upper().startswith("TO:") and sender is not None:
                recipients.append(address(argument))
                self.reply("250 OK")
            elif verb == "DATA" and recipients:
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.keep(sender or "", recipients, self.data())
                sender, recipients = None, []
                self.reply("250 OK: kept")
            elif verb in ("MAIL", "RCPT", "DATA"):
                self.reply("503 Bad sequence of commands")
            else:
                self.reply("502 Command not implemented")

    @staticmethod
    def keep(sender: str, recipients: list[str], data: bytes) -> None:
        message = email.message_from_bytes(data, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        mail = {
            "received_at": time.time(),
            "from": sender,
            "to": recipients,
            "subject": str(message.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
        }
        with LOCK:
            MAILS.append(mail)


class SmtpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    http_port = int(sys.argv[1]) if len(sys.argv) > 1 else 9099
    smtp_port = int(sys.argv[2]) if len(sys.argv) > 2 else 2525
    threading.Thread(target=SmtpServer(("", smtp_port), SmtpHandler).serve_forever, daemon=True).start()
    ThreadingHTTPServer(("", http_port), Handler).serve_forever()
