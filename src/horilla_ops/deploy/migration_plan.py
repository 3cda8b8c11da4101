"""What a release would do to the database: the migrations it lacks and whether the code
still running on the other nodes could live with each of their operations. An operation
that runs no SQL (upstream's choices, computed at import in a varying order, make
makemigrations write an AlterField of that kind on every run) changes nothing: "none".

A rolling deploy migrates the database from its first node while the others still run
the old code, so every operation applied then must leave the old code working
("expand"); anything else ("contract") must wait until no node runs code that uses what
it removes or changes, and is refused unless the operator accepts it by its token
(roles/horilla, tasks/deploy.yml). Django's non-interactive makemigrations
writes a renamed field as a RemoveField and an AddField: the column's data would be gone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Operations the old code never notices: a new table, a new or renamed index, a model
# option that lives in Python only.
_EXPAND = {
    "CreateModel",
    "AddIndex",
    "RenameIndex",
    "AlterModelOptions",
    "AlterModelManagers",
}


def kind(operation: Any, sql: list[str] | None = None) -> str:
    """ "none" when it changes nothing in the database (sql: what it would run, [] for
    nothing; None when unknown), "expand" when code that predates it keeps working after
    it, else "contract"."""
    from django.db.models import NOT_PROVIDED

    name = type(operation).__name__
    if not operation.reduces_to_sql:
        return "contract"  # RunPython: opaque
    if sql == []:
        return "none"
    if name in _EXPAND:
        return "expand"
    if name == "AddField":
        field = operation.field
        has_db_default = getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED  # Django 5
        # The old code's INSERTs leave a new column out: it must accept NULL or default
        # in the database (Django's `default` is applied by Django, then dropped).
        return "expand" if field.null or field.many_to_many or has_db_default else "contract"
    if name == "SeparateDatabaseAndState":
        return "expand" if all(kind(op) in ("none", "expand") for op in operation.database_operations) else "contract"
    return "contract"


def database_sql(app_label: str, operations: list[Any], state: Any) -> list[list[str] | None]:
    """What each operation would run in the database from `state` (Django's sqlmigrate,
    without running anything); None where it cannot be said."""
    from django.db import connection

    found: list[list[str] | None] = []
    for operation in operations:
        after = state.clone()
        try:
            operation.state_forwards(app_label, after)
            if not operation.reduces_to_sql:
                found.append(None)
            else:
                with connection.schema_editor(collect_sql=True, atomic=False) as editor:
                    operation.database_forwards(app_label, editor, state, after)
                found.append([sql for sql in editor.collected_sql if sql.strip()])
        except Exception:  # a state it cannot render (another app's change first): unknown
            found.append(None)
        state = after
    return found


def describe(app_label: str, migration_name: str, operations: list[Any], state: Any = None) -> dict[str, Any]:
    """The migration's operations, each classed (from `state`, the project's state before
    it: what it would run in the database decides "none")."""
    sql = database_sql(app_label, operations, state) if state is not None else [None] * len(operations)
    return {
        "migration": f"{app_label}.{migration_name}",
        "operations": [
            {"describe": op.describe(), "kind": kind(op, ran)} for op, ran in zip(operations, sql, strict=True)
        ],
    }


def token(generated: list[dict[str, Any]], unapplied: list[dict[str, Any]]) -> str:
    """A digest of what needs the operator's word: every generated operation, and every
    contracting one among those shipped. Generated migrations' names carry no weight (an
    automatic name may hold the time), their operations do. Empty when nothing does."""
    wanted = [
        [entry["migration"].split(".")[0], op["describe"], op["kind"]]
        for entry in generated
        for op in entry["operations"]
        if op["kind"] != "none"
    ] + [
        [entry["migration"], op["describe"], op["kind"]]
        for entry in unapplied
        for op in entry["operations"]
        if op["kind"] == "contract"
    ]
    if not wanted:
        return ""
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:12]


def plan() -> dict[str, Any]:
    """The plan of the project Django runs (its current directory's release)."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    executor = MigrationExecutor(connection)
    loader = executor.loader
    # What makemigrations --noinput would write (its own steps, without writing).
    autodetector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(apps),
        NonInteractiveMigrationQuestioner(specified_apps=None, dry_run=True),
    )
    changes = autodetector.changes(graph=loader.graph)
    pending = [m for m, _backwards in executor.migration_plan(loader.graph.leaf_nodes())]
    # A fresh database (a site's first deploy: hundreds of migrations) has nothing to
    # lose and needs nobody's word: its operations are classed by type alone, without
    # working out the SQL of each from the state before it (minutes of Django states).
    fresh = not loader.applied_migrations
    state = None if fresh else loader.project_state()
    generated, regenerated = [], []
    for app_label, migrations in sorted(changes.items()):
        for migration in migrations:
            # One the database has applied already: written again into a Django app of a
            # new virtualenv (upstream adds a field to auth's User; auth's migrations live
            # in the virtualenv, not in the release, so no kept copy reaches them).
            if (app_label, migration.name) in loader.applied_migrations:
                regenerated.append(f"{app_label}.{migration.name}")
            else:
                generated.append(describe(app_label, migration.name, migration.operations, state))
            if state is not None:
                state = migration.mutate_state(state, preserve=True)
    unapplied = [
        describe(
            m.app_label,
            m.name,
            m.operations,
            None if fresh else loader.project_state((m.app_label, m.name), at_end=False),
        )
        for m in pending
    ]
    return {
        "generated": generated,
        "regenerated": regenerated,
        "unapplied": unapplied,
        "applied": len(loader.applied_migrations),
        "token": token(generated, unapplied),
    }
