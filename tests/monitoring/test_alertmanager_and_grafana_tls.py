"""Alertmanager's API and gossip, and Grafana's way to Prometheus, as the roles render
them: TLS everywhere, only authenticated peers and users (issue 23)."""

from __future__ import annotations

import shlex

import yaml

from lab.playbook import render_role_template

PAIR = {"monitoring": {"mon1": "192.0.2.61", "mon2": "192.0.2.62"}}
API_SECRET = "api-s3cret-for-the-grafana-test"  # noqa: S105 (a test value)


def alertmanager_args(tmp_path, groups) -> list[str]:
    text = render_role_template(tmp_path, "alertmanager", "prometheus-alertmanager.default.j2", "mon1", groups)
    line = next(line for line in text.replace("\\\n", " ").splitlines() if line.startswith("ARGS="))
    return shlex.split(shlex.split(line.removeprefix("ARGS="))[0])


def test_a_pair_of_alertmanagers_serves_its_api_with_the_web_config_and_gossips_over_mutual_tls(tmp_path):
    args = alertmanager_args(tmp_path, PAIR)
    assert "--web.config.file=/etc/prometheus/web.yml" in args
    assert "--cluster.tls-config=/etc/prometheus/alertmanager-cluster-tls.yml" in args
    assert "--cluster.listen-address=192.0.2.61:9094" in args
    (tmp_path / "tls").mkdir()
    tls = yaml.safe_load(render_role_template(tmp_path / "tls", "alertmanager", "cluster-tls.yml.j2", "mon1", PAIR))
    assert tls["tls_server_config"]["client_auth_type"] == "RequireAndVerifyClientCert"
    ca = "/etc/prometheus/tls/ca.crt"
    assert tls["tls_server_config"]["client_ca_file"] == tls["tls_client_config"]["ca_file"] == ca
    assert tls["tls_client_config"]["cert_file"] == tls["tls_server_config"]["cert_file"]


def test_a_single_alertmanager_does_not_gossip_at_all(tmp_path):
    args = alertmanager_args(tmp_path, {"monitoring": {"mon1": "192.0.2.61"}})
    assert "--web.config.file=/etc/prometheus/web.yml" in args
    assert "--cluster.listen-address=" in args
    assert not any(a.startswith("--cluster.tls-config") for a in args)


def test_grafana_asks_every_prometheus_over_https_as_the_api_user(tmp_path):
    text = render_role_template(
        tmp_path, "grafana", "datasources.yml.j2", "mon1", PAIR, {"monitoring_api_password": API_SECRET}
    )
    sources = yaml.safe_load(text)["datasources"]
    assert [s["url"] for s in sources] == ["https://192.0.2.61:9090", "https://192.0.2.62:9090"]
    for source in sources:
        assert source["basicAuth"] is True and source["basicAuthUser"] == "horilla-ops"
        assert source["secureJsonData"] == {"basicAuthPassword": API_SECRET}
