from django.http import JsonResponse
from django.urls import path, re_path
from standin import views


def health_check(request):
    # Upstream's /health/: answers ok and checks nothing.
    return JsonResponse({"status": "ok"}, status=200)


urlpatterns = [
    path("", views.index),
    path("upload/", views.upload),
    re_path(r"^media/(?P<path>.*)$", views.media, name="protected_media"),
    path("health/", health_check),
]
