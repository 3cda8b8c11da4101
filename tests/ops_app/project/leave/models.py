from django.db import models
from employee.models import Employee

LEAVE_STATUS = (
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("cancelled", "Cancelled"),
    ("rejected", "Rejected"),
)


class LeaveRequest(models.Model):
    """The fields of upstream's leave.models.LeaveRequest that horilla_ops counts."""

    employee_id = models.ForeignKey(Employee, on_delete=models.PROTECT)
    start_date = models.DateField()
    status = models.CharField(max_length=30, choices=LEAVE_STATUS, default="requested")
    is_active = models.BooleanField(default=True)
