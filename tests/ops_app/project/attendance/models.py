from django.db import models
from employee.models import Employee


class Attendance(models.Model):
    """The fields of upstream's attendance.models.Attendance that horilla_ops counts."""

    employee_id = models.ForeignKey(Employee, on_delete=models.PROTECT)
    attendance_date = models.DateField()
    attendance_clock_in = models.TimeField(null=True)
    is_active = models.BooleanField(default=True)
