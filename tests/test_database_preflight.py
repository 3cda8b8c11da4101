"""The database and load balancer roles refuse bad input in preflight, before any host
changes, with a message naming the variable or group.

Runs the real playbooks/preflight.yml against an inventory whose hosts are this
machine (local connection). The one stand-in is fact gathering: a `setup` module in a
temporary library reports the Debian release under test, so a Debian 11 host can be
judged without one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from lab import playbook

PROJECT = Path(__file__).resolve().parent.parent

SECRETS = dict.fromkeys(
    (
        "postgresql_superuser_password",
        "postgresql_replication_password",
        "postgresql_rewind_password",
        "postgresql_patroni_api_password",
        "postgresql_app_password",
        "postgres_exporter_password",
    ),
    "x" * 32,
) | {
    # The load balancers' roles (haproxy, keepalived) and the VIP they hold.
    "haproxy_stats_password": "x" * 32,
    # Every host's exporters (TLS of the internal CA, Prometheus' scrape user).
    "metrics_scrape_password": "m" * 32,
    "metrics_tls_ca_dir": "/nonexistent/internal-ca",
    "keepalived_auth_password": "k" * 8,
    "horilla_vip": "192.0.2.100",
    "horilla_internal_vip": "192.0.2.99",
    # Where the roles may create the load balancers' and Postgres' CAs (preflight creates nothing).
    "haproxy_tls_ca_dir": "/nonexistent/haproxy-ca",
    "postgresql_tls_ca_dir": "/nonexistent/internal-ca",
}


def topology(postgres: list[str], etcd: list[str]) -> dict:
    hosts = sorted({*postgres, *etcd, "lb1"})
    octet = {h: 10 + i for i, h in enumerate(hosts)}

    def group(names: list[str]) -> dict:
        return {"hosts": {n: {"internal_address": f"192.0.2.{octet[n]}"} for n in names}}

    return {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {"postgres": group(postgres), "etcd": group(etcd), "loadbalancers": group(["lb1"])},
        }
    }


def run_preflight(
    tmp_path: Path,
    *,
    postgres: tuple[str, ...] = ("db1", "db2"),
    etcd: tuple[str, ...] = ("db1", "db2", "mon1"),
    secrets: dict | None = None,
    extra_vars: dict | None = None,
    release: str = "13",
    playbook_path: Path = PROJECT / "playbooks" / "preflight.yml",
) -> playbook.PlaybookRun:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(topology(list(postgres), list(etcd))))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(SECRETS if secrets is None else secrets))
    facts = {
        "distribution": "Debian",
        "distribution_major_version": release,
        "distribution_version": f"{release}.1",
        "default_ipv4": {"address": "192.0.2.250"},
    }
    env = playbook.stand_in_facts(tmp_path, facts)
    return playbook.run(playbook_path, inventories=[inventory], extra_vars=extra_vars, env=env, timeout=300)


def test_good_input_passes(tmp_path):
    result = run_preflight(tmp_path)
    assert result.ok, result.stdout[-3000:]


@pytest.mark.parametrize("missing", ["postgresql_replication_password", "postgres_exporter_password"])
def test_missing_secret_is_named(tmp_path, missing):
    secrets = {k: v for k, v in SECRETS.items() if k != missing}
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    assert f"{missing} is missing or shorter than 16 characters" in result.stdout


def test_short_secret_is_named(tmp_path):
    result = run_preflight(tmp_path, secrets=SECRETS | {"postgresql_superuser_password": "short"})
    assert not result.ok
    assert "postgresql_superuser_password is missing or shorter than 16 characters" in result.stdout


@pytest.mark.parametrize(
    ("changed", "told"),
    [
        ({"metrics_scrape_password": "short"}, "got a password of 5 characters"),
        ({"metrics_tls_ca_dir": ""}, "metrics_tls_ca_dir ''"),
    ],
    ids=["short-scrape-password", "no-ca"],
)
def test_exporters_without_their_scrape_password_or_ca_are_refused(tmp_path, changed, told):
    result = run_preflight(tmp_path, secrets=SECRETS | changed)
    assert not result.ok
    text = " ".join(result.stdout.split())
    assert "db1: the metrics endpoints need metrics_scrape_password" in text
    assert told in text


def test_postgres_without_a_ca_is_refused(tmp_path):
    """Postgres and etcd (whose CA follows Postgres') each refuse, naming host and variable;
    whichever preflight runs first stops the run."""
    secrets = {k: v for k, v in SECRETS.items() if k != "postgresql_tls_ca_dir"}
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    text = " ".join(result.stdout.split())
    assert (
        "Postgres' TLS needs a CA: set postgresql_tls_ca_dir" in text and "for db1" in text
    ) or "db1 needs the internal CA for etcd's TLS: set etcd_tls_ca_dir (by default postgresql_tls_ca_dir)" in text


def test_etcd_on_another_ca_than_patroni_is_refused(tmp_path):
    """Patroni shows etcd its node's certificate and checks etcd's against its own CA."""
    result = run_preflight(tmp_path, extra_vars={"etcd_tls_ca_dir": "/nonexistent/other-ca"})
    assert not result.ok
    text = " ".join(result.stdout.split())
    assert "etcd_tls_ca_dir of db1 (/nonexistent/other-ca) is not postgresql_tls_ca_dir of db1" in text


def test_a_ca_the_role_may_not_create_must_be_there(tmp_path):
    result = run_preflight(tmp_path, extra_vars={"postgresql_tls_ca_create": False})
    assert not result.ok
    assert "postgresql_tls_ca_dir=/nonexistent/internal-ca" in result.stdout


def test_single_postgres_host_is_refused(tmp_path):
    result = run_preflight(tmp_path, postgres=("db1",))
    assert not result.ok
    assert "The inventory group `postgres` (postgresql_group) has 1 host(s)" in result.stdout


@pytest.mark.parametrize("etcd", [("db1", "db2"), ("db1",)])
def test_even_or_single_etcd_membership_is_refused(tmp_path, etcd):
    result = run_preflight(tmp_path, etcd=etcd)
    assert not result.ok
    assert f"The inventory group `etcd` has {len(etcd)} member(s)" in result.stdout


def test_unsafe_etcd_membership_only_by_explicit_choice(tmp_path):
    result = run_preflight(tmp_path, etcd=("db1", "db2"), extra_vars={"etcd_allow_unsafe_member_count": True})
    assert result.ok, result.stdout[-3000:]
    assert "etcd_allow_unsafe_member_count is true and `etcd` has 2 member(s)" in result.stdout


def test_bad_patroni_timing_is_refused(tmp_path):
    result = run_preflight(tmp_path, extra_vars={"postgresql_patroni_loop_wait": 10})
    assert not result.ok
    assert "loop_wait + 2 * retry_timeout <= ttl" in result.stdout


def test_unsupported_debian_release_is_refused_by_the_postgresql_role(tmp_path):
    playbook_file = tmp_path / "postgresql-preflight.yml"
    playbook_file.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Preflight of the postgresql role alone",
                    "hosts": "postgres",
                    "tasks": [
                        {
                            "name": "Preflight postgresql",
                            "ansible.builtin.include_role": {"name": "postgresql", "tasks_from": "preflight.yml"},
                        }
                    ],
                }
            ]
        )
    )
    result = run_preflight(tmp_path, release="11", playbook_path=playbook_file)
    assert not result.ok
    assert "runs Debian 11.1; the postgresql role supports Debian 12 and 13" in result.stdout


def test_extra_parameters_may_carry_archiving(tmp_path):
    archiving = {"archive_mode": "on", "archive_command": "pgbackrest --stanza=horilla archive-push %p"}
    result = run_preflight(tmp_path, extra_vars={"postgresql_parameters_extra": archiving})
    assert result.ok, result.stdout[-3000:]


def test_extra_parameters_may_not_move_the_port(tmp_path):
    result = run_preflight(tmp_path, extra_vars={"postgresql_parameters_extra": {"port": 5433}})
    assert not result.ok
    assert "postgresql_parameters_extra may set port" in result.stdout


def test_extra_parameters_must_be_a_dictionary(tmp_path):
    result = run_preflight(tmp_path, extra_vars={"postgresql_parameters_extra": ["archive_mode=on"]})
    assert not result.ok
    assert "postgresql_parameters_extra" in result.stdout


def test_strict_synchronous_mode_on_two_members_is_refused(tmp_path):
    result = run_preflight(tmp_path, extra_vars={"postgresql_synchronous_mode_strict": True})
    assert not result.ok
    assert "postgresql_synchronous_mode_strict is true on db1, but the group `postgres` has 2 member(s)" in " ".join(
        result.stdout.split()
    )


def test_strict_synchronous_mode_is_the_default_on_three_members(tmp_path):
    """Three members: strict mode by default, and preflight accepts it."""
    result = run_preflight(tmp_path, postgres=("db1", "db2", "db3"), etcd=("db1", "db2", "db3"))
    assert result.ok, result.stdout[-3000:]


def test_required_watchdog_without_a_device_is_refused(tmp_path):
    # The device is named, not this machine's /dev/watchdog, which may exist.
    extra = {"postgresql_watchdog_mode": "required", "_postgresql_watchdog_device": str(tmp_path / "watchdog")}
    result = run_preflight(tmp_path, extra_vars=extra)
    assert not result.ok
    assert f"postgresql_watchdog_mode is required on db1, which has no {tmp_path / 'watchdog'}" in " ".join(
        result.stdout.split()
    )


@pytest.mark.parametrize(
    ("mode", "device"),
    [("required", "/dev/null"), ("automatic", "/nonexistent/watchdog")],
    ids=["required-with-a-character-device", "automatic-without-one"],
)
def test_watchdog_where_it_can_work_passes(tmp_path, mode, device):
    extra = {"postgresql_watchdog_mode": mode, "_postgresql_watchdog_device": device}
    result = run_preflight(tmp_path, extra_vars=extra)
    assert result.ok, result.stdout[-3000:]
