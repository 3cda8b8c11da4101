"""Run one of this project's playbooks and get the result as data.

The one way test code, drills and the converge benchmark run `ansible-playbook`:
through ansible-runner, so per-host counters and per-play timings come from Ansible's
own events instead of parsed text. The environment is the project's (its ansible.cfg,
the lab's name and subnet from the caller's environment), so a playbook run here
behaves as an operator's run of the same command.

    from lab import playbook
    run = playbook.run("playbooks/rolling-deploy.yml", inventories=[...])
    assert run.ok, run.tail()
    run.totals()["changed"]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from lab.state import PROJECT_DIR

COUNTERS = ("ok", "changed", "skipped", "failures", "dark", "ignored", "rescued")


@dataclass(frozen=True)
class PlayTiming:
    name: str
    hosts: str  # the play's host pattern
    started_s: float  # seconds after the run started
    seconds: float


@dataclass
class PlaybookRun:
    playbook: str
    argv: tuple[str, ...]
    rc: int
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    seconds: float
    controller_cpu_s: float  # user + system time of ansible-playbook and its workers
    stats: dict[str, dict[str, int]]  # counter -> {host: n}, Ansible's PLAY RECAP
    plays: list[PlayTiming] = field(default_factory=list)
    tasks: int = 0  # task starts (a task counts once however many hosts run it)
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def totals(self) -> dict[str, int]:
        """Each PLAY RECAP counter summed over the hosts (failures, dark: failed, unreachable)."""
        return {counter: sum(self.stats.get(counter, {}).values()) for counter in COUNTERS}

    def hosts(self) -> list[str]:
        return sorted({host for per_host in self.stats.values() for host in per_host})

    def changed_hosts(self) -> dict[str, int]:
        """Hosts that reported a change, with how many tasks changed on each."""
        return {host: n for host, n in sorted(self.stats.get("changed", {}).items()) if n}

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.stdout.splitlines()[-lines:])


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every playbook of the project runs with."""
    env = {
        # The ansible-playbook of the interpreter running this, also outside `make`.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    for name in ("LAB_NAME", "LAB_SUBNET_PREFIX", "LAB_DEBIAN_RELEASE", "LAB_CONNECTION", "ANSIBLE_STRATEGY"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def _seconds_between(first: str, second: str) -> float:
    return (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()


def run(
    playbook: str | Path,
    *,
    inventories: Iterable[str | Path],
    extra_vars: Mapping[str, object] | None = None,
    tags: Iterable[str] = (),
    skip_tags: Iterable[str] = (),
    limit: str | None = None,
    check: bool = False,
    diff: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log: Path | None = None,
) -> PlaybookRun:
    """Runs `playbook` (a path, absolute or relative to the project) and returns its result.

    `log`: also write Ansible's text output there (the run's whole stdout is in the
    result either way).
    """
    import ansible_runner  # imported late: the unit tests of other helpers do not need it

    path = Path(playbook)
    if not path.is_absolute():
        path = PROJECT_DIR / path
    argv: list[str] = []
    for inventory in inventories:
        argv += ["-i", str(inventory)]
    if tags:
        argv += ["--tags", ",".join(tags)]
    if skip_tags:
        argv += ["--skip-tags", ",".join(skip_tags)]
    if limit:
        argv += ["--limit", limit]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")

    plays: list[tuple[str, str, str]] = []  # (name, pattern, created)
    tasks = 0
    first_event: list[str] = []
    recap: dict[str, dict[str, int]] = {}

    def on_event(event: dict) -> bool:
        nonlocal tasks
        created = event.get("created")
        if created and not first_event:
            first_event.append(created)
        kind = event.get("event")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            plays.append((data.get("play", ""), data.get("play_pattern", ""), created))
        elif kind == "playbook_on_task_start":
            tasks += 1
        elif kind == "playbook_on_stats":
            recap.update({counter: dict(data.get(counter) or {}) for counter in COUNTERS})
        # Nothing is written to the artifacts' job_events: a whole-site run has tens of
        # thousands of events and the figures above are all that is kept.
        return False

    private = Path(tempfile.mkdtemp(prefix="playbook-run-"))
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    started_at = datetime.now().astimezone().isoformat()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(PROJECT_DIR),
            playbook=str(path),
            cmdline=" ".join(_quote(a) for a in argv),
            extravars=dict(extra_vars or {}),
            envvars=environment(env),
            quiet=True,
            event_handler=on_event,
            timeout=int(timeout) if timeout else None,
            suppress_env_files=True,
        )
        seconds = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with runner.stdout as handle:
            stdout = handle.read()
        stats = {counter: recap.get(counter, {}) for counter in COUNTERS}
        rc, status = runner.rc, runner.status
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if log is not None:
        log.write_text(stdout)

    timings = []
    first = first_event[0] if first_event else started_at
    for index, (name, pattern, created) in enumerate(plays):
        end = plays[index + 1][2] if index + 1 < len(plays) else None
        start_s = _seconds_between(first, created) if created else 0.0
        end_s = _seconds_between(first, end) if end else seconds
        timings.append(
            PlayTiming(name=name, hosts=pattern, started_s=round(start_s, 1), seconds=round(end_s - start_s, 1))
        )
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return PlaybookRun(
        playbook=str(path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path),
        argv=tuple(argv),
        rc=rc,
        status=status,
        seconds=round(seconds, 1),
        controller_cpu_s=round(cpu, 1),
        stats=stats,
        plays=timings,
        tasks=tasks,
        stdout=stdout,
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def local_inventory(
    path: Path,
    groups: dict[str, dict[str, str]],
    variables: dict | None = None,
    host_vars: dict[str, dict] | None = None,
) -> Path:
    """Writes a throw-away inventory to `path` and returns it: `groups` maps each group
    to {host: internal_address}, in order; every host is this machine (a local
    connection with this interpreter); `variables` are set on `all`, `host_vars` on the
    hosts they name."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    extra = host_vars or {}
    children = {
        name: {"hosts": {h: {"internal_address": address, **extra.get(h, {})} for h, address in members.items()}}
        for name, members in groups.items()
    }
    inventory = {"all": {"vars": {**local, **(variables or {})}, "children": children}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def stand_in_facts(directory: Path, facts: Mapping[str, object]) -> dict[str, str]:
    """The environment of a playbook run whose fact gathering reports `facts` instead of
    asking the host: a `setup` module in `directory`/library (the preflight's unit tests
    judge a Debian 11 host, or 17 hosts, on this machine). Plain Ansible: mitogen
    rewrites the source of any module named setup by text and refuses this one."""
    library = directory / "library"
    library.mkdir(parents=True, exist_ok=True)
    (library / "setup.py").write_text(
        "#!/usr/bin/python\nimport json\n"
        f"print(json.dumps({{'changed': False, 'ansible_facts': json.loads({json.dumps(dict(facts))!r})}}))\n"
    )
    return {"ANSIBLE_LIBRARY": str(library), "ANSIBLE_STRATEGY": "linear"}


def render_role_template(
    tmp_path: Path,
    role: str,
    template: str,
    host: str,
    groups: dict[str, dict[str, str]],
    settings: dict | None = None,
) -> str:
    """One template of a role, rendered for `host` of a throw-away inventory of local
    hosts (`groups`: group -> {host: internal_address}), as the role would write it:
    the role's defaults and vars, then `settings` over them. Nothing on the machine
    changes but the rendered file in tmp_path."""
    role_dir = PROJECT_DIR / "roles" / role
    return render_template(
        tmp_path,
        role_dir / "templates" / template,
        host,
        groups,
        settings,
        vars_files=(role_dir / "defaults" / "main.yml", role_dir / "vars" / "main.yml"),
    )


def render_template(
    tmp_path: Path,
    template: Path,
    host: str,
    groups: dict[str, dict[str, str]],
    settings: dict | None = None,
    vars_files: Iterable[Path] = (),
) -> str:
    """`template` rendered by Ansible for `host` of a throw-away inventory of local hosts,
    with `vars_files` and then `settings` (later ones win); returns the text."""
    hosts = local_inventory(tmp_path / "hosts.yml", groups)
    (tmp_path / "settings.yml").write_text(yaml.safe_dump(settings or {}))
    out = tmp_path / template.name.removesuffix(".j2")
    play = {
        "name": f"Render {template.name}",
        "hosts": host,
        "gather_facts": False,
        "vars_files": [*(str(f) for f in vars_files), str(tmp_path / "settings.yml")],
        "tasks": [
            {"name": "Render", "ansible.builtin.template": {"src": str(template), "dest": str(out), "mode": "0644"}}
        ],
    }
    (tmp_path / "render.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    rendered = run(tmp_path / "render.yml", inventories=[hosts], timeout=120)
    if not rendered.ok:
        raise AssertionError(rendered.tail())
    return out.read_text()
