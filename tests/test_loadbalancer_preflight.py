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
