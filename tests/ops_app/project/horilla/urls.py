from django.http import HttpResponse, JsonResponse
from django.urls import path


def health_check(request):
    # Upstream's /health/: answers ok and checks nothing.
    return JsonResponse({"status": "ok"}, status=200)


def employees(request):
    # A page that reads the database, as almost every upstream page does.
    from employee.models import Employee

    return HttpResponse(str(Employee.objects.count()), content_type="text/plain; charset=utf-8")


def create_employee(request):
    # A form post, read first as upstream's middlewares do; ?pause=S waits between the
    # write and a read after it (an outage that begins after the write was sent).
    import time

    from employee.models import Employee

    Employee.objects.count()
    name = request.POST.get("n") or request.GET.get("n", "x")
    Employee.objects.create(employee_first_name="x", email=f"{name}@example.com", phone="1")
    time.sleep(float(request.GET.get("pause", 0)))
    Employee.objects.count()
    return HttpResponse("created", content_type="text/plain; charset=utf-8")


def delete_employee(request):
    # As upstream's API views do: any exception caught and answered with a 400 of its own.
    from employee.models import Employee

    try:
        found = Employee.objects.filter(email=f"{request.POST['n']}@example.com")
        if not found.exists():
            return HttpResponse("not found", status=404, content_type="text/plain; charset=utf-8")
        found.delete()
    except Exception as exc:  # upstream's way, under test
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse("deleted", content_type="text/plain; charset=utf-8")


def index(request):
    return HttpResponse("ops app unit-test project", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("", index),
    path("health/", health_check),
    path("employees/", employees),
    path("employees/create/", create_employee),
    path("employees/delete/", delete_employee),
]
