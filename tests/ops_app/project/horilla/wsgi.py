"""WSGI entry point, at upstream's path: horilla.wsgi:application."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "horilla.settings")

application = get_wsgi_application()
