"""The load balancer pair, checked by what it does: one VIP holder, HTTP redirected to
HTTPS, TLS with HTTP/2 and security headers, every app node in rotation, stats and
metrics behind auth and internal only, failing open to the live app nodes when none is
ready, a rate limit answering 429, an invalid configuration refused while the old one
keeps serving, and keepalived giving the VIP up when HAProxy stops (last: it moves the
VIP). Its drills under load are the site's (test_40_sla_drill.py)."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess

import pytest
import requests

from lab import testing
from lab.cluster import balancer as lb
from lab.cluster import run_playbook

testinfra_hosts = testing.hosts("loadbalancers")


@pytest.fixture(scope="module", autouse=True)
def settled():
    testing.wait_for(lambda: len(lb.vip_holders()) == 1, 30, "one VIP holder")
    for name in lb.lbs():
        testing.wait_for(lambda name=name: lb.all_up(name), 60, f"every app node UP on {name}")


def me(host) -> str:
    return host.check_output("hostname")


def curl(host, args: str) -> str:
    return host.check_output(f"curl -s {args}")


# --- on each load balancer ----------------------------------------------------------


def test_services_run_and_start_at_boot(host):
    for unit in ("haproxy", "keepalived"):
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit


def test_listeners_are_the_internal_address_and_the_vip_only(host):
    address = testing.address(me(host))
    for port in (80, 443):
        assert host.socket(f"tcp://{address}:{port}").is_listening
        assert host.socket(f"tcp://{lb.vip()}:{port}").is_listening, "bound with transparent, VIP or not"
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert host.socket(f"tcp://{address}:8404").is_listening
    assert host.socket("tcp://127.0.0.1:8404").is_listening  # keepalived's probe, in clear on loopback
    assert not host.socket(f"tcp://{lb.vip()}:8404").is_listening
    assert not host.socket("tcp://0.0.0.0:8404").is_listening
    # The database: on the private network only (the internal VIP), never the public VIP.
    for port in (5000, 5001):
        assert host.socket(f"tcp://{lb.internal_vip()}:{port}").is_listening, port
        assert not host.socket(f"tcp://{lb.vip()}:{port}").is_listening, port
        assert not host.socket(f"tcp://{lb.internal_vip()}:{80 if port == 5000 else 443}").is_listening


def test_every_app_node_is_up(host):
    assert lb.server_states(me(host)) == dict.fromkeys(lb.app_nodes(), "UP")
    # The fail-open backend: the same nodes, in rotation while their process answers.
    assert lb.server_states(me(host), lb.FAIL_OPEN_BACKEND) == dict.fromkeys(lb.app_nodes(), "UP")


def test_stats_and_metrics_need_tls_and_authentication(host):
    """On the internal address: TLS with the load balancer's certificate of the internal
    CA (checked by name), then basic auth; plain http gets nothing."""
    name = me(host)
    address = testing.address(name)
    base = f"https://{address}:8404"
    ca = "/etc/haproxy/tls/internal-ca.crt"
    password = host.check_output("grep -Po '(?<=insecure-password ).*' /etc/haproxy/haproxy.cfg")
    assert host.run(f"curl -sf --max-time 5 -o /dev/null http://{address}:8404/livez").rc != 0
    assert (
        host.run(f"curl -s --max-time 5 -o /dev/null --cacert {ca} --resolve other.name:8404:{address} "
                 "https://other.name:8404/livez").rc == 60
    ), "the certificate names the load balancer, not any name"  # fmt: skip
    base = f"--cacert {ca} {base}"
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' {base}/metrics") == "401"
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' {base}/stats") == "401"
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' -u monitor:wrong-password {base}/metrics") == "401"
    metrics = curl(host, f"-u monitor:{password} {base}/metrics")
    # The series the monitoring tier's rules use, with real values.
    active = re.search(r'^haproxy_backend_active_servers\{proxy="horilla"\} (\d+)', metrics, re.M)
    assert active and int(active.group(1)) == len(lb.app_nodes())
    assert re.search(r'^haproxy_frontend_http_requests_total\{proxy="horilla"\} \d+', metrics, re.M)
    assert 'haproxy_server_check_status{proxy="horilla",server="app1"' in metrics
    assert "Statistics Report" in curl(host, f"-u monitor:{password} {base}/stats")
    # keepalived's probe: answered by HAProxy itself, without credentials, on loopback.
    assert curl(host, f"-o /dev/null -w '%{{http_code}}' {base}/livez") == "200"
    assert curl(host, "-o /dev/null -w '%{http_code}' http://127.0.0.1:8404/livez") == "200"
    assert "check-haproxy" in host.check_output("grep -h script /etc/keepalived/keepalived.conf")
    assert "http://127.0.0.1:8404/livez" in host.file("/etc/keepalived/check-haproxy").content_string


def test_stats_refuse_clients_outside_the_inventory(host):
    """The test host (the lab's gateway) is in no inventory group: refused even with credentials."""
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"https://{testing.address(me(host))}:8404/metrics",
            timeout=5,
            auth=("monitor", "x"),
            verify=testing.internal_ca_file(),
        )


def test_every_load_balancer_serves_a_certificate_of_the_site_ca_for_the_vip(host):
    """Whichever load balancer holds the VIP, a client that trusts the site's CA (and
    nothing else) verifies the certificate for the VIP's address; each serves its own."""
    address = testing.address(me(host))
    served = host.check_output(
        f"echo | openssl s_client -connect {address}:443 2>/dev/null | openssl x509 -noout -fingerprint"
    )
    on_disk = host.check_output("openssl x509 -in /etc/haproxy/tls/horilla.pem -noout -fingerprint")
    assert served == on_disk
    context = ssl.create_default_context(cafile=lb.ca_file())
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=lb.vip()) as tls,
    ):
        names = [value for kind, value in tls.getpeercert()["subjectAltName"]]
    assert lb.vip() in names and me(host) in names, names
    # The key stays on the host, readable by root only.
    assert host.file("/etc/haproxy/tls/horilla.pem.key").user == "root"
    assert host.file("/etc/haproxy/tls/horilla.pem.key").mode & 0o007 == 0


def test_runtime_api_answers_root(host):
    info = lb.runtime(me(host), "show info")
    assert re.search(r"^Name: HAProxy$", info, re.M)
    assert host.file("/run/haproxy/admin.sock").mode == 0o660


# --- through the VIP --------------------------------------------------------------------


def test_vip_is_on_exactly_one_load_balancer():
    assert len(lb.vip_holders()) == 1
    # The internal VIP moves with it (one VRRP instance).
    assert lb.vip_holders(lb.internal_vip()) == lb.vip_holders()


def test_plain_http_redirects_to_https():
    response = requests.get(f"http://{lb.vip()}/some/page?x=1", timeout=5, allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{lb.vip()}/some/page?x=1"


def test_https_serves_the_app_with_security_headers_and_a_request_id():
    response = requests.get(lb.https("/login/"), timeout=10, verify=lb.ca_file())
    assert response.status_code == 200
    assert "<title>Login - Horilla" in response.text
    headers = response.headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Server" not in headers
    # The app echoes the id HAProxy generated (and logs it): a client cannot choose it.
    assert headers["X-Request-ID"] and headers["X-Request-ID"] != "forged"
    forged = requests.get(lb.https("/login/"), timeout=10, verify=lb.ca_file(), headers={"X-Request-ID": "forged"})
    assert forged.headers["X-Request-ID"] != "forged"
    # The persistence cookie names the node that answered, Secure and HttpOnly.
    # (The app sets its own cookies too: look at HAProxy's among them.)
    cookie = re.search(r"HORILLA_LB=app[123];[^,]*", headers["Set-Cookie"])
    assert cookie and "Secure" in cookie.group(0) and "HttpOnly" in cookie.group(0), headers["Set-Cookie"]


def test_http2_and_modern_tls_only():
    gateway = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--http2",
            "--cacert",
            lb.ca_file(),
            lb.https("/login/"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert gateway.stdout == "2"
    old_tls = subprocess.run(
        ["curl", "-s", "--tls-max", "1.1", "--cacert", lb.ca_file(), lb.https("/login/")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert old_tls.returncode != 0, "TLS 1.1 must be refused"


def test_internal_app_endpoints_are_not_published():
    for path in ("/metrics/", "/health/detailed/"):
        assert requests.get(lb.https(path), timeout=10, verify=lb.ca_file()).status_code == 404, path
    assert requests.get(lb.https("/health/ready/"), timeout=10, verify=lb.ca_file()).status_code == 200


def test_cookie_keeps_a_client_on_its_node():
    session = requests.Session()
    # verify per request: a session-wide one loses to $REQUESTS_CA_BUNDLE in requests.
    node = session.get(lb.https("/login/"), timeout=10, verify=lb.ca_file()).cookies["HORILLA_LB"]
    for _ in range(6):
        response = session.get(lb.https("/login/"), timeout=10, verify=lb.ca_file())
        assert response.status_code == 200
        assert "HORILLA_LB" not in response.headers.get("Set-Cookie", ""), "the cookie is set once, then honoured"
    assert session.cookies["HORILLA_LB"] == node


def test_no_ready_app_node_fails_open_to_the_live_ones():
    """Every node out of the ready backend at once (what a dependency all of them share
    does to their readiness): the users are served by the nodes whose process answers,
    not by a 503 from HAProxy. The nodes are taken out by hand on the VIP holder."""
    holder = lb.vip_holders()[0]
    served = lb.fail_open_served(holder)
    try:
        for node in lb.app_nodes():
            lb.runtime(holder, f"set server {lb.BACKEND}/{node} state maint")
        assert all(s.startswith("MAINT") for s in lb.server_states(holder).values())
        answers = [requests.get(lb.https("/login/"), timeout=30, verify=lb.ca_file()) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        assert lb.fail_open_served(holder) >= served + 3
    finally:
        for node in lb.app_nodes():
            lb.runtime(holder, f"set server {lb.BACKEND}/{node} state ready")
    testing.wait_for(lambda: lb.all_up(holder), 60, f"every app node UP again on {holder}")


def test_rate_limit_answers_429():
    """From app1 (its own address, so the drills' client is not limited): past the
    per-client limit (haproxy_app_rate_limit_requests per 10 s), HAProxy answers 429
    without asking the app."""
    app1 = testing.host("app1")
    limit = int(
        testing.host(lb.lbs()[0]).check_output("grep -rhoP '(?<=sc_http_req_rate\\(0\\) gt )[0-9]+' /etc/haproxy")
    )
    burst = limit + 40
    codes = app1.check_output(
        f"curl -sk -o /dev/null -w '%{{http_code}}\\n' 'https://{lb.vip()}/health/?n=[1-{burst}]'"
    ).split()
    assert len(codes) == burst
    assert codes[: limit - 10].count("200") == limit - 10
    assert codes[-20:] == ["429"] * 20


def test_invalid_configuration_is_refused_and_the_old_one_keeps_serving():
    holder = lb.vip_holders()[0]
    host = testing.host(holder)
    before = host.check_output("sha256sum /etc/haproxy/haproxy.cfg")
    master = host.check_output("systemctl show -p MainPID --value haproxy")
    run = run_playbook(
        "playbooks/loadbalancer.yml", tags=["haproxy"], limit=holder, extra_vars={"haproxy_app_timeout_server": "soon"}
    )
    assert not run.ok
    assert "failed to validate" in run.stdout
    assert host.check_output("sha256sum /etc/haproxy/haproxy.cfg") == before
    assert host.check_output("systemctl show -p MainPID --value haproxy") == master
    assert requests.get(lb.https("/login/"), timeout=10, verify=lb.ca_file()).status_code == 200


def test_stopping_haproxy_gives_the_vip_up():
    """keepalived's probe fails, the holder goes to FAULT and the peer takes the VIP."""
    holder = lb.vip_holders()[0]
    host = testing.host(holder)
    since = host.check_output("date +%s")
    host.run_expect([0], "systemctl stop haproxy")
    try:
        new = testing.wait_for(lambda: [h for h in lb.vip_holders() if h != holder], 10, "the VIP on the peer", 0.2)
        assert lb.vip_holders() == new
        assert lb.vip_holders(lb.internal_vip()) == new, "the internal VIP moves with the VIP"
        testing.wait_for(
            lambda: requests.get(lb.https("/login/"), timeout=2, verify=lb.ca_file()).status_code == 200,
            10,
            "Horilla through the VIP",
        )
    finally:
        host.run_expect([0], "systemctl start haproxy")
    # nopreempt: the VIP stays on the new holder once the old one is healthy again.
    testing.wait_for(
        lambda: "Entering BACKUP STATE" in host.run(f"journalctl -u keepalived --since @{since} --no-pager").stdout,
        15,
        f"{holder} back to BACKUP",
    )
    assert lb.vip_holders() == new
