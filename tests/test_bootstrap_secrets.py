"""playbooks/bootstrap-secrets.yml: every secret of the site, generated into an
inventory's vault, listed by name and purpose, never printed; and a copy of
inventory/production.example passes the whole preflight once it has run and the
operator has added alert receivers.

The playbook runs for real on this machine (local connection). The preflight runs the
real playbooks/preflight.yml on the example's 17 hosts with two stand-ins, as in
test_database_preflight.py: every host is this machine, and fact gathering reports a
Debian 13 host. This machine reaches neither GitHub nor Elastic's and Grafana's
repositories, so the test also says where those come from (OFFLINE); an operator's
site reaches them and needs none of it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from lab import playbook

PROJECT = Path(__file__).resolve().parent.parent
CATALOG = yaml.safe_load((PROJECT / "playbooks/vars/secrets.yml").read_text())["secrets_catalog"]
NAMES = [s["name"] for s in CATALOG]

# What the operator fills in besides hosts and addresses: where alerts go.
RECEIVERS = """
alertmanager_slack_webhook_url: https://hooks.slack.com/services/T000/B000/example
alertmanager_watchdog_webhook_url: https://hc-ping.com/00000000-0000-0000-0000-000000000000
"""

# Where software comes from on this offline machine (see the module's docstring).
OFFLINE = {
    "horilla_source_type": "archive",
    "horilla_source_path": "/nonexistent/horilla.tar.gz",
    "elasticsearch_install_method": "archive",
    "elasticsearch_archive_url": "https://artifacts.elastic.co/downloads/elasticsearch/elasticsearch.tar.gz",
    "elasticsearch_archive_checksum": "sha512:" + "0" * 128,
    "grafana_when_unavailable": "skip",
}

FACTS = {
    "distribution": "Debian",
    "distribution_major_version": "13",
    "distribution_version": "13.1",
    "distribution_release": "trixie",
    "python_version": "3.13.5",
    "default_ipv4": {"address": "192.0.2.250"},
}


def bootstrap(inventory: Path, password_file: Path | None, *args: str) -> subprocess.CompletedProcess:
    env = {**playbook.environment(), "ANSIBLE_FORCE_COLOR": "0"}
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    if password_file is not None:
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(password_file)
    argv = ["ansible-playbook", "-i", "localhost,", "playbooks/bootstrap-secrets.yml"]
    argv += ["-e", f"bootstrap_inventory={inventory}", *args]
    return subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False)


def vault_of(inventory: Path, password: str) -> dict[str, str]:
    text = (inventory / "group_vars/all/vault.yml").read_bytes()
    assert text.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n"), text[:40]
    return yaml.safe_load(VaultLib([("default", VaultSecret(password.encode()))]).decrypt(text))


def changed(result: subprocess.CompletedProcess) -> int:
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", result.stdout).group(1))


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of production.example and a vault password file (mode 0600)."""
    inventory = tmp_path / "production"
    shutil.copytree(PROJECT / "inventory/production.example", inventory)
    password = "correct horse battery staple 7"  # noqa: S105 (the test vault's own)
    password_file = tmp_path / "vault-pass"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return inventory, password_file, password


def test_the_catalog_is_every_secret_the_lab_generates():
    """One list: what production bootstraps is what the lab generates, at the same lengths."""
    lab = (PROJECT / "inventory/lab/group_vars/all/secrets.yml").read_text()
    lookup = r"^(\w+):\s*>?-?\s*\"?\{\{ lookup\('ansible.builtin.password', [^,]+, length=(\d+)"
    generated = {name: int(length) for name, length in re.findall(lookup, lab, re.M)}
    assert generated == {s["name"]: s["length"] for s in CATALOG}
    aliases = dict(re.findall(r"^(\w+): \"\{\{ (\w+) \}\}\"$", lab, re.M))
    assert aliases == {other: s["name"] for s in CATALOG for other in s.get("also", [])}
    assert all(s["purpose"].strip() for s in CATALOG)


def test_every_secret_is_generated_encrypted_and_listed_by_name_never_by_value(site):
    inventory, password_file, password = site
    # -vvv and --diff: what the README's dry run and a debugging operator would see.
    result = bootstrap(inventory, password_file, "-vvv", "--diff")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

    values = vault_of(inventory, password)
    assert sorted(values) == sorted(f"vault_{n}" for n in NAMES)
    for secret in CATALOG:
        value = values[f"vault_{secret['name']}"]
        assert len(value) == secret["length"] and value.isalnum(), secret["name"]
    assert len(set(values.values())) == len(values), "two secrets got the same value"
    assert (inventory / "group_vars/all/vault.yml").stat().st_mode & 0o777 == 0o600

    output = result.stdout + result.stderr
    leaked = [name for name, value in values.items() if value in output]
    assert not leaked, f"printed: {leaked}"
    for secret in CATALOG:
        assert f"- {secret['name']} (new): {secret['purpose']}" in output

    pointers = yaml.safe_load((inventory / "group_vars/all/secrets.yml").read_text())
    expected = {n: f"{{{{ vault_{n} }}}}" for n in NAMES}
    expected |= {other: f"{{{{ vault_{s['name']} }}}}" for s in CATALOG for other in s.get("also", [])}
    assert pointers == expected


def test_a_second_run_keeps_every_secret_and_a_missing_one_is_added(site):
    inventory, password_file, password = site
    assert bootstrap(inventory, password_file).returncode == 0
    vault_file = inventory / "group_vars/all/vault.yml"
    first, first_bytes = vault_of(inventory, password), vault_file.read_bytes()

    again = bootstrap(inventory, password_file)
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed(again) == 0
    assert vault_file.read_bytes() == first_bytes
    assert "(new)" not in again.stdout

    # A release that brings a new secret: the vault lacks it; only it is generated.
    lacking = {k: v for k, v in first.items() if k != "vault_redis_password"}
    secret = [("default", VaultSecret(password.encode()))]
    vault_file.write_bytes(VaultLib(secret).encrypt(yaml.safe_dump(lacking)))
    added = bootstrap(inventory, password_file)
    assert added.returncode == 0, added.stdout[-3000:]
    after = vault_of(inventory, password)
    assert {k: v for k, v in after.items() if k != "vault_redis_password"} == lacking
    assert len(after["vault_redis_password"]) == 32 and after["vault_redis_password"] != first["vault_redis_password"]
    assert "- redis_password (new)" in added.stdout and "- postgresql_app_password (kept)" in added.stdout


def test_without_a_usable_password_file_it_stops_naming_the_variable(site, tmp_path):
    inventory, password_file, _ = site
    missing = bootstrap(inventory, None)
    assert missing.returncode != 0
    assert "bootstrap_vault_password_file" in missing.stdout and "ANSIBLE_VAULT_PASSWORD_FILE" in missing.stdout
    password_file.chmod(0o644)
    readable = bootstrap(inventory, password_file)
    assert readable.returncode != 0 and "mode 0600" in readable.stdout
    assert not (inventory / "group_vars/all/vault.yml").exists()

    # A vault that another password encrypted is left alone.
    password_file.chmod(0o600)
    assert bootstrap(inventory, password_file).returncode == 0
    before = (inventory / "group_vars/all/vault.yml").read_bytes()
    other = tmp_path / "other-pass"
    other.write_text("not the vault's password\n")
    other.chmod(0o600)
    wrong = bootstrap(inventory, other)
    assert wrong.returncode != 0 and "cannot be decrypted" in wrong.stdout
    assert (inventory / "group_vars/all/vault.yml").read_bytes() == before


def test_a_copy_of_the_example_passes_preflight_once_bootstrapped_and_given_receivers(site, tmp_path):
    inventory, password_file, _ = site
    assert bootstrap(inventory, password_file).returncode == 0
    main = inventory / "group_vars/all/main.yml"
    main.write_text(main.read_text() + RECEIVERS)

    offline = {**OFFLINE, "horilla_source_path": str(tmp_path / "horilla.tar.gz")}
    (tmp_path / "horilla.tar.gz").write_bytes(b"")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}
    env = {**playbook.stand_in_facts(tmp_path, FACTS), "ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}
    result = playbook.run(
        "playbooks/preflight.yml", inventories=[inventory], extra_vars=offline | local, env=env, timeout=600
    )
    assert result.ok, result.tail(80)
    assert len(result.hosts()) == 17

    # A load balancer that waits less for an answer than the app holds a read through a
    # database failover (horilla_db_outage_hold_seconds, 28) is refused, on an app node.
    short = playbook.run(
        "playbooks/preflight.yml",
        inventories=[inventory],
        extra_vars=offline | local | {"haproxy_app_timeout_server": "20s"},
        env=env,
        limit="app-1.hr.example.com",
        timeout=600,
    )
    assert not short.ok
    assert (
        "horilla_db_outage_hold_seconds (28, host app-1.hr.example.com) must be at least 0 and below the"
        " load balancers' haproxy_app_timeout_server (20s)"
    ) in " ".join(short.stdout.split())
