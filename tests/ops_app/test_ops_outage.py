"""The database away (a failover, here a stopped PostgreSQL): a read waits for it and is
answered; so is a write that had sent nothing but reads, done once; a write that had
sent a write is told to try again and is not replayed; a view's own error answer over a
database error counts as one; a read that outlasts the hold is told to try again too."""

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


def count(client) -> int:
    return int(client.get("/employees/", secure=True).content)


def test_a_write_that_sent_only_reads_is_held_and_done_once(client, outage):
    before = count(client)
    outage(3.0)
    began = time.monotonic()
    response = client.post("/employees/create/", {"n": "held"}, secure=True)
    waited = time.monotonic() - began
    assert response.status_code == 200, response.content[:300]
    assert waited >= 2.5, "answered before the database was back?"
    assert count(client) == before + 1, "not done exactly once"


def test_a_write_too_large_to_hold_in_memory_is_asked_to_try_again(client, outage):
    import io

    from django.test import override_settings

    before = count(client)
    outage(3.0)
    upload = io.BytesIO(b"x" * 4096)
    upload.name = "large.bin"
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        response = client.post("/employees/create/", {"n": "large", "file": upload}, secure=True)
    assert response.status_code == 503, response.content[:300]
    time.sleep(3.5)
    assert count(client) == before, "replayed without its body held"


def test_a_write_that_sent_a_write_is_asked_to_try_again_and_not_replayed(client, postgres):
    before = count(client)
    answers: list = []
    # The write is sent, then the database goes away while the view still works.
    posting = threading.Thread(
        target=lambda: answers.append(client.post("/employees/create/?pause=2", {"n": "cut"}, secure=True))
    )
    posting.start()
    time.sleep(1.0)
    postgres.stop()
    restart = threading.Timer(3.0, postgres.start)
    restart.start()
    posting.join()
    restart.join()
    response = answers[0]
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    assert "try\nagain in a few seconds" in response.content.decode()
    time.sleep(1.0)
    assert count(client) == before + 1, "the write was replayed (or lost)"


def test_a_views_own_answer_to_a_database_error_is_held_too(client, outage):
    client.post("/employees/create/", {"n": "leaving"}, secure=True)
    before = count(client)
    outage(3.0)
    response = client.post("/employees/delete/", {"n": "leaving"}, secure=True)
    assert response.status_code == 200, response.content[:300]
    assert response.content == b"deleted"
    assert count(client) == before - 1


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
