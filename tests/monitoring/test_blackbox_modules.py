"""The blackbox exporter's probe of each app node speaks TLS to gunicorn, checks its
certificate against the internal CA and shows the monitoring host's own (gunicorn
answers no one without one)."""

from __future__ import annotations

import yaml

from lab.playbook import render_role_template


def test_app_node_probes_verify_gunicorn_and_show_the_hosts_certificate(tmp_path) -> None:
    text = render_role_template(
        tmp_path, "blackbox_exporter", "blackbox.yml.j2", "mon1", {"monitoring": {"mon1": "192.0.2.61"}}, {}
    )
    modules = yaml.safe_load(text)["modules"]
    http = modules["http_app"]["http"]
    assert http["fail_if_not_ssl"] is True
    assert http["tls_config"] == {
        "ca_file": "/etc/prometheus/tls/ca.crt",
        "cert_file": "/etc/prometheus/tls/node.crt",
        "key_file": "/etc/prometheus/tls/node.key",
    }
    assert "insecure_skip_verify" not in http["tls_config"]
    # The external services' module keeps HTTP allowed and the system's trust store.
    assert "tls_config" not in modules["http_2xx"]["http"] and "fail_if_not_ssl" not in modules["http_2xx"]["http"]
