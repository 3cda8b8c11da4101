"""Wrapper settings for upstream Horilla: ``DJANGO_SETTINGS_MODULE=horilla_ops.settings``.

Imports the upstream settings module (``horilla.settings``, or ``$HORILLA_OPS_BASE_SETTINGS``)
and adds the ops app without editing upstream files: health and metrics endpoints, the
request id, JSON logs, the Redis cache through Sentinel, shared media, the scheduler guard.

Upstream mutates its settings lists in place after import (``horilla_apps.py`` appends to
``INSTALLED_APPS``, app ``ready()`` hooks append to ``MIDDLEWARE``), so the overrides are
applied to the upstream module's own objects and then re-exported here: both modules keep
pointing at the same lists and dicts.

Configuration comes from ``HORILLA_OPS_*`` variables in the process environment (the role
writes them to /etc/horilla/ops.env, read by the systemd units and ``horilla-manage``);
upstream's ``BASE_DIR/.env`` keeps upstream's own variables.
"""

from __future__ import annotations

import importlib
import os

from horilla_ops.config import OpsConfig, apply_overrides
from horilla_ops.scheduler import guard

# Before upstream is imported: its modules start APScheduler at import time.
guard.install(guard.mode_from_environ(os.environ))

_base = importlib.import_module(os.environ.get("HORILLA_OPS_BASE_SETTINGS", "horilla.settings"))
HORILLA_OPS = OpsConfig.from_environ(os.environ)
apply_overrides(_base, HORILLA_OPS)

globals().update({name: value for name, value in vars(_base).items() if name.isupper()})
