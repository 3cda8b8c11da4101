"""No task prints a secret: `ansible-playbook site.yml --check --diff` (what the README
recommends before a run) must not show a password, a key or a webhook URL.

Every task that writes a file from a template or from inline text (template, copy with
`content`, lineinfile, blockinfile) is analysed: the variables its text references
(jinja2's `find_undeclared_variables`, and string constants naming a variable, such as
`hostvars[h]['x']`), followed through every value the project gives a variable (roles'
defaults and vars, inventories' group_vars, task and block `vars`, `set_fact`). When a
secret is reachable the task must set `diff: false`. Copying a controller file that
holds a secret (the operator's TLS key) must too.

The secrets are the project's own declarations: each role's `_<role>_secrets` list, the
lab's generated secrets (inventory/lab/group_vars/all/secrets.yml), the vault names of
inventory/production.example (playbooks/vars/secrets.yml), and what private-key modules register; a name pattern
(passwords, pass phrases, webhook URLs, ...) is the safety net.

A few templates are rendered through real Ansible with marker values, to prove the
secrets the analysis follows do reach the files it guards.

The same analysis keeps secrets off command lines and out of environments: a command's
argv is world-readable in /proc on the target, and `environment:` values are shown by
`-vvv` and inherited by every child process. A task (or block, or play) whose
`environment:` can reach a secret fails, and so does a command, shell, raw, script or
expect task whose command line (`argv`, `cmd`, the free-form text) can. Such a command
takes the secret on stdin (the module's `stdin:`, under `no_log`) or from a file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import meta, nodes

from lab.playbook import render_role_template, render_template

PROJECT_DIR = Path(__file__).resolve().parent.parent
ROLES_DIR = PROJECT_DIR / "roles"
WRITERS = {"template", "copy", "lineinfile", "blockinfile"}
# The text of each writer that ends up in the file.
TEXT_ARGS = {"copy": ("content",), "lineinfile": ("line",), "blockinfile": ("block",)}
# Safety net over every variable name the project defines: what only a secret is called.
SECRET_NAME = re.compile(r"(password|passphrase|secret_key|cipher_pass|webhook_urls?|routing_key)$")
NOT_A_SECRET = re.compile(r"_(file|dir|path)$")
# Secrets a template references without writing them, proven by rendering it (below).
NOT_WRITTEN = {
    # Only tested for emptiness: Prometheus reads the password from its password_file.
    "prometheus.yml.j2": {"prometheus_haproxy_stats_password", "haproxy_stats_password"},
    # Only its bcrypt hash is written: the exporters' web config.
    "web.yml.j2": {"_shared_web_password"},
}
# Controller files copied with `src` whose content is secret (a private key).
SECRET_SOURCES = {"haproxy_tls_pem_file"}
# Modules that start a process on a command line (argv visible to every local user).
COMMANDS = {"command", "shell", "raw", "script", "expect"}
# Their arguments that end up on the command line (the free form is the module's value).
COMMAND_ARGS = ("argv", "cmd", "command", "_raw_params")


class _AnyName(dict):
    """Filters and tests of any name (Ansible's and the project's): only parsed here."""

    def __contains__(self, name) -> bool:
        return True

    def __missing__(self, name):
        return _unknown

    def get(self, name, default=None):
        return self[name]


def _unknown(*args, **kwargs):
    return None


JINJA = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])  # noqa: S701 (never rendered)
JINJA.filters = _AnyName(JINJA.filters)
JINJA.tests = _AnyName(JINJA.tests)


def load(path: Path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError:  # a vault-encrypted file: nothing to follow
        return None


def task_files() -> list[Path]:
    files = sorted(ROLES_DIR.glob("*/tasks/*.yml")) + sorted(ROLES_DIR.glob("*/handlers/*.yml"))
    files += sorted((PROJECT_DIR / "playbooks").rglob("*.yml"))
    files += sorted((PROJECT_DIR / "lab").glob("*.yml"))
    return files


def walk_tasks(tasks, inherited_vars=None):
    """(task, vars in scope from enclosing blocks) for each task, blocks flattened."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        scope = {**(inherited_vars or {}), **(task.get("vars") or {})}
        for section in ("block", "rescue", "always"):
            yield from walk_tasks(task.get(section), scope)
        yield task, scope


def tasks_of(path: Path):
    data = load(path)
    if not isinstance(data, list):
        return
    if data and isinstance(data[0], dict) and ("hosts" in data[0] or "import_playbook" in data[0]):
        for play in data:
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from walk_tasks(play.get(section), play.get("vars"))
    else:
        yield from walk_tasks(data)


def module_of(task: dict) -> tuple[str, dict] | None:
    for key, args in task.items():
        short = key.rsplit(".", 1)[-1]
        if short in WRITERS and key in (short, f"ansible.builtin.{short}") and isinstance(args, dict):
            return short, args
    return None


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def references(text: str) -> set[str]:
    """The variables a Jinja text references: its undeclared names, and string constants
    that look like variable names (hostvars[h]['x'], lookup('vars', 'x'))."""
    try:
        ast = JINJA.parse(text)
    except jinja2.TemplateError:
        return set(re.findall(r"\b[a-z_][a-z0-9_]*\b", text))  # conservative: every identifier
    found = set(meta.find_undeclared_variables(ast))
    for const in ast.find_all(nodes.Const):
        if isinstance(const.value, str) and re.fullmatch(r"[a-z_][a-z0-9_]*", const.value):
            found.add(const.value)
    return found


@cache
def definitions() -> dict[str, set[str]]:
    """Every variable the project defines -> the variables its values reference (the
    union over every place it is defined)."""
    graph: dict[str, set[str]] = {}

    def add(mapping):
        if not isinstance(mapping, dict):
            return
        for name, value in mapping.items():
            refs = graph.setdefault(str(name), set())
            for text in strings_in(value):
                refs |= references(text)

    for path in sorted(ROLES_DIR.glob("*/defaults/main.yml")) + sorted(ROLES_DIR.glob("*/vars/main.yml")):
        add(load(path))
    for path in sorted((PROJECT_DIR / "inventory").rglob("group_vars/**/*.yml")):
        add(load(path))
    for path in task_files():
        data = load(path)
        if isinstance(data, list):
            for play in data:
                if isinstance(play, dict) and "hosts" in play:
                    add(play.get("vars"))
        for task, _ in tasks_of(path):
            add(task.get("vars"))
            for key in ("set_fact", "ansible.builtin.set_fact"):
                add(task.get(key))
    return graph


@cache
def secrets() -> dict[str, str]:
    """Secret variable name -> where it is declared."""
    found: dict[str, str] = {}
    for path in sorted(ROLES_DIR.glob("*/vars/main.yml")):
        for name, value in (load(path) or {}).items():
            if not re.fullmatch(r"_[a-z0-9_]+_secrets", name):
                continue
            if isinstance(value, dict):  # the secrets' values themselves (redis' runtime settings)
                found[name] = f"{path.relative_to(PROJECT_DIR)}: {name}"
            for secret in value if isinstance(value, list) else []:  # the names of the role's secrets
                found.setdefault(secret, f"{path.relative_to(PROJECT_DIR)}: {name}")
    lab = PROJECT_DIR / "inventory/lab/group_vars/all/secrets.yml"
    for name in load(lab) or {}:
        if not name.endswith("_dir"):  # the secrets' and the CAs' directories
            found.setdefault(name, str(lab.relative_to(PROJECT_DIR)))
    catalog = PROJECT_DIR / "playbooks/vars/secrets.yml"
    for secret in load(catalog)["secrets_catalog"]:
        for name in (secret["name"], *secret.get("also", [])):
            found.setdefault(name, f"{catalog.relative_to(PROJECT_DIR)} (the vault)")
    for path in task_files():
        for task, _ in tasks_of(path):
            if any("privatekey" in key for key in task) and task.get("register"):
                found.setdefault(task["register"], f"{path.relative_to(PROJECT_DIR)}: a private key")
    for name in definitions():
        if SECRET_NAME.search(name) and not NOT_A_SECRET.search(name):
            found.setdefault(name, "its name")
    return found


def reachable_secrets(names: set[str]) -> set[str]:
    graph, secret = definitions(), secrets()
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(graph.get(name, ()))
    return seen & set(secret)


def template_sources(role_dir: Path, src: str, loop) -> list[Path]:
    """The template files a `src:` may name: `{{ item }}` takes each item of a literal
    loop; any other templated part matches any file."""
    src = src.replace("{{ role_path | dirname | dirname }}", str(PROJECT_DIR))
    if "{{ item }}" in src and isinstance(loop, list) and all(isinstance(i, str) for i in loop):
        srcs = [src.replace("{{ item }}", item) for item in loop]
    else:
        srcs = [src]
    found: list[Path] = []
    for one in srcs:
        pattern = re.sub(r"\{\{.*?\}\}", "*", one)
        base = Path(pattern) if Path(pattern).is_absolute() else role_dir / "templates" / pattern
        found += sorted(p for p in base.parent.glob(base.name) if p.is_file())
    return found


def template_text(path: Path, seen: set[Path] | None = None) -> str:
    """A template's text with the templates it includes or imports (same directory)."""
    seen = seen or set()
    seen.add(path)
    text = path.read_text()
    try:
        ast = JINJA.parse(text)
    except jinja2.TemplateSyntaxError:
        return text
    parts = [text]
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        if isinstance(node.template, nodes.Const):
            included = path.parent / node.template.value
            if included.exists() and included not in seen:
                parts.append(template_text(included, seen))
    return "\n".join(parts)


def writers():
    """(id, task, referenced variables) of every task that writes a file's content."""
    found = []
    for path in task_files():
        # A role's tasks/ file looks in the role's templates/, a playbook in its own.
        role_dir = path.parent.parent if path.parent.name == "tasks" else path.parent
        for task, scope in tasks_of(path):
            module = module_of(task)
            if module is None:
                continue
            kind, args = module
            texts: list[str] = []
            if kind == "template":
                sources = template_sources(role_dir, args["src"], task.get("loop"))
                assert sources, f"{path}: no template file for {args['src']!r}"
                texts += [template_text(p) for p in sources]
            elif kind == "copy" and "content" not in args:
                if references(str(args.get("src", ""))) & SECRET_SOURCES:
                    texts.append(str(args["src"]))
                else:
                    continue  # a file of the project or the controller: no variable in it
            for arg in TEXT_ARGS.get(kind, ()):
                texts += list(strings_in(args.get(arg, "")))
            texts += list(strings_in(task.get("loop", task.get("with_items", []))))
            refs: set[str] = set()
            for text in texts:
                refs |= references(text)
            for text in strings_in(scope):
                refs |= references(text)
            found.append((f"{path.relative_to(PROJECT_DIR)}: {task.get('name')}", task, refs))
    return found


def secret_writers():
    out = []
    for ident, task, refs in writers():
        leaked = reachable_secrets(refs) | (refs & SECRET_SOURCES)
        src = Path(str(module_of(task)[1].get("src", ""))).name
        leaked -= NOT_WRITTEN.get(src, set())
        if leaked:
            out.append((ident, task, leaked))
    return out


def command_line(task: dict) -> list[str] | None:
    """The texts of a command task that reach its command line, or None for another module."""
    for key, args in task.items():
        short = key.rsplit(".", 1)[-1]
        if short not in COMMANDS or key not in (short, f"ansible.builtin.{short}", f"ansible.legacy.{short}"):
            continue
        texts = [] if isinstance(args, dict) else list(strings_in(args))
        for extra in (args, task.get("args")):
            if isinstance(extra, dict):
                texts += [text for arg in COMMAND_ARGS for text in strings_in(extra.get(arg, ""))]
        return texts
    return None


def item_refs(task: dict, refs: set[str]) -> set[str]:
    """A loop's item stands for the loop's values: what the loop expression references."""
    loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
    if loop_var not in refs:
        return set()
    found: set[str] = set()
    for key in ("loop", "with_items", "with_dict", "with_list"):
        for text in strings_in(task.get(key, [])):
            found |= references(text)
    return found


def exposures():
    """(id, where, reachable secrets) of every task, block or play whose environment or
    command line references a secret."""
    found = []
    for path in task_files():
        rel = path.relative_to(PROJECT_DIR)
        data = load(path)
        plays = [p for p in data if isinstance(p, dict) and "hosts" in p] if isinstance(data, list) else []
        for play in plays:
            refs = {r for text in strings_in(play.get("environment", {})) for r in references(text)}
            if leaked := reachable_secrets(refs):
                found.append((f"{rel}: play {play.get('name')}", "environment", leaked))
        for task, _ in tasks_of(path):
            ident = f"{rel}: {task.get('name')}"
            places = {"environment": list(strings_in(task.get("environment", {})))}
            line = command_line(task)
            if line is not None:
                places["command line"] = line
            for where, texts in places.items():
                refs = {r for text in texts for r in references(text)}
                if leaked := reachable_secrets(refs | item_refs(task, refs)):
                    found.append((ident, where, leaked))
    return found


def test_the_secrets_are_found():
    """The declarations are read (an empty list would make the main test vacuous), and
    the name pattern flags no variable that only points at a secret's file."""
    found = secrets()
    for name in (
        "redis_password",
        "horilla_secret_key",
        "postgresql_app_password",
        "postgresql_superuser_password",
        "backup_pgbackrest_cipher_pass",
        "keepalived_auth_password",
        "alertmanager_slack_webhook_url",
        "_shared_tls_key_pem",
    ):
        assert name in found, name
    for name in ("_backup_restic_password_file", "_prometheus_haproxy_password_file", "lab_secrets_dir"):
        assert name not in found, name


def test_the_analysis_finds_the_known_secret_files():
    """Files known to hold secrets are among those the analysis flags: it is not vacuous."""
    flagged = {ident for ident, _, _ in secret_writers()}
    for ident in (
        "roles/redis/tasks/configure.yml: Write redis.conf for this server",
        "roles/redis_sentinel/tasks/configure.yml: Write sentinel.conf for this Sentinel",
        "roles/horilla/tasks/configure.yml: Write Horilla's settings (its .env; secrets, so readable by the app only)",
        "roles/postgresql/tasks/configure.yml: Configure Patroni",
        "roles/keepalived/tasks/configure.yml: Configure keepalived",
        "roles/haproxy/tasks/configure.yml: Configure HAProxy",
    ):
        assert ident in flagged, ident
    not_secret = {ident for ident, _, _ in writers()} - flagged
    assert "roles/common/tasks/configure.yml: Write the kernel settings" in not_secret


@pytest.mark.parametrize(("ident", "task", "leaked"), secret_writers(), ids=[i for i, _, _ in secret_writers()])
def test_a_task_writing_a_secret_sets_diff_false(ident, task, leaked):
    assert task.get("diff") is False, (
        f"{ident} writes {sorted(leaked)}: set `diff: false` on it, or --diff prints the secret"
    )


def test_no_secret_on_a_command_line_or_in_an_environment():
    found = [f"{ident}: its {where} can reach {sorted(leaked)}" for ident, where, leaked in exposures()]
    assert not found, (
        "pass these secrets on stdin (the module's `stdin:`, with `no_log: true`) or in a root-only file:\n"
        + "\n".join(found)
    )


def test_the_command_line_analysis_is_not_vacuous():
    """Command tasks are found, their argv and free form are read, and a loop item
    stands for the loop's values."""
    task = {
        "ansible.builtin.command": {"argv": ["redis-cli", "CONFIG", "SET", "requirepass", "{{ item }}"]},
        "loop": "{{ [redis_password] }}",
    }
    line = command_line(task)
    assert line is not None
    refs = {r for text in line for r in references(text)}
    assert reachable_secrets(refs | item_refs(task, refs)) == {"redis_password"}
    shell = {"ansible.builtin.shell": "PGPASSWORD={{ postgresql_superuser_password }} psql -c 'select 1'"}
    assert reachable_secrets({r for text in command_line(shell) for r in references(text)}) == {
        "postgresql_superuser_password"
    }
    assert command_line({"ansible.builtin.template": {"src": "x.j2"}}) is None
    commands = [task for path in task_files() for task, _ in tasks_of(path) if command_line(task) is not None]
    assert len(commands) > 50, len(commands)


# Rendered through real Ansible: the marker of a secret reaches the file its task guards.
RENDERED = [
    ("redis", "redis.conf.j2", "redis1", {"redis": {"redis1": "192.0.2.10"}}, ["redis_password"]),
    ("redis_exporter", "prometheus-redis-exporter.default.j2", "redis1", {"redis": {"redis1": "192.0.2.10"}},
     ["redis_password", "metrics_scrape_password"]),
    ("horilla", "horilla.env.j2", "app1", {"app": {"app1": "192.0.2.20"}, "postgres": {"db1": "192.0.2.30"},
                                          "loadbalancers": {"lb1": "192.0.2.40"}},
     ["horilla_secret_key", "postgresql_app_password"]),
]  # fmt: skip


@pytest.mark.parametrize(("role", "template", "host", "groups", "names"), RENDERED, ids=lambda v: str(v))
def test_the_secret_reaches_the_file(tmp_path, role, template, host, groups, names):
    settings = {name: f"MARKER-{name}-0123456789abcdef0123456789abcdef0123456789" for name in names}
    settings.setdefault("horilla_vip", "192.0.2.100")
    settings.setdefault("horilla_internal_vip", "192.0.2.99")
    settings.setdefault("_shared_redis_primary", "")  # set by the role's tasks before the template
    text = render_role_template(tmp_path, role, template, host, groups, settings)
    for name in names:
        assert f"MARKER-{name}-" in text, f"{name} does not reach {template}"
    guarded = {ident: task for ident, task, leaked in secret_writers() if set(names) <= leaked}
    assert any(
        ident.startswith(f"roles/{role}/tasks/") and template in str(module_of(task)[1].get("src"))
        for ident, task in guarded.items()
    ), f"the analysis does not flag the task writing {template}"


def test_the_exempted_secret_does_not_reach_the_file(tmp_path):
    groups = {"monitoring": {"mon1": "192.0.2.61"}, "loadbalancers": {"lb1": "192.0.2.11"}}
    marker = "MARKER-prometheus_haproxy_stats_password-0123456789"
    settings = {"prometheus_haproxy_stats_password": marker, "horilla_vip": "192.0.2.100"}
    text = render_role_template(tmp_path, "prometheus", "prometheus.yml.j2", "mon1", groups, settings)
    assert "password_file:" in text  # the branch that references the password was taken
    assert marker not in text


def test_the_exporters_web_config_holds_a_hash_that_checks_the_password_not_the_password(tmp_path):
    import bcrypt

    marker = "MARKER-metrics_scrape_password-0123456789"
    shared = ROLES_DIR / "shared"

    def render(where: Path) -> str:
        where.mkdir(exist_ok=True)
        return render_template(
            where,
            shared / "templates" / "web.yml.j2",
            "db1",
            {"postgres": {"db1": "192.0.2.31"}},
            {"metrics_scrape_password": marker},
            vars_files=[shared / "defaults" / "main.yml"],
        )

    text = render(tmp_path / "first")
    users = yaml.safe_load(text)["basic_auth_users"]
    assert marker not in text
    assert bcrypt.checkpw(marker.encode(), users["prometheus"].encode())
    assert render(tmp_path / "again") == text, "the same password gives the same file: a re-run changes nothing"
