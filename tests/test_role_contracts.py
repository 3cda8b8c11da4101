"""Every role keeps the house contract of CONTRIBUTING.md.

defaults/main.yml and meta/argument_specs.yml must agree (same variables, same
defaults), every public variable carries the role's prefix, internal variables in
vars/ start with an underscore, the preflight entry point validates the same options
as main, and tasks/main.yml runs preflight first (unless playbooks/preflight.yml has).
"""

from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parent.parent / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks" / "main.yml").exists())


def load(path: Path):
    with path.open() as fh:
        return yaml.safe_load(fh) or {}


@pytest.fixture(params=ROLES)
def role(request) -> Path:
    return ROLES_DIR / request.param


def test_there_are_roles():
    assert "common" in ROLES
    assert "node_exporter" in ROLES


def test_defaults_and_argument_specs_agree(role):
    defaults = load(role / "defaults" / "main.yml")
    specs = load(role / "meta" / "argument_specs.yml")["argument_specs"]
    options = specs["main"]["options"]
    assert sorted(defaults) == sorted(options), "variables in defaults/ and argument_specs differ"
    for name, value in defaults.items():
        assert "default" in options[name], f"{name} has no default in argument_specs"
        assert options[name]["default"] == value, f"{name}: defaults/ and argument_specs disagree"
        assert options[name].get("description"), f"{name} has no description"
        assert "type" in options[name], f"{name} has no type"


def test_preflight_validates_the_same_options(role):
    specs = load(role / "meta" / "argument_specs.yml")["argument_specs"]
    assert "preflight" in specs, "no preflight entry point: `include_role: tasks_from: preflight` would skip validation"
    assert specs["preflight"]["options"] == specs["main"]["options"]


def test_public_variables_carry_the_role_prefix(role):
    for name in load(role / "defaults" / "main.yml"):
        assert name.startswith(f"{role.name}_"), name


def test_internal_variables_start_with_underscore(role):
    path = role / "vars" / "main.yml"
    if not path.exists():
        pytest.skip("role has no vars/")
    for name in load(path):
        assert name.startswith(f"_{role.name}_"), name


def test_main_runs_preflight_first(role):
    """First, and only when this run's playbooks/preflight.yml has not checked the host
    already (a dynamic include: skipped, it costs one task instead of every check)."""
    tasks = load(role / "tasks" / "main.yml")
    first = tasks[0]
    target = first.get("ansible.builtin.include_tasks")
    assert target in ("preflight.yml", {"file": "preflight.yml"}), first
    assert first.get("when") == "not (horilla_preflight_passed | default(false))", first


def test_templates_carry_the_ansible_managed_header(role):
    for template in (role / "templates").glob("*.j2") if (role / "templates").exists() else []:
        head = template.read_text().splitlines()[:3]
        if template.suffix == ".j2" and template.stem.endswith((".json", ".prom")):
            continue  # formats without comments, or a metrics file whose header is HELP/TYPE
        assert any("ansible_managed" in line for line in head), template.name


def test_role_has_readme(role):
    assert (role / "README.md").exists()


def test_the_horilla_preflight_knows_the_haproxy_server_timeout():
    """The horilla role's preflight compares its read hold with the load balancers'
    haproxy_app_timeout_server; without it in the inventory it falls back to the haproxy
    role's default, which it must repeat exactly (role defaults are not in hostvars)."""
    default = load(ROLES_DIR / "haproxy" / "defaults" / "main.yml")["haproxy_app_timeout_server"]
    preflight = (ROLES_DIR / "horilla" / "tasks" / "preflight.yml").read_text()
    assert preflight.count(f"default('{default}')") == 1
    assert preflight.count(f"else '{default}'") == 1
