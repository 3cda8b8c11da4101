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


@pytest.mark.parametrize(
    ("internal_vip", "message"),
    [
        (None, "keepalived_internal_virtual_ip (host lb1; default: the inventory's horilla_internal_vip) must be"),
        ("192.0.2.100", "horilla_internal_vip (host lb1) is 192.0.2.100, the same as horilla_vip"),
        ("8.8.8.8", "horilla_internal_vip (host lb1) is 8.8.8.8, a public address"),
    ],
)
def test_the_internal_vip_is_required_private_and_not_the_vip(tmp_path, internal_vip, message):
    """The app reaches Postgres through HAProxy on the internal VIP: a site with a postgres
    group needs one, on the private network, and never the public VIP."""
    secrets = {k: v for k, v in SECRETS.items() if k != "horilla_internal_vip"}
    if internal_vip is not None:
        secrets["horilla_internal_vip"] = internal_vip
    result = run_preflight(tmp_path, secrets=secrets)
    assert not result.ok
    assert message in " ".join(result.stdout.split())


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
