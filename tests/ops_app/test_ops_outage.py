"""The database away (a failover, here a stopped PostgreSQL): a read waits for it and is
answered; a write is told to try again, and is not replayed; a read that outlasts the
hold is told to try again too."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest


@pytest.fixture
def client(django_app):
    """A test client that answers as the server would: Django's default one re-raises any
    exception a request met, even one the middleware recovered from."""
    from django.test import Client

    return Client(raise_request_exception=False)


@pytest.fixture
def outage(postgres, client):
    """PostgreSQL stopped now, started again after `seconds` (in the background)."""
    started: list[threading.Thread] = []
    client.get("/employees/", secure=True)  # a persistent connection exists, as on a busy node

    def begin(seconds: float) -> None:
        postgres.stop()
        thread = threading.Timer(seconds, postgres.start)
        thread.start()
        started.append(thread)

    yield begin
    for thread in started:
        thread.join()
    if postgres.process is None:
        postgres.start()


def test_a_read_is_held_until_the_database_is_back(client, outage):
    outage(3.0)
    began = time.monotonic()
    response = client.get("/employees/", secure=True)
    waited = time.monotonic() - began
    assert response.status_code == 200, response.content[:300]
    assert response.content.decode().isdigit()
    assert waited >= 2.5, "answered before the database was back?"


def test_a_write_is_asked_to_try_again_and_not_replayed(client, outage):
    before = int(client.get("/employees/", secure=True).content)
    outage(3.0)
    response = client.post("/employees/create/?n=refused", secure=True)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "try\nagain in a few seconds" in response.content.decode()
    time.sleep(3.5)
    assert int(client.get("/employees/", secure=True).content) == before, "the write was replayed"


def test_a_read_that_outlasts_the_hold_is_asked_to_try_again(client, outage):
    from django.conf import settings
    from django.test import override_settings

    with override_settings(HORILLA_OPS=dataclasses.replace(settings.HORILLA_OPS, db_outage_hold_seconds=1.0)):
        outage(5.0)
        began = time.monotonic()
        response = client.get("/employees/", secure=True)
        waited = time.monotonic() - began
    assert response.status_code == 503
    assert 0.9 <= waited < 4.5, waited
