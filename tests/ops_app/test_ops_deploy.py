"""The commands the horilla role runs at each deploy: horilla_deploy_state (what is left to
do, read-only) and horilla_ensure_admin (an administrator that can log in)."""

from __future__ import annotations

import io
import json
import sys
import uuid

import pytest


def command(name: str, *args: str, stdin: str = "") -> dict:
    from django.core.management import call_command

    out = io.StringIO()
    original, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command(name, *args, stdout=out)
    finally:
        sys.stdin = original
    return json.loads(out.getvalue().splitlines()[-1])


def account(**overrides: str) -> dict[str, str]:
    name = f"admin-{uuid.uuid4().hex[:8]}"
    return {
        "username": name,
        "password": "a-long-password-for-tests",
        "email": f"{name}@example.com",
        "first_name": "Test",
        "last_name": "Admin",
        "phone": "0000000000",
        **overrides,
    }


def test_state_of_an_unknown_administrator_is_absent(django_app):
    assert command("horilla_deploy_state", "--admin", "nobody-here") == {
        "unapplied_migrations": 0,
        "first_unapplied": [],
        "admin": "absent",
    }


def test_ensure_admin_creates_the_user_with_its_employee_record(django_app):
    from django.contrib.auth import authenticate
    from employee.models import Employee

    wanted = account()
    assert command("horilla_ensure_admin", stdin=json.dumps(wanted))["result"] == "created"
    user = authenticate(username=wanted["username"], password=wanted["password"])
    assert user is not None and user.is_superuser
    assert Employee.objects.get(employee_user_id=user).email == wanted["email"]
    assert command("horilla_deploy_state", "--admin", wanted["username"])["admin"] == "ok"


def test_a_user_without_employee_record_is_repaired(django_app):
    """The lab's old stand-in left such a user behind; Horilla refuses its login."""
    from django.contrib.auth.models import User
    from employee.models import Employee

    wanted = account()
    kept = uuid.uuid4().hex
    User.objects.create_superuser(username=wanted["username"], email=wanted["email"], password=kept)
    assert command("horilla_deploy_state", "--admin", wanted["username"])["admin"] == "no-employee"
    assert command("horilla_ensure_admin", stdin=json.dumps(wanted))["result"] == "repaired"
    user = User.objects.get(username=wanted["username"])
    assert Employee.objects.filter(employee_user_id=user).exists()
    assert user.check_password(kept), "an existing password is never reset"


def test_an_existing_administrator_is_left_alone(django_app):
    from django.contrib.auth.models import User

    wanted = account()
    command("horilla_ensure_admin", stdin=json.dumps(wanted))
    again = command("horilla_ensure_admin", stdin=json.dumps({**wanted, "password": "another-password-456"}))
    assert again["result"] == "exists"
    assert User.objects.get(username=wanted["username"]).check_password(wanted["password"])


@pytest.mark.parametrize("stdin", ["not json", json.dumps({"username": "x", "password": ""})])
def test_incomplete_input_is_refused_naming_what_is_missing(django_app, stdin):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"JSON|lacks password"):
        command("horilla_ensure_admin", stdin=stdin)


def test_state_lists_unapplied_migrations_and_leaves_the_admin_unknown(django_app):
    from django.core.management import call_command

    call_command("migrate", "jobs", "zero", verbosity=0)
    try:
        state = command("horilla_deploy_state", "--admin", "nobody-here")
    finally:
        call_command("migrate", verbosity=0)
    assert state["admin"] == "unknown"
    assert state["unapplied_migrations"] >= 1
    assert any(name.startswith("jobs.0001") for name in state["first_unapplied"])
    assert command("horilla_deploy_state", "--admin", "nobody-here")["unapplied_migrations"] == 0
