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
    from employee.models import Employee

    Employee.objects.create(employee_first_name="x", email=f"{request.GET.get('n', 'x')}@example.com", phone="1")
    return HttpResponse("created", content_type="text/plain; charset=utf-8")


def index(request):
    return HttpResponse("ops app unit-test project", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("", index),
    path("health/", health_check),
    path("employees/", employees),
    path("employees/create/", create_employee),
]
