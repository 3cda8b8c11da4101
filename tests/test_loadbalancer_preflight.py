"""The haproxy and keepalived roles refuse bad input in preflight, naming the variable,
through the real playbooks/preflight.yml (see test_database_preflight.py for how)."""

from __future__ import annotations

import pytest

from tests.test_database_preflight import SECRETS, run_preflight


@pytest.mark.parametrize("bad", [None, "short", "has a space in it, longer than 16"])
def test_stats_password_is_checked(tmp_path, bad):
    secrets = {k: v for k, v in SECRETS.items() if k != "haproxy_stats_password"}
    if bad is not None:
        secrets["haproxy_stats_password"] = bad
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    assert "haproxy_stats_password is missing, shorter than 16 characters" in result.stdout


@pytest.mark.parametrize("bad", [None, "short", "longer-than-eight"])
def test_vrrp_password_must_be_eight_characters(tmp_path, bad):
    secrets = {k: v for k, v in SECRETS.items() if k != "keepalived_auth_password"}
    if bad is not None:
        secrets["keepalived_auth_password"] = bad
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    assert "keepalived_auth_password is missing or not 8 letters and digits" in result.stdout


def test_the_vip_is_required(tmp_path):
    result = run_preflight(tmp_path, secrets={k: v for k, v in SECRETS.items() if k != "horilla_vip"})
    assert not result.ok
    assert "keepalived_virtual_ip must be an IPv4 address" in result.stdout


def test_a_certificate_source_is_required(tmp_path):
    """Neither the operator's PEM nor a CA to sign with: refused, naming both variables."""
    secrets = {k: v for k, v in SECRETS.items() if k != "haproxy_tls_ca_dir"}
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    assert "lb1 has no certificate for :443: set haproxy_tls_pem_file" in result.stdout
    assert "haproxy_tls_ca_dir" in result.stdout


def test_an_own_ca_must_be_complete(tmp_path):
    """haproxy_tls_ca_create off: the operator's CA directory must hold ca.crt and ca.key."""
    own = tmp_path / "own-ca"
    own.mkdir()
    (own / "ca.crt").write_text("not checked here\n")
    result = run_preflight(
        tmp_path, secrets={**SECRETS, "haproxy_tls_ca_dir": str(own), "haproxy_tls_ca_create": False}
    )
    assert not result.ok
    assert "lb1 has no certificate for :443" in result.stdout
