"""The Prometheus rules' check in `make lint`: promtool validates and unit-tests them.

Most rule files are copied as they are (roles/prometheus/files/rules/); the ones that
carry the MONITOR_* thresholds are templates (roles/prometheus/templates/rules/), whose
thresholds are marked with double square brackets. `render` writes the rules directory
as the role would, with the role's default thresholds or others, beside a copy of the
unit tests, which name their rule files as ../rules/<name>.

promtool comes with Debian's `prometheus` package (lab/host-packages.txt), installed
here first when missing, so a fresh CI machine has it before the check runs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from lab import host
from lab.state import PROJECT_DIR

ROLE_DIR = PROJECT_DIR / "roles" / "prometheus"
RULES_DIR = ROLE_DIR / "files"


def threshold_defaults(role_dir: Path = ROLE_DIR) -> dict[str, Any]:
    """The role's default thresholds (vars/main.yml, _prometheus_threshold_defaults)."""
    return dict(yaml.safe_load((role_dir / "vars" / "main.yml").read_text())["_prometheus_threshold_defaults"])


def rule_texts(settings: Mapping[str, Any] | None = None, role_dir: Path = ROLE_DIR) -> dict[str, str]:
    """Every project rule file by name, as the role installs it (templates rendered)."""
    texts = {path.name: path.read_text() for path in sorted((role_dir / "files" / "rules").glob("*.yml"))}
    # The template module's settings in tasks/configure.yml: the same delimiters, and
    # Ansible's trim_blocks default.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(role_dir / "templates" / "rules"),
        variable_start_string="[[",
        variable_end_string="]]",
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (YAML for Prometheus, never HTML)
    )
    thresholds = {**threshold_defaults(role_dir), **(settings or {})}
    for path in sorted((role_dir / "templates" / "rules").glob("*.rules.yml.j2")):
        texts[path.stem] = env.get_template(path.name).render(_prometheus_thresholds=thresholds)
    return texts


def render(dest: Path, settings: Mapping[str, Any] | None = None, role_dir: Path = ROLE_DIR) -> Path:
    """dest/rules (the rule files, as rule_texts) and dest/rules-tests (the unit tests)."""
    rules = dest / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for name, text in rule_texts(settings, role_dir).items():
        (rules / name).write_text(text)
    shutil.copytree(role_dir / "files" / "rules-tests", dest / "rules-tests", dirs_exist_ok=True)
    return rules


def check(role_dir: Path = ROLE_DIR) -> int:
    host.ensure_packages()
    promtool = shutil.which("promtool")
    if not promtool:
        raise host.HostError("promtool is not on PATH after installing the host packages (Debian: prometheus)")
    with tempfile.TemporaryDirectory(prefix="horilla-rules.") as tmp:
        rules_dir = render(Path(tmp), role_dir=role_dir)
        rules = sorted(str(p) for p in rules_dir.glob("*.yml"))
        tests = sorted(p.name for p in (Path(tmp) / "rules-tests").glob("*.yml"))
        if not rules or not tests:
            raise FileNotFoundError(f"no rule files or no rule tests under {role_dir}")
        code = subprocess.run([promtool, "check", "rules", *rules], check=False).returncode
        if code == 0:
            # Test files name their rule files relative to themselves.
            tests_dir = Path(tmp) / "rules-tests"
            code = subprocess.run([promtool, "test", "rules", *tests], cwd=tests_dir, check=False).returncode
    return code
