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
    state = command("horilla_deploy_state", "--admin", "nobody-here")
    assert state.pop("applied_migrations") > 0, "the fixture migrated the database"
    assert state == {"unapplied_migrations": 0, "first_unapplied": [], "admin": "absent"}


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


def test_the_migration_plan_of_a_migrated_release_is_empty(django_app):
    plan = command("horilla_migration_plan")
    assert plan["generated"] == [] and plan["unapplied"] == []
    assert plan["applied"] > 0 and plan["token"] == ""


def _rename_detected() -> list:
    """What makemigrations --noinput writes for a field renamed in the code."""
    from django.db import models
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.graph import MigrationGraph
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ModelState, ProjectState

    def state(field: str) -> ProjectState:
        fields = [("id", models.AutoField(primary_key=True)), (field, models.IntegerField(null=True))]
        project = ProjectState()
        project.add_model(ModelState("payroll", "Contract", fields))
        return project

    questioner = NonInteractiveMigrationQuestioner(specified_apps={"payroll"}, dry_run=True)
    changes = MigrationAutodetector(state("wage"), state("basic_pay"), questioner).changes(graph=MigrationGraph())
    return changes["payroll"][0].operations


def test_a_renamed_field_generated_without_questions_drops_the_column_as_a_contraction(django_app):
    from horilla_ops.deploy import migration_plan

    operations = _rename_detected()
    assert [type(op).__name__ for op in operations] == ["RemoveField", "AddField"]
    described = migration_plan.describe("payroll", "0002_auto", operations)["operations"]
    assert [op["kind"] for op in described] == ["contract", "expand"], described


def test_operations_the_old_code_survives_are_expanding(django_app):
    from django.db import migrations, models

    from horilla_ops.deploy.migration_plan import kind

    field = ("id", models.AutoField(primary_key=True))
    assert kind(migrations.CreateModel("Badge", [field])) == "expand"
    assert kind(migrations.AddField("contract", "note", models.TextField(null=True))) == "expand"
    assert kind(migrations.AddIndex("contract", models.Index(fields=["note"], name="note_idx"))) == "expand"
    # Django fills `default` itself and drops it from the column: the old code's INSERTs fail.
    assert kind(migrations.AddField("contract", "grade", models.IntegerField(default=1))) == "contract"
    assert kind(migrations.RenameField("contract", "wage", "basic_pay")) == "contract"
    assert kind(migrations.AlterField("contract", "note", models.CharField(max_length=10))) == "contract"
    assert kind(migrations.DeleteModel("Badge")) == "contract"
    assert kind(migrations.RunSQL("SELECT 1")) == "contract"
    # The usual first half of dropping a column: out of Django's state, the column kept.
    state_only = migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField("contract", "note")])
    assert kind(state_only) == "expand"


def test_the_token_covers_generated_and_contracting_operations_only(django_app):
    from horilla_ops.deploy.migration_plan import token

    expand = {"describe": "Add field note to contract", "kind": "expand"}
    contract = {"describe": "Remove field wage from contract", "kind": "contract"}
    shipped_expand = [{"migration": "payroll.0002_note", "operations": [expand]}]
    assert token([], []) == "" and token([], shipped_expand) == "", "nothing to accept"
    generated = [{"migration": "payroll.0002_auto_20261207_0812", "operations": [expand]}]
    renamed = [{"migration": "payroll.0002_auto_20261208_0907", "operations": [expand]}]
    assert token(generated, []) == token(renamed, []) != "", "an automatic name does not change it"
    shipped_contract = [{"migration": "payroll.0003_drop_wage", "operations": [contract]}]
    assert token([], shipped_contract) not in ("", token(generated, []))
    assert len(token([], shipped_contract)) == 12


def test_an_operation_that_runs_no_sql_changes_nothing_and_needs_no_word(django_app):
    """Upstream computes some choices at import, in a varying order: makemigrations then
    writes an AlterField that runs nothing. A column made longer runs SQL."""
    from django.db import models
    from django.db.migrations import AlterField
    from django.db.migrations.state import ModelState, ProjectState

    from horilla_ops.deploy.migration_plan import describe, token

    state = ProjectState()
    fields = [("id", models.AutoField(primary_key=True)), ("kind", models.CharField(max_length=10))]
    state.add_model(ModelState("payroll", "Contract", fields))
    reordered = AlterField("contract", "kind", models.CharField(max_length=10, choices=[("b", "B"), ("a", "A")]))
    longer = AlterField("contract", "kind", models.CharField(max_length=40))
    plan = describe("payroll", "0002_auto", [reordered, longer], state)
    assert [op["kind"] for op in plan["operations"]] == ["none", "contract"], plan
    assert token([describe("payroll", "0002_auto", [reordered], state)], []) == ""
