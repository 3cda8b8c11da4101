"""Which steps `make test` and `make test-all` run."""

from __future__ import annotations

from lab import testrun


def molecule_steps(steps: list[testrun.Step]) -> list[str]:
    return [s.name.removeprefix("molecule ") for s in steps if s.name.startswith("molecule ")]


def test_make_test_runs_every_scenario_but_those_left_to_test_all() -> None:
    names = molecule_steps(testrun.plan(None, {"lint", "unit", "molecule"}))
    assert "common" in names
    assert names[0] == "common"  # the base first, so a broken base fails fast
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


def test_lint_and_unit_come_before_any_container() -> None:
    steps = testrun.plan(None, {"lint", "unit", "molecule"})
    first_molecule = next(i for i, s in enumerate(steps) if s.name.startswith("prepare"))
    assert {s.name for s in steps[:first_molecule]} >= {"yamllint", "ansible-lint", "pytest"}
