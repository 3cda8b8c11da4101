"""Like upstream's <app>/scheduler.py: a BackgroundScheduler created and started at import.

Without the ops app's guard, every process that imports this module (every gunicorn
worker on every node) runs the job.
"""

import os
import socket

from apscheduler.schedulers.background import BackgroundScheduler


def record_run():
    from jobs.models import JobRun

    JobRun.objects.create(node=socket.gethostname(), pid=os.getpid())


scheduler = BackgroundScheduler()
scheduler.add_job(
    record_run, "interval", seconds=float(os.environ.get("JOBS_INTERVAL_SECONDS", "2")), id="jobs_record_run"
)
scheduler.start()
