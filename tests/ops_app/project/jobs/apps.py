import sys

from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        # As upstream's attendance app: importing the scheduler module starts it, unless
        # the command line names a maintenance command (upstream's own, partial, guard).
        if not any(cmd in sys.argv for cmd in ["makemigrations", "migrate", "compilemessages", "flush", "shell"]):
            from jobs import scheduler  # noqa: F401
