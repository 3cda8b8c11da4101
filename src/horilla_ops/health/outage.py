"""While the database is away, a request waits for it unless it may have written.

A Patroni failover leaves the site without a writable database for some 20-30 s, a
planned switchover for a few seconds. Left alone, every request in that window fails
(upstream's middlewares query the database before any view runs). This middleware runs
the request again until the database answers or HORILLA_OPS_DB_OUTAGE_HOLD_SECONDS have
passed: the user's page is slow, not broken. What it runs again:

- a safe method (GET, HEAD, OPTIONS), always;
- any other method when nothing it sent to the database could have changed anything:
  every statement it ran (Django's execute wrappers see each one) was a read, and its
  body, held in memory beforehand, can be read again. A write refused by the old leader
  at connect, or cut off while upstream's middlewares were still reading, is done once
  the new leader answers, once.

Any other request (a statement that writes was sent: it may have been committed) is not
replayed and gets a 503 "try again in a moment" page with Retry-After.

A database error is recognised from Django's got_request_exception signal, which fires for
an exception raised anywhere in the stack (a middleware or the view) before Django turns
it into a 500 response, and, for views that catch every exception and answer an error of
their own (upstream's API answers 400 with the exception's text), from the statement that
raised it or the connection that could not be opened.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_FLAG = "_horilla_ops_database_error"
# Statements that change no data: a request that sent only these may run again.
_READ_ONLY = re.compile(r"\s*(SELECT|SHOW|SAVEPOINT|RELEASE|ROLLBACK)\b", re.IGNORECASE)
TRY_AGAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>One moment</title></head>
<body><h1>One moment, please</h1>
<p>Horilla is switching to its standby database and could not finish your request.
Please check whether your change is there, and if not, try
again in a few seconds.</p></body></html>
"""


def _flag_database_errors(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, OperationalError | InterfaceError):
        setattr(request, _FLAG, error)


got_request_exception.connect(_flag_database_errors, dispatch_uid="horilla_ops.health.outage")


def database_answers() -> bool:
    """A fresh connection runs SELECT 1 (the broken ones are dropped first)."""
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            return True
    except (OperationalError, InterfaceError):
        connections[DEFAULT_DB_ALIAS].close()
        return False


class _Statements:
    """What one attempt of a request sent to the database (a Django execute wrapper):
    how many statements could have written, and the database error one of them met."""

    def __init__(self) -> None:
        self.writes = 0
        self.error: Exception | None = None

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict) -> Any:
        if not _READ_ONLY.match(sql):
            self.writes += 1
        try:
            return execute(sql, params, many, context)
        except (OperationalError, InterfaceError) as exc:
            self.error = exc
            raise


def _hold_body(request: HttpRequest) -> bool:
    """Read the request's body into memory so that a replay reads it again (Django keeps
    it as request.body); False when it is too large to hold (Django's own limit for a body
    in memory, DATA_UPLOAD_MAX_MEMORY_SIZE) or was read already."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if "HTTP_TRANSFER_ENCODING" in request.META:
        return False  # chunked: no length to check before it is all in memory
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if limit is not None and length > limit:
        return False
    try:
        request.body  # noqa: B018 (read now, kept by Django)
    except Exception:  # RawPostDataException, RequestDataTooBig, a client gone
        return False
    return True


def _rewind(request: HttpRequest) -> None:
    """The body readable again from its start, for a replay (the parsed form stays)."""
    # As HttpRequest.body does after reading it.
    request._stream = io.BytesIO(request.body)


def _connection_failed() -> Exception | None:
    """A connection this attempt could not open (Django marks the wrapper; the view may
    have caught the error)."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is None and connection.errors_occurred:
            return OperationalError("could not connect to the database")
    return None


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        deadline = time.monotonic() + float(settings.HORILLA_OPS.db_outage_hold_seconds)
        safe = request.method in SAFE_METHODS
        body_held = safe or _hold_body(request)
        attempts = 0
        while True:
            attempts += 1
            response, statements = self._attempt(request)
            error = getattr(request, _FLAG) or (
                (statements.error or _connection_failed()) if response.status_code >= 400 else None
            )
            if error is None:
                if attempts > 1:
                    logger.warning(
                        "request held through a database outage", extra={"method": request.method, "attempts": attempts}
                    )
                return response
            replayable = safe or (body_held and statements.writes == 0)
            if not replayable or not self._wait(deadline):
                logger.warning(
                    "database unavailable: asked the client to try again",
                    extra={
                        "method": request.method,
                        "attempts": attempts,
                        "error": type(error).__name__,
                        "writes_sent": statements.writes,
                    },
                )
                return self.try_again()
            if not safe:
                _rewind(request)

    def _attempt(self, request: HttpRequest) -> tuple[HttpResponse, _Statements]:
        """The request run once, with every statement it sends seen."""
        setattr(request, _FLAG, None)
        statements = _Statements()
        with contextlib.ExitStack() as stack:
            for connection in connections.all():
                # A connection that could not be opened last time says so until it opens.
                if connection.connection is None:
                    connection.errors_occurred = False
                stack.enter_context(connection.execute_wrapper(statements))
            response = self.get_response(request)
        return response, statements

    @staticmethod
    def _wait(deadline: float) -> bool:
        """Until the database answers (True) or the deadline passes (False)."""
        while time.monotonic() < deadline:
            if database_answers():
                return True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return False

    @staticmethod
    def try_again() -> HttpResponse:
        response = HttpResponse(TRY_AGAIN_PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = "5"
        response["Cache-Control"] = "no-store"
        return response
