"""The project's default strategy: Ansible's linear strategy, run through mitogen.

Mitogen (https://mitogen.networkgenomics.com/ansible_detailed.html, PyPI `mitogen`)
keeps one Python interpreter per target for the whole run instead of starting one per
task, over SSH as over `docker exec`; the tasks and their results are the same.
Measured effect: reports/bench/converge.json.

This file only finds the installed package, so that ansible.cfg can name the strategy
without knowing where the virtualenv lives. Without mitogen installed it is Ansible's
own linear strategy, with a warning. Plain Ansible for one run:
    ANSIBLE_STRATEGY=linear ansible-playbook ...

ansible-core 2.19 prints a deprecation for every strategy plugin outside
ansible.builtin ("no alternative ... is currently planned") on every run. The project
uses this one knowingly (the bench measures what it saves), so that one message, and
no other, is dropped: an operator's run stays free of warnings they can do nothing
about, and every other deprecation still shows. tests/test_clean_run.py checks both.
"""

from __future__ import annotations

from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

_display = Display()

_THIRD_PARTY_STRATEGY = "Use of strategy plugins not included in ansible.builtin are deprecated"
_deprecated = _display.deprecated


def _deprecated_but_this_strategy(msg: str, *args, **kwargs):
    if str(msg).startswith(_THIRD_PARTY_STRATEGY):
        return None
    return _deprecated(msg, *args, **kwargs)


# Display is one object per process: the plugin loader's display.deprecated is this one.
_display.deprecated = _deprecated_but_this_strategy

try:
    import ansible_mitogen.strategy

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, strategy_loader.get("linear", class_only=True)):
        pass

except ImportError as exc:
    _display.warning(f"mitogen is not used ({exc}): plain Ansible, slower. pip install -r requirements.txt")
    StrategyModule = strategy_loader.get("linear", class_only=True)
