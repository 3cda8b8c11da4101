"""Health and metrics views. OpsEndpointsMiddleware calls them directly (see middleware.py)."""

from __future__ import annotations

import os
import platform

import django
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from horilla_ops import __version__
from horilla_ops.config import DEPENDENCY_CHECKS
from horilla_ops.health import checks
from horilla_ops.scheduler.lock import current_holder


def _json(body: dict[str, object], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def health(request: HttpRequest) -> HttpResponse:
    """Cheap: the process answers HTTP. Nothing else is touched."""
    return _json({"status": "ok"})


def live(request: HttpRequest) -> HttpResponse:
    """Liveness: this worker is alive and not wedged. No dependency is checked."""
    return _json({"status": "alive", "node": settings.HORILLA_OPS.node_name, "pid": os.getpid()})


def ready(request: HttpRequest) -> HttpResponse:
    """Readiness for the load balancer: database, cache and migrations (503 otherwise)."""
    results = checks.run(settings.HORILLA_OPS.ready_checks)
    ok = all(r.ok for r in results)
    return _json(
        {"status": "ready" if ok else "unavailable", "checks": {r.name: r.as_dict() for r in results}},
        status=200 if ok else 503,
    )


def scheduler_holder() -> str | None:
    """The node whose horilla-scheduler holds the scheduler lock, or None (nobody or unknown)."""
    with connections["default"].cursor() as cursor:
        holder = current_holder(cursor, settings.HORILLA_OPS.scheduler_lock_id)
    return holder.node if holder else None


def detailed(request: HttpRequest) -> HttpResponse:
    """Every dependency with status and latency, the scheduler leader and versions (internal only)."""
    config = settings.HORILLA_OPS
    results = checks.run(dict.fromkeys([*config.ready_checks, *DEPENDENCY_CHECKS, "storage"]))
    try:
        leader: str | None = scheduler_holder()
        scheduler: dict[str, object] = {"leader": leader, "this_node_leads": leader == config.node_name}
    except Exception as exc:  # the database check above already reports the cause
        scheduler = {"leader": None, "error": type(exc).__name__}
    ready_ok = all(r.ok for r in results if r.name in config.ready_checks)
    return _json(
        {
            "status": "ready" if ready_ok else "unavailable",
            "node": config.node_name,
            "release": config.release,
            "app": config.app,
            "checks": {r.name: r.as_dict() for r in results},
            "scheduler": scheduler,
            "versions": {
                "horilla_ops": __version__,
                "django": django.get_version(),
                "python": platform.python_version(),
            },
        },
        status=200 if ready_ok else 503,
    )


def metrics(request: HttpRequest) -> HttpResponse:
    from horilla_ops.health.metrics import exposition

    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
