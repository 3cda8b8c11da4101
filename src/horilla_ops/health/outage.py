"""While the database is away, a read waits for it and a write is asked to try again.

A Patroni failover leaves the site without a writable database for some 20-30 s. Left
alone, every request in that window fails with a 500 (upstream's middlewares query the
database before any view runs). This middleware runs the request again, for a safe
method (GET, HEAD, OPTIONS) only, until the database answers or
HORILLA_OPS_DB_OUTAGE_HOLD_SECONDS have passed: the user's page is slow, not broken.
Any other method is not replayed (it may have done part of its work) and gets a 503
"try again in a moment" page with Retry-After.

A database error is recognised from Django's got_request_exception signal, which fires
for an exception raised anywhere in the stack (a middleware or the view) before Django
turns it into a 500 response.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_FLAG = "_horilla_ops_database_error"
TRY_AGAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>One moment</title></head>
<body><h1>One moment, please</h1>
<p>Horilla is switching to its standby database. Nothing you sent was saved: please try
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


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        deadline = time.monotonic() + float(settings.HORILLA_OPS.db_outage_hold_seconds)
        attempts = 0
        while True:
            attempts += 1
            setattr(request, _FLAG, None)
            response = self.get_response(request)
            error = getattr(request, _FLAG)
            if error is None:
                if attempts > 1:
                    logger.warning("request held through a database outage", extra={"attempts": attempts})
                return response
            if request.method not in SAFE_METHODS or not self._wait(deadline):
                logger.warning(
                    "database unavailable: asked the client to try again",
                    extra={"method": request.method, "attempts": attempts, "error": type(error).__name__},
                )
                return self.try_again()

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
