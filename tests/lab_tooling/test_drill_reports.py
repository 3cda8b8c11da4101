"""lab/cluster/report.py: every drill report in one schema (the header, settings, events
with names, totals), the committed ones included, and the README's drill table reads it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab import readme
from lab.cluster import report

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMMITTED = sorted((PROJECT_DIR / "reports" / "drills").glob("*.json"))
SCHEMA = ["drill", "measured_at", "debian_release", "machine", "app", "settings", "events", "totals"]


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_every_committed_report_follows_the_schema(path: Path) -> None:
    data = json.loads(path.read_text())
    assert list(data) == SCHEMA
    assert path.stem in (data["drill"], f"{data['drill']}-{data['debian_release']}")
    assert isinstance(data["settings"], dict) and isinstance(data["totals"], dict)
    assert data["events"], "a report records at least one event"
    names = [e["name"] for e in data["events"]]
    assert all(isinstance(n, str) and n for n in names)
    assert len(names) == len(set(names)), "event names are unique"
    assert report.problems(data) == []


def test_the_committed_reports_are_there() -> None:
    drills = {json.loads(p.read_text())["drill"] for p in COMMITTED}
    assert {"cluster", "postgresql", "loadbalancer", "elasticsearch", "horilla", "monitoring"} <= drills
    assert {"backup", "converge-after-drill", "dashboards"} <= drills


def test_the_readme_drill_table_shows_every_committed_report() -> None:
    table = readme.drills_table()
    for row in (
        "| the Patroni leader killed (round 1) |",
        "Over the ",
        "| planned switchover",
        "HAProxy reloads under the users' load",
        "| an Elasticsearch setting rolled out |",
        "| the scheduler leader frozen",
        "| the app down on every node |",
        "| point-in-time restore",
        "| `site.yml` after the drills |",
    ):
        assert row in table, row


@pytest.fixture
def drills(tmp_path, monkeypatch) -> SimpleNamespace:
    """Reports go to a temporary directory, with a fixed header (no lab, no app to ask);
    `release` is the Debian release the header gives."""
    lab = SimpleNamespace(dir=tmp_path, release="trixie")

    def header(name: str) -> dict:
        return {
            "drill": name,
            "measured_at": "2026-12-04T18:00:00+00:00",
            "debian_release": lab.release,
            "machine": "2 cores",
            "app": "horilla@abc1234",
        }

    monkeypatch.setattr(report, "REPORTS", tmp_path)
    monkeypatch.setattr(report, "header", header)
    return lab


def test_write_then_add_event_round_trip(drills: SimpleNamespace) -> None:
    path = report.write(
        "ops",
        settings={"ceiling_seconds": 30},
        events=[{"name": "first", "seconds": 1.5}],
        totals={"events": 1},
    )
    assert path == drills.dir / "ops.json"
    assert json.loads(path.read_text()) == {
        "drill": "ops",
        "measured_at": "2026-12-04T18:00:00+00:00",
        "debian_release": "trixie",
        "machine": "2 cores",
        "app": "horilla@abc1234",
        "settings": {"ceiling_seconds": 30},
        "events": [{"name": "first", "seconds": 1.5}],
        "totals": {"events": 1},
    }
    report.add_event("ops", {"name": "second", "seconds": 2.0}, settings={"intervals": "5s"})
    report.add_event("ops", {"name": "first", "seconds": 0.5})  # replaced in its place
    data = json.loads(path.read_text())
    assert list(data) == SCHEMA
    assert data["events"] == [{"name": "first", "seconds": 0.5}, {"name": "second", "seconds": 2.0}]
    assert data["settings"] == {"ceiling_seconds": 30, "intervals": "5s"}
    assert data["totals"] == {"events": 1}, "add_event keeps the totals"


def test_add_event_starts_a_report_and_another_release_has_its_own(drills: SimpleNamespace) -> None:
    path = report.add_event("postgresql", {"name": "planned_switchover", "lost_acknowledged_commits": 0})
    data = json.loads(path.read_text())
    assert (data["settings"], data["totals"]) == ({}, {})
    assert data["events"] == [{"name": "planned_switchover", "lost_acknowledged_commits": 0}]
    drills.release = "bookworm"
    other = report.add_event("postgresql", {"name": "planned_switchover", "lost_acknowledged_commits": 1})
    assert other == drills.dir / "postgresql-bookworm.json"
    assert json.loads(path.read_text())["events"][0]["lost_acknowledged_commits"] == 0


def test_add_event_keeps_nothing_of_a_report_in_an_older_shape(drills: SimpleNamespace) -> None:
    (drills.dir / "horilla.json").write_text(json.dumps({"drill": "horilla", "frozen_scheduler_leader": {"x": 1}}))
    data = json.loads(report.add_event("horilla", {"name": "frozen_scheduler_leader", "x": 2}).read_text())
    assert list(data) == SCHEMA
    assert data["events"] == [{"name": "frozen_scheduler_leader", "x": 2}]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([{"seconds": 1.0}], id="no-name"),
        pytest.param([{"name": 3}], id="name-not-a-string"),
        pytest.param([{"name": ""}], id="empty-name"),
        pytest.param(["first"], id="not-a-dict"),
        pytest.param([{"name": "a"}, {"name": "a"}], id="same-name-twice"),
        pytest.param({"name": "a"}, id="not-a-list"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_drill(drills: SimpleNamespace, events) -> None:
    path = report.write("ops", settings={}, events=[{"name": "kept"}], totals={})
    before = path.read_text()
    with pytest.raises(ValueError, match="drill report 'ops'"):
        report.write("ops", settings={}, events=events, totals={})
    assert path.read_text() == before, "a refused report overwrites nothing"


def test_add_event_refuses_an_event_without_a_name(drills: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match="drill report 'monitoring'"):
        report.add_event("monitoring", {"seconds_failure_to_firing_notification": 48.4})
    assert not (drills.dir / "monitoring.json").exists()


def test_settings_and_totals_are_dicts(drills: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match="totals is a list"):
        report.write("ops", settings={}, events=[{"name": "a"}], totals=[])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="settings is a str"):
        report.write("ops", settings="3 users", events=[{"name": "a"}], totals={})  # type: ignore[arg-type]
