"""roles/horilla's release steps look at the database change before the node switches,
and back the database up before migrating it (issue 25, item 3; drilled on the lab by
molecule/cluster/tests/test_49_upgrade.py)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "roles" / "horilla" / "tasks" / "deploy.yml"


def tasks(listed: list[dict]) -> list[dict]:
    """Every task, those of blocks and their rescues included, in order."""
    out = []
    for task in listed:
        out.append(task)
        out += tasks(task.get("block", [])) + tasks(task.get("rescue", []))
    return out


def task_names(listed: list[dict]) -> list[str]:
    return [task.get("name", "") for task in tasks(listed)]


def test_a_refused_release_puts_the_node_back_in_rotation_and_still_fails():
    (guard,) = [
        t
        for t in tasks(yaml.safe_load(DEPLOY.read_text()))
        if "Refuse migrations nobody accepted" in t.get("name", "") and "rescue" in t
    ]
    rescue = guard["rescue"]
    assert rescue[0]["ansible.builtin.include_tasks"] == "rotation_in.yml"
    # Only a node that still runs a previous release (the link switches after the check).
    assert any("lnk_source" in condition and "!= _horilla_release_dir" in condition for condition in rescue[0]["when"])
    assert "ansible.builtin.fail" in rescue[-1]


def test_the_plan_is_refused_or_accepted_before_the_switch_the_backup_and_the_migration():
    names = task_names(yaml.safe_load(DEPLOY.read_text()))
    order = [
        "Copy the kept migrations into the release",
        "Find out what this release would do to the database",
        "Refuse migrations nobody accepted",
        "Generate the migrations of this release (once)",
        "Switch the node to this release",
        "Back the database up before migrating it (once)",
        "Migrate the database (once)",
    ]
    assert [names.index(name) for name in order] == sorted(names.index(name) for name in order)


def refusal_passes(plan: dict, accept: str = "", kept: bool = True) -> bool:
    """The refusal's conditions, evaluated as Jinja for this plan and acceptance."""
    (refusal,) = [
        t for t in tasks(yaml.safe_load(DEPLOY.read_text())) if t.get("name") == "Refuse migrations nobody accepted"
    ]
    env = jinja2.Environment(autoescape=False)  # noqa: S701 (expressions, not HTML)
    facts = {"_plan": plan, "horilla_accept_migrations": accept, "_horilla_kept_migrations": {"stat": {"exists": kept}}}
    return all(env.compile_expression(c)(**facts) for c in refusal["ansible.builtin.assert"]["that"])


def test_the_refusal_needs_the_token_of_exactly_this_plan_on_a_database_with_data():
    generated = [{"migration": "employee.0002_auto", "operations": [{"describe": "Add field", "kind": "expand"}]}]
    upgrade = {"applied": 300, "generated": generated, "unapplied": [], "token": "0123456789ab"}
    assert not refusal_passes(upgrade), "generated migrations refused"
    assert not refusal_passes(upgrade, accept="ba9876543210"), "another plan's token refused"
    assert refusal_passes(upgrade, accept="0123456789ab")
    assert refusal_passes({**upgrade, "generated": [], "token": ""}), "nothing to accept"
    assert refusal_passes({**upgrade, "applied": 0}), "a fresh database: nothing to lose"
    lost = {**upgrade, "token": ""}
    assert not refusal_passes(lost, kept=False), "kept migrations missing on the controller"
