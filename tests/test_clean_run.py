"""A run prints no warning the project causes, and still every one it should.

ansible-core 2.19 warns on every run that strategy plugins outside ansible.builtin are
deprecated; the project's default strategy (plugins/strategy/mitogen_linear.py) drops
that one message. These runs prove it is gone and that other deprecations still show.
"""

from __future__ import annotations

import yaml

from lab import playbook

DEPRECATED_MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec={})
module.exit_json(changed=False, warnings=[])
"""


def run(tmp_path, task: dict, library=None):
    inventory = playbook.local_inventory(tmp_path / "hosts.yml", {"here": {"node1": "127.0.0.1"}})
    play = [{"name": "One task", "hosts": "node1", "gather_facts": False, "tasks": [task]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {"ANSIBLE_LIBRARY": str(library)} if library else None
    result = playbook.run(path, inventories=[inventory], env=env, timeout=120)
    assert result.ok, result.tail()
    return result.stdout


def test_the_default_strategy_prints_no_warning(tmp_path):
    out = run(tmp_path, {"name": "Nothing", "ansible.builtin.command": "true", "changed_when": False})
    assert "WARNING" not in out, out


def test_other_deprecations_still_show(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "old_style.py").write_text(DEPRECATED_MODULE)
    out = run(tmp_path, {"name": "Deprecated", "old_style": {}}, library=library)
    assert "[DEPRECATION WARNING]: Passing `warnings`" in out, out
    assert "strategy plugins" not in out
