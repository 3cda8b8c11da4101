from django.contrib.auth.models import User
from django.db import models


class Employee(models.Model):
    """The fields of upstream's employee.models.Employee that horilla_ops uses."""

    employee_user_id = models.OneToOneField(User, on_delete=models.CASCADE, null=True, related_name="employee_get")
    employee_first_name = models.CharField(max_length=200)
    employee_last_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=25)
    is_active = models.BooleanField(default=True)
