"""`horilla-manage horilla_deploy_state --admin NAME`: what a deploy still has to do.

Prints one JSON object on the last line of its output (upstream prints database errors
of its own while its tables are missing), read-only:
- "unapplied_migrations": how many migrations of this release the database lacks (what
  `migrate --check` fails on), "first_unapplied": the first few of them as app.name;
- "applied_migrations": how many it has (0: a fresh database, nothing to back up first);
- "admin": the administrator's state: "ok" (a user with its Employee record, so it can
  log in), "no-employee", "absent", or "unknown" while migrations are pending.

One Django start answers both: loading Horilla's apps takes seconds, and a converge
with nothing to do should not pay for it twice.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


class Command(BaseCommand):
    help = "Print, as JSON, the migrations the database lacks and whether the administrator can log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin", required=True, help="the administrator's user name")

    def handle(self, *args: Any, **options: Any) -> None:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        unapplied = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        admin = "unknown" if unapplied else admin_state(options["admin"])
        state = {
            "unapplied_migrations": len(unapplied),
            "first_unapplied": unapplied[:5],
            "applied_migrations": len(executor.loader.applied_migrations),
            "admin": admin,
        }
        self.stdout.write("\n" + json.dumps(state))


def admin_state(username: str) -> str:
    from django.contrib.auth import get_user_model
    from employee.models import Employee  # upstream Horilla's

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return "absent"
    return "ok" if Employee.objects.filter(employee_user_id=user).exists() else "no-employee"
