"""Which steps `make test` and `make test-all` run."""

from __future__ import annotations

import os
import sys

from lab import testrun


def molecule_steps(steps: list[testrun.Step]) -> list[str]:
    return [s.name.removeprefix("molecule ") for s in steps if s.name.startswith("molecule ")]


def test_make_test_starts_the_whole_site_first_beside_lint_and_unit() -> None:
    steps = testrun.plan(None, {"lint", "unit", "molecule"})
    first, checks = steps[0], steps[1]
    # The longest scenario starts at once, after preparing the Debian 13 images it needs.
    assert first.argv[1:] == ("-m", "lab", "prepare", "--release", "trixie")
    assert first.then == (("molecule", "test", "-s", "cluster"),)
    commands = [checks.argv, *checks.then]
    assert [c[0] for c in commands[:2]] == ["yamllint", "ansible-lint"]
    assert commands[-1][1:] == ("-m", "pytest")
    assert all(s.parallel for s in steps)
    # The small scenarios follow the checks on the second slot.
    assert molecule_steps(steps) == ["cluster", "trixie", "node_exporter"]
    assert set(molecule_steps(steps)) == set(testrun.scenarios()) - set(testrun.OUTSIDE_MAKE_TEST)


def test_make_test_all_runs_every_scenario_and_prepares_both_releases() -> None:
    steps = testrun.plan(None, {"lint", "unit", "molecule"}, everything=True)
    assert steps[0].argv[-4:] == ("--release", "trixie", "--release", "bookworm")
    assert set(molecule_steps(steps)) >= set(testrun.scenarios())
    assert "bookworm" in molecule_steps(steps)


def test_every_step_beside_the_whole_site_yields_the_cores_to_it() -> None:
    for everything in (False, True):
        steps = testrun.plan(None, {"lint", "unit", "molecule"}, everything=everything)
        whole_site = [s for s in steps if ("molecule", "test", "-s", "cluster") in (s.argv, *s.then)]
        beside = [s for s in steps if s not in whole_site]
        assert whole_site and beside
        assert all(s.niceness == 0 for s in whole_site)
        assert all(s.niceness == testrun.BESIDE_NICENESS > 0 for s in beside)


def test_a_nice_step_runs_its_commands_under_nice(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)
    show = (sys.executable, "-c", "import os; print('niceness=' + str(os.nice(0)))")
    step = testrun.Step("yielding", show, parallel=True, niceness=7)
    assert testrun.run([step, sleeper("other", 0.0)], jobs=2)
    assert f"niceness={min(19, os.nice(0) + 7)}" in (tmp_path / "yielding.log").read_text()


def test_make_test_all_adds_the_whole_site_on_debian_12() -> None:
    steps = testrun.plan(None, {"molecule"}, everything=True)
    extra = [s for s in steps if "LAB_DEBIAN_RELEASE" in s.env]
    assert [s.name for s in extra] == ["molecule cluster on Debian 12"]
    assert extra[0].argv == ("molecule", "test", "-s", "cluster")
    assert extra[0].env == {"LAB_DEBIAN_RELEASE": "bookworm", "LAB_CLUSTER_SUITE": "full"}


def test_only_make_test_all_runs_the_cluster_suite_in_full() -> None:
    """make test leaves the cluster's operations to make test-all."""
    for everything in (False, True):
        steps = testrun.plan(None, {"lint", "unit", "molecule"}, everything=everything)
        cluster = [s for s in steps if ("molecule", "test", "-s", "cluster") in (s.argv, *s.then)]
        assert cluster
        assert all((s.env.get("LAB_CLUSTER_SUITE") == "full") is everything for s in cluster)


def test_a_named_scenario_runs_alone_after_prepare() -> None:
    steps = testrun.plan(["node_exporter"], {"lint", "unit", "molecule"})
    assert molecule_steps(steps) == ["node_exporter"]
    assert len(steps) == 1 and steps[0].then == (("molecule", "test", "-s", "node_exporter"),)
    assert not any(s.name in ("yamllint", "pytest") for s in steps)


def test_make_lint_and_make_unit_run_their_steps_one_by_one() -> None:
    steps = testrun.plan(None, {"lint", "unit"})
    assert [s.name for s in steps][-1] == "pytest"
    assert {"yamllint", "ansible-lint", "ruff check"} <= {s.name for s in steps}
    assert not any(s.parallel or s.then for s in steps)


def test_a_step_passes_its_environment_to_its_commands(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)
    show = (sys.executable, "-c", "import os; print('release=' + os.environ['LAB_DEBIAN_RELEASE'])")
    step = testrun.Step("with env", show, parallel=True, env={"LAB_DEBIAN_RELEASE": "bookworm"})
    assert testrun.run([step, sleeper("other", 0.0)], jobs=2)
    assert "release=bookworm" in (tmp_path / "with-env.log").read_text()


def test_a_step_runs_its_commands_in_order_and_stops_at_a_failure(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)
    say = (sys.executable, "-c", "print('first')")
    fail = (sys.executable, "-c", "import sys; print('second'); sys.exit(4)")
    never = (sys.executable, "-c", "print('third')")
    chained = testrun.Step("chained (three commands)", say, parallel=True, then=(fail, never))
    other = sleeper("other", 0.0)
    assert not testrun.run([chained, other], jobs=2)
    assert chained.result == "failed"
    log = (tmp_path / "chained.log").read_text()
    assert "first" in log and "second" in log and "third" not in log


def sleeper(name: str, seconds: float, code: int = 0) -> testrun.Step:
    script = f"import sys, time; time.sleep({seconds}); print('{name} done'); sys.exit({code})"
    return testrun.Step(name, (sys.executable, "-c", script), parallel=True)


def test_parallel_steps_overlap_and_all_pass(tmp_path, monkeypatch) -> None:
    """Two at a time: the first two run together, the third starts when one has ended.
    Judged by the times each step logs, not by the wall time (a loaded CI machine)."""
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)

    def timed(name: str) -> testrun.Step:
        script = "import time; s = time.time(); time.sleep(1.0); print(s, time.time())"
        return testrun.Step(name, (sys.executable, "-c", script), parallel=True)

    steps = [timed("a"), timed("b"), timed("c")]
    assert testrun.run(steps, jobs=2)
    assert [s.result for s in steps] == ["passed"] * 3
    (a0, a1), (b0, b1), (c0, _) = ([float(t) for t in (tmp_path / f"{n}.log").read_text().split()] for n in "abc")
    assert a0 < b1 and b0 < a1, "a and b overlap"
    assert c0 >= min(a1, b1), "c waits for a free slot"


def test_a_failure_starts_nothing_new_and_fails_the_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)
    # "slow" outlasts "bad" by seconds, not tenths: on a loaded machine the start of a
    # Python process alone can take half a second (seen with load 27 on 2 cores).
    steps = [sleeper("bad", 0.1, code=3), sleeper("slow", 3.0), sleeper("later", 0.1)]
    assert not testrun.run(steps, jobs=2)
    assert [s.result for s in steps] == ["failed", "passed", "not run"]


def test_one_job_runs_in_order_and_stops_at_the_first_failure() -> None:
    steps = [sleeper("one", 0.0), sleeper("two", 0.0, code=1), sleeper("three", 0.0)]
    assert not testrun.run(steps, jobs=1)
    assert [s.result for s in steps] == ["passed", "failed", "not run"]


def test_a_failed_steps_summary_ends_with_what_failed() -> None:
    """CI may show only the tail of the output: the summary names the failed test and task."""
    rule = "\x1b[2m\u2502\x1b[0m"
    log = [
        f"  {rule} TASK [haproxy : Render the configuration]",
        f"  {rule} ok: [lb1]",
        f"  {rule} TASK [patroni : Wait for the leader]",
        f"  {rule} FAILED - RETRYING: [db1]: Wait for the leader (30 retries left).",
        f"  {rule} fatal: [db1]: FAILED! => {{'msg': 'timeout'}}",
        f"  {rule} TASK [horilla : Probe the optional page]",
        f"  {rule} fatal: [app1]: FAILED! => {{'msg': 'not there'}}",
        f"  {rule} ...ignoring",
        f"  {rule} molecule/cluster/tests/test_21_cache.py::test_ok PASSED [ 10%]",
        f"  {rule} E   assert 0 == 1",
        f"  {rule} FAILED molecule/cluster/tests/test_40_sla_drill.py::test_drill - assert 0 == 1",
    ]
    digest = testrun.failure_digest(log)
    assert digest == [
        "TASK [patroni : Wait for the leader]",
        "fatal: [db1]: FAILED! => {'msg': 'timeout'}",
        "E   assert 0 == 1",
        "FAILED molecule/cluster/tests/test_40_sla_drill.py::test_drill - assert 0 == 1",
    ]
    failed = testrun.Step("molecule cluster", ("molecule",), result="failed", seconds=5.0, digest=digest)
    passed = testrun.Step("molecule trixie", ("molecule",), result="passed", seconds=1.0)
    text = testrun.summary([failed, passed], 6.0).splitlines()
    assert text[-1].startswith("===== 1 passed, 1 failed")
    assert text[-6:-1] == ["===== what failed in molecule cluster =====", *digest]
