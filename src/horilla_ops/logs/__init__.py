"""JSON logs under /var/log/horilla/, each line carrying the request id of its request.

Files are written through ``WatchedFileHandler``: when logrotate renames a file, the next
line goes to a fresh file, so rotation needs neither copytruncate nor a signal.
"""

from __future__ import annotations

import contextvars
import logging
from pathlib import Path
from typing import Any

# The id of the request this thread is serving ("-" outside a request).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("horilla_request_id", default="-")

JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d %(threadName)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (a filter on handlers, so third-party loggers get it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def _formatter() -> dict[str, Any]:
    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": JSON_FIELDS,
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "threadName": "thread"},
        "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        "static_fields": {},
    }


def logging_config(log_dir: str, level: str, filename: str) -> dict[str, Any]:
    """dictConfig for a process: JSON to ``log_dir/filename``, or to stderr when log_dir is empty."""
    if log_dir:
        handler: dict[str, Any] = {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(Path(log_dir) / filename),
            "encoding": "utf-8",
        }
    else:
        handler = {"class": "logging.StreamHandler"}
    handler.update(formatter="json", filters=["request_id"])
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "horilla_ops.logs.RequestIdFilter"}},
        "formatters": {"json": _formatter()},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            # Django's own loggers propagate to root; keep their default levels sane.
            "django": {"level": level, "propagate": True},
            "django.db.backends": {"level": "WARNING", "propagate": True},
            "apscheduler": {"level": "WARNING" if level == "INFO" else level, "propagate": True},
        },
    }


def gunicorn_logconfig(log_dir: str, level: str = "INFO") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log as JSON in ``log_dir/gunicorn.log``.

    Requests are logged by RequestIdMiddleware (with the request id), so gunicorn's
    access log stays off.
    """
    config = logging_config(log_dir, level, "gunicorn.log")
    config["root"] = {"handlers": [], "level": "WARNING"}
    config["loggers"] = {"gunicorn.error": {"handlers": ["json"], "level": level, "propagate": False}}
    return config
