"""Answers the health and metrics paths before the rest of the middleware stack.

HAProxy probes each node by address over plain HTTP, so these requests must not meet
ALLOWED_HOSTS, upstream's SSL redirect (DEBUG=False), sessions or login middlewares.
/health/detailed/ and /metrics/ answer only clients on the internal networks
(HORILLA_OPS_INTERNAL_NETWORKS) and never through a proxy for an outside client: a
request whose X-Forwarded-For names an address outside those networks is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from horilla_ops.health import views

View = Callable[[HttpRequest], HttpResponse]
ROUTES: dict[str, tuple[View, bool]] = {
    "/health/": (views.health, False),
    "/health/live/": (views.live, False),
    "/health/ready/": (views.ready, False),
    "/health/detailed/": (views.detailed, True),
    "/metrics/": (views.metrics, True),
}


class OpsEndpointsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.config = settings.HORILLA_OPS

    def internal_client(self, request: HttpRequest) -> bool:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        addresses = [request.META.get("REMOTE_ADDR", ""), *forwarded]
        return all(self.config.is_internal(a) for a in addresses)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info if request.path_info.endswith("/") else request.path_info + "/"
        route = ROUTES.get(path)
        if route is None:
            return self.get_response(request)
        view, internal_only = route
        if request.method not in ("GET", "HEAD"):
            response: HttpResponse = JsonResponse({"error": "method not allowed"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if internal_only and not self.internal_client(request):
            return JsonResponse({"error": "forbidden: internal networks only"}, status=403)
        return view(request)
