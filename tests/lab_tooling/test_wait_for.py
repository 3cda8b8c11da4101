"""lab.testing.wait_for, the one retry helper of the tests and drills (on tenacity)."""

from __future__ import annotations

import time

import pytest

from lab.testing import wait_for


def test_returns_the_first_truthy_answer_and_counts_exceptions_as_not_yet():
    answers = iter([ConnectionError("refused"), None, 0, "", "ready", "later"])

    def probe():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(probe, timeout=5, what="the service", interval=0.01) == "ready"


def test_fails_naming_what_and_the_last_answer_after_the_timeout():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"the leader: not reached within 0 s \(last: ConnectionError\('gone'\)\)"):
        wait_for(lambda: (_ for _ in ()).throw(ConnectionError("gone")), timeout=0.3, what="the leader", interval=0.05)
    assert 0.3 <= time.monotonic() - started < 2


def test_a_falsy_last_answer_is_named_too():
    with pytest.raises(AssertionError, match=r"last: \[\]"):
        wait_for(list, timeout=0.1, what="alerts", interval=0.02)
