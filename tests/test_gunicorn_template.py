"""gunicorn serves TLS only, and only to clients with a certificate of the internal CA:
HAProxy, Prometheus, the blackbox exporter and the node itself (roles/horilla)."""

from __future__ import annotations

import ast
import ssl

from lab.playbook import render_role_template


def test_gunicorn_speaks_tls_only_and_requires_a_client_certificate(tmp_path) -> None:
    text = render_role_template(tmp_path, "horilla", "gunicorn.conf.py.j2", "app1", {"app": {"app1": "192.0.2.21"}}, {})
    settings = {
        node.targets[0].id: node.value
        for node in ast.parse(text).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(settings["bind"]) == ["192.0.2.21:8000"]
    assert ast.literal_eval(settings["certfile"]) == "/etc/horilla/tls/node.crt"
    assert ast.literal_eval(settings["keyfile"]) == "/etc/horilla/tls/node.key"
    assert ast.literal_eval(settings["ca_certs"]) == "/etc/horilla/tls/ca.crt"
    required = settings["cert_reqs"]
    assert isinstance(required, ast.Attribute) and getattr(ssl, required.attr) == ssl.CERT_REQUIRED
