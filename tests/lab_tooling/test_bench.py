"""lab/bench.py and lab/readme.py: per-tier seconds come from the plays' own tags, and the
README's tables are what the reports say."""

from __future__ import annotations

import json

from lab import bench, readme
from lab.playbook import PlaybookRun, PlayTiming


def test_every_play_of_the_site_belongs_to_a_tier() -> None:
    tiers = bench.play_tiers()
    assert tiers[bench.PREFLIGHT_PLAY] == "preflight"
    assert tiers["Baseline of every host"] == "base"
    assert tiers["Patroni's DCS"] == tiers["PostgreSQL managed by Patroni"] == "database"
    assert tiers["App tier"] == "app"
    assert set(tiers.values()) <= set(bench.TIERS)


def test_figures_sum_the_plays_of_each_tier() -> None:
    run = PlaybookRun(
        playbook="site.yml",
        argv=(),
        rc=0,
        status="successful",
        seconds=30.0,
        controller_cpu_s=12.5,
        stats={"ok": {"a": 5, "b": 4}, "changed": {"a": 1}, "skipped": {"b": 2}},
        plays=[
            PlayTiming(bench.PREFLIGHT_PLAY, "all", 0.0, 10.0),
            PlayTiming("Patroni's DCS", "etcd", 10.0, 8.0),
            PlayTiming("PostgreSQL managed by Patroni", "postgres", 18.0, 12.0),
        ],
        tasks=7,
    )
    figures = bench.figures(run, bench.play_tiers())
    assert figures["seconds_per_tier"] == {"preflight": 10.0, "database": 20.0}
    assert (figures["tasks_ok"], figures["tasks_changed"], figures["tasks_skipped"]) == (9, 1, 2)
    assert figures["changed_hosts"] == {"a": 1} and figures["hosts"] == 2


def test_the_readme_tables_come_from_the_reports(tmp_path) -> None:
    report = {
        "measured_at": "2026-12-04T18:00:00+00:00",
        "commit": "abc1234",
        "machine": "2 cores",
        "debian_release": "trixie",
        "app": "horilla@72e7198",
        "hosts": 13,
        "cold_converge_s": 700.0,
        "noop_rerun_s": 180.0,
        "noop_rerun_changed": 0,
        "targets": bench.TARGETS,
        "runs": {
            "cold_converge": {"seconds_per_tier": {"base": 100.0}},
            "noop_rerun": {"seconds": 180.0, "controller_cpu_s": 150.0, "seconds_per_tier": {"base": 20.0}},
            "noop_rerun_plain": {"seconds": 600.0, "controller_cpu_s": 300.0},
        },
        "before": {"note": "older tree", "cold_converge_s": 1400.0, "noop_rerun_s": 860.0},
        "changes": [{"change": "mitogen", "measure": "re-run", "before": "600 s", "after": "180 s"}],
    }
    path = tmp_path / "converge.json"
    path.write_text(json.dumps(report))
    table = readme.bench_table(path)
    assert "| re-run with nothing to do | 14.3 min (860 s) | 3.0 min (180 s) | ≤ 4.0 min (240 s) |" in table
    assert "| `docker exec` (the lab) | 3.0 min (180 s), CPU 150.0 s | 10.0 min (600 s), CPU 300.0 s |" in table
    assert "| mitogen | re-run | 600 s | 180 s |" in table
    text = "intro\n<!-- generated: bench -->\nSTALE TABLE\n<!-- end: bench -->\noutro\n"
    rendered = readme.render(text)
    assert "STALE TABLE" not in rendered and rendered.startswith("intro\n<!-- generated: bench -->\n")
    assert rendered.endswith("\n<!-- end: bench -->\noutro\n")
    empty = "intro\n<!-- generated: bench -->\n<!-- end: bench -->\noutro\n"
    assert readme.render(empty) == rendered, "an empty block is filled in too"


def test_a_report_without_a_bench_run_says_so_and_keeps_the_measured_changes(tmp_path) -> None:
    report = {
        "before": {"note": "older tree", "cold_converge_s": 1400.0, "noop_rerun_s": 860.0},
        "changes": [{"change": "mitogen", "measure": "re-run", "before": "600 s", "after": "180 s"}],
    }
    path = tmp_path / "converge.json"
    path.write_text(json.dumps(report))
    table = readme.bench_table(path)
    assert table.startswith("_No `make bench` run of this tree is on record yet")
    assert "| re-run with nothing to do | 14.3 min (860 s) |" in table
    assert "| mitogen | re-run | 600 s | 180 s |" in table
