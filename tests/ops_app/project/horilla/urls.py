from django.http import HttpResponse, JsonResponse
from django.urls import path


def health_check(request):
    # Upstream's /health/: answers ok and checks nothing.
    return JsonResponse({"status": "ok"}, status=200)


def index(request):
    return HttpResponse("ops app unit-test project", content_type="text/plain; charset=utf-8")


urlpatterns = [path("", index), path("health/", health_check)]
