"""No file that holds a secret goes into a file backup (issue 23, item 5).

Every host backs its files up into one restic repository, so a secret file in any
snapshot is readable by root on every other host. The files that hold secrets are the
ones tests/test_secrets_not_printed.py finds (each task whose text can reach a secret)
plus every private key a role makes on a host or the shared certificate tasks install; here each one's path,
resolved through the project's own values, must be excluded by the backup role
(backup_files_excludes + backup_files_secret_excludes, restic's --exclude patterns).
"""

from __future__ import annotations

import fnmatch
import itertools
import posixpath
import re
from functools import cache

import jinja2
import pytest
import yaml

from tests.test_secrets_not_printed import PROJECT_DIR, ROLES_DIR, load, module_of, secret_writers, tasks_of

BACKUP_DEFAULTS = ROLES_DIR / "backup" / "defaults" / "main.yml"
JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701 (paths, not HTML)
JINJA.filters.update(basename=posixpath.basename, dirname=posixpath.dirname)


def excludes() -> list[str]:
    defaults = load(BACKUP_DEFAULTS)
    return [*defaults["backup_files_excludes"], *defaults["backup_files_secret_excludes"]]


def backed_up_paths() -> list[str]:
    return load(BACKUP_DEFAULTS)["backup_files_paths"]


def excluded(path: str, patterns: list[str]) -> bool:
    """restic's --exclude: a pattern matches the path or one of its parent directories."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(2, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


@cache
def role_values() -> dict[str, list[str]]:
    """Every plain value a variable is given in roles' defaults and vars (strings only)."""
    values: dict[str, list[str]] = {}
    for path in sorted(ROLES_DIR.glob("*/defaults/main.yml")) + sorted(ROLES_DIR.glob("*/vars/main.yml")):
        for name, value in (load(path) or {}).items():
            if isinstance(value, str):
                values.setdefault(name, []).append(value)
    return values


def resolve(text: str, scope: dict, depth: int = 6) -> list[str]:
    """Every path `text` may render to, following the project's values of its variables."""
    values = role_values()
    env_names = jinja2.meta.find_undeclared_variables(JINJA.parse(text))
    if not env_names:
        return [text]
    choices = []
    for name in sorted(env_names):
        if name in scope:
            options = scope[name] if isinstance(scope[name], list) else [scope[name]]
        else:
            options = values.get(name)
        assert options, f"no value found for {name} in {text!r}"
        choices.append([(name, o if isinstance(o, dict) else str(o)) for o in options])
    out = []
    for combo in itertools.product(*choices):
        rendered = JINJA.from_string(text).render(dict(combo))
        out += resolve(rendered, scope, depth - 1) if "{{" in rendered and depth else [rendered]
    return out


def loop_items(loop: object) -> object:
    """A loop over `{{ name | dict2items }}`: an item per key the playbooks give `name`
    (ops_cli_secrets' file names); any other loop as it is written."""
    match = re.fullmatch(r"\{\{ *(\w+) *\| *dict2items *\}\}", loop) if isinstance(loop, str) else None
    if not match:
        return loop
    keys: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == match.group(1) and isinstance(value, dict):
                    keys.update(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for playbook in sorted((PROJECT_DIR / "playbooks").glob("*.yml")):
        walk(load(playbook))
    assert keys, f"no playbook gives {match.group(1)}"
    return [{"key": key} for key in sorted(keys)]


def secret_files() -> list[tuple[str, str]]:
    """(task, resolved path) of every file a role writes that holds a secret."""
    found = []
    for ident, task, _ in secret_writers():
        if ident.startswith("roles/shared/tasks/certificate.yml"):
            continue  # written where each caller says: below
        _, args = module_of(task)
        scope = dict(task.get("vars") or {})
        if task.get("loop") is not None:
            scope["item"] = loop_items(task["loop"])
        found += [(ident, path) for path in resolve(str(args["dest"]), scope)]
    # Keys made on the host itself (the shared certificate tasks make the CA's on the controller).
    for path in sorted(set(ROLES_DIR.glob("*/tasks/*.yml")) - {ROLES_DIR / "shared" / "tasks" / "certificate.yml"}):
        for task, _ in tasks_of(path):
            for key, args in task.items():
                if key.endswith((".openssh_keypair", ".openssl_privatekey")) and isinstance(args, dict):
                    ident = f"{path.relative_to(PROJECT_DIR)}: {task.get('name')}"
                    found += [(ident, p) for p in resolve(str(args["path"]), {})]
    # The shared certificate tasks install each caller's private key.
    key_defaults = load(ROLES_DIR / "shared" / "defaults" / "main.yml")
    for path in sorted(ROLES_DIR.glob("*/tasks/*.yml")):
        for task, _ in tasks_of(path):
            include = task.get("ansible.builtin.include_role") or task.get("ansible.builtin.import_role") or {}
            if include.get("tasks_from") != "certificate.yml":
                continue
            scope = {**key_defaults, **(task.get("vars") or {})}
            text = f"{scope['_shared_tls_dir']}/{scope['_shared_tls_key']}"
            found += [(f"{path.relative_to(PROJECT_DIR)}: {task.get('name')}", p) for p in resolve(text, scope)]
    return found


SECRET_FILES = secret_files()


def backed_up(path: str) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in backed_up_paths())


def test_the_secret_files_are_found():
    """Not vacuous: the known secret files and each caller's TLS key are among them."""
    paths = {path for _, path in SECRET_FILES}
    for known in (
        "/etc/horilla/horilla.env",
        "/etc/patroni/config.yml",
        "/etc/redis/redis.conf",
        "/etc/pgbackrest/pgbackrest.conf",
        "/etc/postgresql/tls/server.key",
        "/etc/haproxy/tls/horilla.pem.key",
        "/etc/elasticsearch/tls/node.key",
        "/etc/horilla-ops/backup-ssh/id_ed25519",
    ):
        assert known in paths, known


@pytest.mark.parametrize(("task", "path"), SECRET_FILES, ids=[f"{t} -> {p}" for t, p in SECRET_FILES])
def test_every_secret_file_in_a_backed_up_path_is_excluded(task, path):
    if not backed_up(path):
        pytest.skip(f"{path} is outside backup_files_paths")
    assert excluded(path, excludes()), (
        f"{task} writes a secret to {path}, which the file backups would save: add it to "
        "backup_files_secret_excludes (roles/backup/defaults/main.yml)"
    )


def test_the_exclusion_is_by_path_not_by_accident():
    """The matcher itself: a pattern covers the file and what lies under a directory, not a sibling."""
    assert excluded("/etc/haproxy/tls/horilla.pem", ["/etc/haproxy/tls"])
    assert excluded("/etc/ssh/ssh_host_ed25519_key", ["/etc/ssh/ssh_host_*_key"])
    assert not excluded("/etc/ssh/ssh_host_ed25519_key.pub", ["/etc/ssh/ssh_host_*_key"])
    assert not excluded("/etc/haproxy/haproxy.cfg.bak", ["/etc/haproxy/haproxy.cfg"])


def test_the_role_passes_both_lists_to_the_job():
    text = (ROLES_DIR / "backup" / "vars" / "main.yml").read_text()
    env = yaml.safe_load(text)["_backup_cli_settings"]
    assert "backup_files_secret_excludes" in env["HORILLA_BACKUP_FILES_EXCLUDES"]
