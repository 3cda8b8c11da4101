"""The endpoint listing tells what answers and what does not."""

import socket

from lab import endpoints
from lab.state import LabHost, LabState


def test_rows_report_answering_and_absent_services():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        state = LabState(
            name="t",
            network="t",
            hosts={"mon1": LabHost("mon1", "t-mon1", "127.0.0.1", ("monitoring", "lab"))},
            vars={},
        )
        original = endpoints.ENDPOINTS
        endpoints.ENDPOINTS = (
            endpoints.Endpoint("monitoring", "open", "http://{host}:" + str(port) + "/", port),
            endpoints.Endpoint("monitoring", "closed", "http://{host}:1/", 1),
            endpoints.Endpoint("app", "no such group", "http://{host}:2/", 2),
        )
        try:
            rows = endpoints.rows(state)
        finally:
            endpoints.ENDPOINTS = original
    assert rows == [
        ("open", f"http://127.0.0.1:{port}/", "answers on 1/1"),
        ("closed", "http://127.0.0.1:1/", "not answering"),
    ]
