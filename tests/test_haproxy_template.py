"""The haproxy role's file is assembled from per-concern sections; the Postgres
listeners exist only when the inventory has a `postgres` group, the Horilla frontends
only when it has an `app` group; the stats frontend always."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.playbook import render_role_template


def render(tmp_path: Path, groups: dict[str, list[str]], extra: dict | None = None) -> str:
    hosts = sorted({h for members in groups.values() for h in members} | {"lb1"})
    octet = {h: 10 + i for i, h in enumerate(hosts)}
    members_of = {**groups, "loadbalancers": ["lb1"]}
    wired = {name: {h: f"192.0.2.{octet[h]}" for h in members} for name, members in members_of.items()}
    settings = {"haproxy_stats_password": "s3cret-for-the-template-test", **(extra or {})}
    return render_role_template(tmp_path, "haproxy", "haproxy.cfg.j2", "lb1", wired, settings)


def test_postgres_listeners_follow_the_patroni_nodes(tmp_path):
    cfg = render(tmp_path, {"postgres": ["db1", "db2"]})
    assert "listen postgres_primary" in cfg
    assert "listen postgres_replicas" in cfg
    assert "http-check send meth OPTIONS uri /primary" in cfg
    assert "http-check send meth OPTIONS uri /replica?lag=16MB" in cfg
    default_servers = [line for line in cfg.splitlines() if line.strip().startswith("default-server")]
    assert len(default_servers) == 2
    assert all("on-marked-down shutdown-sessions" in line for line in default_servers)
    assert cfg.count("check port 8008") == 4
    # Patroni's REST API is https and wants a client certificate: every check verifies
    # the node's certificate (CA and name) and shows the load balancer's own.
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server db")]
    assert len(servers) == 4
    for words in servers:
        assert words[words.index("check-ssl") :] == [
            "check-ssl", "verify", "required", "ca-file", "/etc/haproxy/tls/internal-ca.crt",
            "verifyhost", words[1], "crt", "/etc/haproxy/tls/internal.pem",
        ]  # fmt: skip
        assert "ssl" not in words  # the client's own TLS to Postgres is passed through
    assert "bind 192.0.2.12:5000\n" in cfg  # lb1's internal address, not every interface
    assert "*:5000" not in cfg and "0.0.0.0" not in cfg  # noqa: S104 (asserting its absence)


def test_postgres_listeners_on_the_internal_vip_never_the_public_one(tmp_path):
    cfg = render(
        tmp_path, {"postgres": ["db1", "db2"]}, {"horilla_vip": "192.0.2.100", "horilla_internal_vip": "192.0.2.99"}
    )
    assert "bind 192.0.2.99:5000 transparent" in cfg
    assert "bind 192.0.2.99:5001 transparent" in cfg
    assert "192.0.2.100:5000" not in cfg and "192.0.2.100:5001" not in cfg


@pytest.mark.parametrize("groups", [{}, {"app": ["app1"]}])
def test_no_postgres_group_no_postgres_listeners(tmp_path, groups):
    cfg = render(tmp_path, groups)
    assert "postgres" not in cfg
    assert cfg.startswith("#")
    assert "\nglobal\n" in cfg and "\ndefaults\n" in cfg


def test_stats_frontend_internal_and_authenticated(tmp_path):
    cfg = render(tmp_path, {})
    # lb1's internal address over TLS (its certificate of the internal CA), and a plain
    # listener on loopback for keepalived's probe; nothing else.
    binds = [line.strip() for line in cfg.split("frontend stats")[1].split("\n\n")[0].splitlines() if "bind" in line]
    assert binds == ["bind 192.0.2.10:8404 ssl crt /etc/haproxy/tls/internal.pem", "bind 127.0.0.1:8404"]
    assert "tcp-request connection reject unless { src 127.0.0.1 192.0.2.10 }" in cfg
    assert "http-request auth realm haproxy unless { http_auth(stats_users) }" in cfg
    assert "user monitor insecure-password s3cret-for-the-template-test" in cfg
    # /metrics is served after the auth rule, /livez (keepalived's probe) before it.
    assert cfg.index("http_auth(stats_users)") < cfg.index("prometheus-exporter")
    assert "monitor-uri /livez" in cfg


def test_app_frontends_and_backend(tmp_path):
    cfg = render(
        tmp_path,
        {"app": ["app1", "app2", "app3"]},
        {"horilla_vip": "192.0.2.100", "horilla_public_hosts": ["hr.example.com"]},
    )
    assert "frontend horilla_http" in cfg and "frontend horilla\n" in cfg and "backend horilla\n" in cfg
    assert "bind 192.0.2.100:80 transparent\n" in cfg
    assert "bind 192.0.2.100:443 transparent ssl crt /etc/haproxy/tls/horilla.pem alpn h2,http/1.1" in cfg
    assert "http-request redirect scheme https code 301" in cfg
    assert "http-request set-header X-Forwarded-Proto https" in cfg
    assert (
        "http-check send meth GET uri /health/ready/ ver HTTP/1.1 hdr Host hr.example.com hdr X-Forwarded-Proto https"
        in cfg
    )
    assert "retry-on conn-failure empty-response response-timeout" in cfg
    assert "http-request disable-l7-retry unless METH_GET or METH_OPTIONS" in cfg
    assert "option redispatch 1" in cfg
    assert "deny_status 429 if { sc_http_req_rate(0) gt 600 }" in cfg
    ready = cfg.split("\nbackend horilla\n")[1].split("\nbackend ")[0]
    servers = [line.split()[1:3] for line in ready.splitlines() if line.strip().startswith("server app")]
    assert servers == [["app1", "192.0.2.10:8000"], ["app2", "192.0.2.11:8000"], ["app3", "192.0.2.12:8000"]]
    assert "0.0.0.0" not in cfg and "*:" not in cfg  # noqa: S104 (asserting its absence)


def app_servers(cfg: str, backend: str = "horilla") -> list[list[str]]:
    block = cfg.split(f"\nbackend {backend}\n")[1].split("\nbackend ")[0]
    return [line.split() for line in block.splitlines() if line.strip().startswith("server app")]


TLS_TO_APP = ["ssl", "verify", "required", "ca-file", "/etc/haproxy/tls/internal-ca.crt"]


def test_the_app_nodes_are_reached_over_tls_with_a_client_certificate(tmp_path):
    """gunicorn speaks TLS only and wants a certificate of the internal CA: every line, in
    both backends, checks the node's certificate (CA and name) and shows the load
    balancer's own; the health checks inherit it."""
    cfg = render(tmp_path, {"app": ["app1", "app2"]})
    for backend in ("horilla", "horilla_live"):
        servers = app_servers(cfg, backend)
        assert [words[1] for words in servers] == ["app1", "app2"]
        for words in servers:
            assert words[words.index("ssl") :] == [
                *TLS_TO_APP,
                "verifyhost",
                words[1],
                "crt",
                "/etc/haproxy/tls/internal.pem",
            ]
            assert "disabled" not in words


def test_a_site_moving_to_tls_keeps_its_http_lines_serving_beside_disabled_tls_ones(tmp_path):
    """playbooks/app-tls.yml: a node still on HTTP serves through <node>-http while its TLS
    line waits, disabled, for the playbook to put it in rotation; a node moved already has
    its TLS line only."""
    cfg = render(tmp_path, {"app": ["app1", "app2"]}, {"_haproxy_app_plain_servers": ["app2"]})
    for backend in ("horilla", "horilla_live"):
        servers = {words[1]: words for words in app_servers(cfg, backend)}
        assert list(servers) == ["app1", "app2-http", "app2"]
        assert servers["app2-http"] == ["server", "app2-http", "192.0.2.11:8000", "cookie", "app2"]
        assert servers["app2"][3:8] == TLS_TO_APP and servers["app2"][-1] == "disabled"
        assert "cookie" not in servers["app2"]  # one node, one cookie value: the serving line's
        assert "disabled" not in servers["app1"] and "ssl" in servers["app1"]


def test_rate_limit_off_and_exemptions(tmp_path):
    cfg = render(tmp_path, {"app": ["app1"]}, {"haproxy_app_rate_limit_requests": 0})
    assert "stick-table" not in cfg and "429" not in cfg
    cfg = render(tmp_path, {"app": ["app1"]}, {"haproxy_app_rate_limit_exempt": ["198.51.100.0/24"]})
    assert "http-request track-sc0 src unless { src 198.51.100.0/24 }" in cfg


def test_no_cookie_when_persistence_is_off(tmp_path):
    cfg = render(tmp_path, {"app": ["app1"]}, {"haproxy_app_cookie_persistence": False})
    assert not [line for line in cfg.splitlines() if "cookie" in line and not line.lstrip().startswith("#")]


def test_the_app_fails_open_to_live_nodes_when_none_is_ready(tmp_path):
    """A dependency every node shares (the database failing over) fails every node's
    readiness at once: the frontend then routes to the same nodes checked for liveness."""
    cfg = render(tmp_path, {"app": ["app1", "app2"]})
    assert "use_backend horilla_live if { nbsrv(horilla) eq 0 }\n    default_backend horilla\n" in cfg
    ready, live = cfg.split("\nbackend horilla\n")[1], cfg.split("\nbackend horilla_live\n")[1]
    assert "uri /health/ready/ " in ready.split("\nbackend ")[0]
    assert "uri /health/live/ " in live
    for backend in (ready.split("\nbackend ")[0], live):
        assert "server app1 192.0.2.10:8000 cookie app1" in backend
        assert "server app2 192.0.2.11:8000 cookie app2" in backend
    closed = render(tmp_path, {"app": ["app1", "app2"]}, {"haproxy_app_fail_open": False})
    assert "horilla_live" not in closed and "default_backend horilla\n" in closed
