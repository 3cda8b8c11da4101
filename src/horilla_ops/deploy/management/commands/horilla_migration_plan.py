"""`horilla-manage --release DIR horilla_migration_plan`: what a release would do to the
database, read-only (horilla_ops.deploy.migration_plan). Prints one JSON object on the
last line: "generated" (what makemigrations would write: the release did not ship it),
"regenerated" (what it would write again that the database has applied), "unapplied"
(on disk, not in the database), "applied" (how many the database has) and "token"
(what horilla_accept_migrations must be to accept the generated and contracting
operations; empty when there are none)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from horilla_ops.deploy.migration_plan import plan


class Command(BaseCommand):
    help = "Print, as JSON, the migrations this release would generate and apply, each operation classed."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("\n" + json.dumps(plan()))
