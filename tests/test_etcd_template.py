"""etcd's configuration (roles/etcd, etcd.default.j2): clients and peers on https only,
each side showing a certificate of the internal CA; http only in the steps of
playbooks/etcd-tls.yml that move a running cluster of an earlier release."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.playbook import render_role_template

GROUPS = {"etcd": {"db1": "192.0.2.31", "db2": "192.0.2.32", "mon1": "192.0.2.61"}}


def render(tmp_path: Path, **settings) -> dict[str, str]:
    settings = {"_etcd_cluster_state": "new"} | settings
    text = render_role_template(tmp_path, "etcd", "etcd.default.j2", "db1", GROUPS, settings)
    return dict(re.findall(r'(?m)^(ETCD_[A-Z_]+)="(.*)"$', text))


def test_clients_and_peers_speak_https_only_and_must_show_a_certificate(tmp_path):
    env = render(tmp_path)
    assert env["ETCD_LISTEN_CLIENT_URLS"] == "https://192.0.2.31:2379,https://127.0.0.1:2379"
    assert env["ETCD_ADVERTISE_CLIENT_URLS"] == "https://192.0.2.31:2379"
    assert env["ETCD_LISTEN_PEER_URLS"] == env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == "https://192.0.2.31:2380"
    assert env["ETCD_INITIAL_CLUSTER"] == (
        "db1=https://192.0.2.31:2380,db2=https://192.0.2.32:2380,mon1=https://192.0.2.61:2380"
    )
    assert not [(k, v) for k, v in env.items() if "http://" in v]
    assert env["ETCD_CLIENT_CERT_AUTH"] == env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    for side in ("", "PEER_"):
        assert env[f"ETCD_{side}CERT_FILE"] == "/etc/etcd/tls/server.crt"
        assert env[f"ETCD_{side}KEY_FILE"] == "/etc/etcd/tls/server.key"
        assert env[f"ETCD_{side}TRUSTED_CA_FILE"] == "/etc/etcd/tls/ca.crt"


@pytest.mark.parametrize("peer_scheme", ["http", "https"])
def test_the_move_of_a_running_cluster_keeps_http_where_asked_and_tls_settings_throughout(tmp_path, peer_scheme):
    env = render(tmp_path, _etcd_peer_scheme=peer_scheme, _etcd_plaintext_clients=True)
    assert env["ETCD_LISTEN_PEER_URLS"] == f"{peer_scheme}://192.0.2.31:2380"
    # Both schemes on one client port (etcd tells them apart); clients that know only
    # http (Patroni of the earlier release) are told of http addresses.
    assert env["ETCD_LISTEN_CLIENT_URLS"].split(",") == [
        "https://192.0.2.31:2379",
        "https://127.0.0.1:2379",
        "http://192.0.2.31:2379",
        "http://127.0.0.1:2379",
    ]
    assert env["ETCD_ADVERTISE_CLIENT_URLS"] == "http://192.0.2.31:2379"
    assert env["ETCD_PEER_CERT_FILE"] == "/etc/etcd/tls/server.crt"
    assert env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
