"""Request id middleware: take HAProxy's id (or make one), log every request as one JSON line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from horilla_ops.logs import request_id

logger = logging.getLogger("horilla_ops.request")

# HAProxy's unique-id-format is hex and separators; anything else is replaced, so a
# client cannot inject text into the logs through the header.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PREFIXES = ("/health/", "/metrics/", "/static/")


def _header_key(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = settings.HORILLA_OPS.request_id_header
        self.meta_key = _header_key(self.header)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(self.meta_key, "")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[self.header] = rid
            if not request.path.startswith(_QUIET_PREFIXES) or response.status_code >= 500:
                logger.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                        "remote_addr": request.META.get("REMOTE_ADDR", ""),
                        "forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR", ""),
                    },
                )
            return response
        finally:
            request_id.reset(token)
