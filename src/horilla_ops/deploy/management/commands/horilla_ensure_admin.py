"""`horilla-manage horilla_ensure_admin`: the deployment's first administrator, able to log in.

Horilla refuses a login for a Django user without an Employee record, and says nothing
about why. This command makes sure the administrator has both:

- no such user: upstream's own `createhorillauser` creates it (superuser, Employee,
  and the "Horilla Bot" user upstream expects);
- the user exists without an Employee (created by other means): the Employee is added;
- both exist: nothing changes (the password is never reset: the administrator may
  have changed it).

The account is read as JSON from standard input, so the password never appears on a
command line: {"username", "password", "email", "first_name", "last_name", "phone"}.
Prints one JSON object on its last line: {"result": "created" | "repaired" | "exists", "username": ...}.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

FIELDS = ("username", "password", "email", "first_name", "last_name", "phone")


class Command(BaseCommand):
    help = "Create Horilla's administrator with its Employee record, or add the record it lacks (JSON on stdin)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = json.loads(sys.stdin.read())
        except ValueError as exc:
            raise CommandError(f"expected the account as JSON on standard input: {exc}") from exc
        missing = [name for name in FIELDS if not str(account.get(name) or "")]
        if missing:
            raise CommandError(f"the account lacks {', '.join(missing)}")

        from employee.models import Employee  # upstream Horilla's

        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.filter(username=account["username"]).first()
            if user is None:
                call_command(
                    "createhorillauser",
                    first_name=account["first_name"],
                    last_name=account["last_name"],
                    username=account["username"],
                    password=account["password"],
                    email=account["email"],
                    phone=account["phone"],
                    stdout=io.StringIO(),
                )
                if not Employee.objects.filter(employee_user_id__username=account["username"]).exists():
                    raise CommandError(f"createhorillauser made no Employee for {account['username']}")
                result = "created"
            elif not Employee.objects.filter(employee_user_id=user).exists():
                Employee.objects.create(
                    employee_user_id=user,
                    employee_first_name=account["first_name"],
                    employee_last_name=account["last_name"],
                    email=account["email"],
                    phone=account["phone"],
                )
                result = "repaired"
            else:
                result = "exists"
        self.stdout.write("\n" + json.dumps({"result": result, "username": account["username"]}))
