"""A Horilla upgrade through playbooks/rolling-deploy.yml while logged-in users work through
the VIP (issue 25, item 3), with releases made from the lab's upstream tarball the way a
new upstream release changes a model (nothing of them is kept in the project):

- "expand": a nullable field added to Employee. Upstream ships no migrations for its own
  apps, so the role generates one: refused, its operation listed with the token that
  accepts it; nothing changed (the nodes run the old release, the database lacks the
  column). With the token: a pgBackRest backup first (the restore point), the migration
  on the first node, the old code on the two others keeps working against the new
  column, every node on the new release.
- "rename": the field renamed in the code. Django's non-interactive makemigrations writes
  that as a removal and an addition (the column's data would be gone): refused, the
  removal listed as contracting; the column and its data stay.
- the documented rollback: the previous release deployed again (the added column is
  ignored by the old code, as the expand rule promises).

Figures: reports/drills/day2.json, event `horilla_upgrade`.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from lab.cluster import app, balancer, health, postgres, report, run_playbook
from lab.state import PROJECT_DIR, STATE_DIR

WORK = STATE_DIR / "upgrade-drill"
LOGS = PROJECT_DIR / ".lab" / "reports" / "logs"
EMPLOYEE_CLASS = 'class Employee(models.Model):\n    """\n    Employee model\n    """\n'
MARKER = "kept across the upgrade"
# A field name of this run: a release of the same content is the same release (its
# digest names it), and a node keeps the releases it had; the lab's database keeps the
# column an earlier run added (the rollback leaves it, as promised).
FIELD = f"drill_{uuid.uuid4().hex[:6]}"
FIRST_EMPLOYEE = "WHERE id = (SELECT min(id) FROM employee_employee)"
WRITE_MARKER = f"UPDATE employee_employee SET {FIELD} = '{MARKER}' {FIRST_EMPLOYEE}"  # noqa: S608 (constants)
READ_MARKER = f"SELECT {FIELD} FROM employee_employee {FIRST_EMPLOYEE}"  # noqa: S608 (constants)


def upstream_tarball() -> Path:
    found = sorted((PROJECT_DIR.parent / "shared" / "horilla").glob("horilla-*.tar.gz"))
    if not found:
        pytest.fail("the upgrade drill needs upstream Horilla's tarball in ../shared/horilla/")
    return found[-1]


def release(name: str, field: str | None) -> Path:
    """The upstream tarball, Employee given `field` (a nullable CharField) when named."""
    out = WORK / f"horilla-{name}.tar.gz"
    tree = WORK / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    with tarfile.open(upstream_tarball()) as archive:
        archive.extractall(tree, filter="tar")
    (top,) = tree.iterdir()
    if field:
        models = top / "employee" / "models.py"
        text = models.read_text()
        assert EMPLOYEE_CLASS in text, "upstream's Employee model changed: adapt the drill"
        added = f"    {field} = models.CharField(max_length=50, null=True, blank=True)\n"
        models.write_text(text.replace(EMPLOYEE_CLASS, EMPLOYEE_CLASS + added))
    with tarfile.open(out, "w:gz") as archive:
        archive.add(top, arcname=top.name)
    shutil.rmtree(tree)
    return out


@pytest.fixture(scope="module")
def releases() -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    # The drill's own copy of the lab's kept migrations: what it generates never reaches
    # the lab's (a later lab, on the original release, would inherit them).
    kept = WORK / "horilla-migrations"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(PROJECT_DIR / ".cache" / "horilla-migrations", kept)
    return {
        "original": upstream_tarball(),
        "expand": release("expand", FIELD),
        "rename": release("rename", f"{FIELD}_label"),
        "migrations": kept,
    }


def deploy(releases: dict[str, Path], which: str, step: str, **extra: str):
    LOGS.mkdir(parents=True, exist_ok=True)
    return run_playbook(
        "playbooks/rolling-deploy.yml",
        timeout=2400,
        log=LOGS / f"test_49-{step}.log",
        extra_vars={
            "horilla_source_type": "archive",
            "horilla_source_path": str(releases[which]),
            "horilla_migrations_dir": str(releases["migrations"]),
            **extra,
        },
    )


def releases_run() -> dict[str, str]:
    return {node: app.on_node(node, "readlink /opt/horilla/current").strip() for node in app.nodes()}


def employee_columns() -> set[str]:
    out = postgres.psql(
        postgres.leader(),
        "SELECT string_agg(column_name, ' ') FROM information_schema.columns WHERE table_name = 'employee_employee'",
        postgres.DATABASE,
    )
    return set(out.split())


def refused(run, *wanted: str) -> str:
    """The token the refusal names, after checking it names every operation wanted."""
    assert not run.ok, "the release's migrations were applied without the operator's word"
    assert "Refuse migrations nobody accepted" in run.stdout, run.tail(40)
    for text in wanted:
        assert text in run.stdout, (text, run.tail(40))
    found = re.search(r"horilla_accept_migrations=([0-9a-f]{12})", run.stdout)
    assert found, run.tail(40)
    return found.group(1)


def test_a_release_is_refused_until_accepted_then_rolled_out_and_rolled_back(releases):
    health.wait_until_healthy()
    before = releases_run()
    assert len(set(before.values())) == 1, before
    figures = {}

    def steps() -> list:
        runs = [deploy(releases, "expand", "expand-refused")]
        figures["expand_token"] = refused(runs[-1], f"Add field {FIELD} to employee", "[expand]")
        figures["after_refusal"] = (releases_run(), employee_columns())
        figures["in_rotation_after_refusal"] = {lb: balancer.server_states(lb) for lb in balancer.lbs()}
        runs.append(deploy(releases, "expand", "expand", horilla_accept_migrations=figures["expand_token"]))
        if not runs[-1].ok:
            return runs
        figures["expanded"] = (releases_run(), employee_columns())
        postgres.psql(postgres.leader(), WRITE_MARKER, postgres.DATABASE)
        runs.append(deploy(releases, "rename", "rename-refused"))
        figures["rename_token"] = refused(runs[-1], f"Remove field {FIELD} from employee", "[contract]")
        figures["after_rename_refusal"] = employee_columns()
        runs.append(deploy(releases, "original", "rollback"))
        return runs

    runs, summary, seconds = app.while_users_work(steps)
    report.add_event(
        "day2",
        {
            "name": "horilla_upgrade",
            "what": "`playbooks/rolling-deploy.yml` with a release adding a field (refused, then accepted by its"
            " token: a pgBackRest backup, the migration, the old code on the other nodes meanwhile), a release"
            " renaming it (refused: a removal), then the previous release again (the rollback)",
            "seconds": round(seconds, 1),
            "playbook_seconds": [r.seconds for r in runs],
            "requests": summary.requests,
            "failed_requests": summary.failed,
            "failed_writes": summary.failed_writes,
            "errors": summary.errors,
        },
    )
    accepted = runs[1]
    assert accepted.ok, accepted.tail(80)
    # Refused before anything changed: every node on the old release, no new column.
    assert figures["after_refusal"] == (before, figures["after_refusal"][1]), figures["after_refusal"]
    assert FIELD not in figures["after_refusal"][1]
    # The node the refusal stopped at is back in rotation on every load balancer.
    for lb, states in figures["in_rotation_after_refusal"].items():
        assert sorted(states) == sorted(app.nodes()) and all(s.startswith("UP") for s in states.values()), (lb, states)
    # Accepted: the restore point named, the column there, every node on the new release.
    # (Ansible's output may wrap the message: the label has no space in it.)
    assert re.search(r"restore_backup_id=\d{8}-\d{6}F_\d{8}-\d{6}I", accepted.stdout), accepted.tail(80)
    on_new, columns = figures["expanded"]
    assert len(set(on_new.values())) == 1 and set(on_new.values()) != set(before.values()), on_new
    assert FIELD in columns
    # The rename refused: its column and the value written to it are still there.
    assert figures["rename_token"] != figures["expand_token"]
    assert FIELD in figures["after_rename_refusal"]
    kept = postgres.psql(postgres.leader(), READ_MARKER, postgres.DATABASE)
    assert kept == MARKER, "the refused rename lost nothing"
    # Rolled back: the previous release on every node, back in every load balancer.
    rollback = runs[-1]
    assert rollback.ok, rollback.tail(80)
    assert releases_run() == before
    for lb in balancer.lbs():
        states = balancer.server_states(lb)
        assert sorted(states) == sorted(app.nodes()) and all(s.startswith("UP") for s in states.values()), (lb, states)
    health.wait_until_healthy()
    assert summary.failed <= 0.01 * summary.requests, summary
