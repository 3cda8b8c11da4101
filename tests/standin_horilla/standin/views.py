from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.utils._os import safe_join
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def index(request):
    return HttpResponse(_("Stand-in for Horilla"), content_type="text/plain; charset=utf-8")


@csrf_exempt  # a test fixture: the real upload forms carry a CSRF token
@require_POST
def upload(request):
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"error": "no file"}, status=400)
    name = default_storage.save(f"uploads/{uploaded.name}", uploaded)
    return JsonResponse({"name": name, "url": settings.MEDIA_URL + name}, status=201)


def media(request, path):
    # As upstream's protected_media: a file under MEDIA_ROOT, path traversal refused.
    try:
        full = safe_join(settings.MEDIA_ROOT, path)
    except Exception:
        raise Http404("Invalid file path") from None
    if not Path(full).is_file():
        raise Http404("File not found")
    return FileResponse(Path(full).open("rb"))  # FileResponse closes it
