"""Which steps `make test` and `make test-all` run."""

from __future__ import annotations

import sys
import time

from lab import testrun


def molecule_steps(steps: list[testrun.Step]) -> list[str]:
    return [s.name.removeprefix("molecule ") for s in steps if s.name.startswith("molecule ")]


def test_make_test_runs_every_scenario_but_those_left_to_test_all() -> None:
    names = molecule_steps(testrun.plan(None, {"lint", "unit", "molecule"}))
    assert "common" in names
    assert names[0] == "common"  # the base first, so a broken base fails fast
    # then longest first, so the longest scenario does not run on alone at the end
    assert names[1] == "loadbalancer"
    assert not set(names) & set(testrun.OUTSIDE_MAKE_TEST)
    assert set(names) | set(testrun.OUTSIDE_MAKE_TEST) == set(testrun.scenarios())


def test_make_test_all_runs_every_scenario_in_order() -> None:
    names = molecule_steps(testrun.plan(None, {"molecule"}, everything=True))
    assert names == testrun.scenarios()
    assert names[-1] == "cluster"


def test_a_named_scenario_runs_even_when_make_test_leaves_it_out() -> None:
    steps = testrun.plan(["cluster"], {"lint", "unit", "molecule"})
    assert molecule_steps(steps) == ["cluster"]
    assert not any(s.name in ("yamllint", "pytest") for s in steps)


def test_make_test_runs_lint_and_unit_beside_prepare_and_the_first_scenario() -> None:
    steps = testrun.plan(None, {"lint", "unit", "molecule"})
    checks, first = steps[0], steps[1]
    commands = [checks.argv, *checks.then]
    assert [c[0] for c in commands[:2]] == ["yamllint", "ansible-lint"]
    assert commands[-1][1:] == ("-m", "pytest")
    assert checks.parallel and first.parallel
    # the first scenario's step prepares the engine and the images before its scenario
    assert first.argv[1:] == ("-m", "lab", "prepare")
    assert first.then == (("molecule", "test", "-s", "common"),)
    assert all(s.parallel for s in steps[2:])


def test_make_lint_and_make_unit_run_their_steps_one_by_one() -> None:
    steps = testrun.plan(None, {"lint", "unit"})
    assert [s.name for s in steps][-1] == "pytest"
    assert {"yamllint", "ansible-lint", "ruff check"} <= {s.name for s in steps}
    assert not any(s.parallel or s.then for s in steps)


def test_scenarios_without_lint_prepare_first_and_the_first_runs_alone() -> None:
    steps = testrun.plan(None, {"molecule"})
    assert steps[0].name.startswith("prepare")
    molecule = steps[1:]
    assert not molecule[0].parallel  # creates the shared apt cache alone
    assert all(s.parallel for s in molecule[1:])


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
    monkeypatch.setattr(testrun, "LOG_DIR", tmp_path)
    monkeypatch.setattr(testrun, "PROJECT_DIR", tmp_path)
    steps = [sleeper("a", 0.6), sleeper("b", 0.6), sleeper("c", 0.6)]
    started = time.monotonic()
    assert testrun.run(steps, jobs=2)
    elapsed = time.monotonic() - started
    assert [s.result for s in steps] == ["passed"] * 3
    assert elapsed < 1.7  # 3 x 0.6 s one after the other would be 1.8 s or more
    assert (tmp_path / "b.log").read_text() == "b done\n"


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
