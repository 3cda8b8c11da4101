from django.db import models


class JobRun(models.Model):
    """One run of the scheduled job: which node and process ran it, and when."""

    node = models.CharField(max_length=255)
    pid = models.IntegerField()
    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
