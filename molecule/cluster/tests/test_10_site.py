"""The baseline of every host of the site: packages, time zone and locale, names, the
extra CA certificates, logs, kernel settings, and each host's node_exporter reachable
from the monitoring host (what Prometheus does)."""

import hashlib
import ssl
from pathlib import Path

import pytest
import requests

from lab import testing

testinfra_hosts = testing.hosts()


def me(host):
    return testing.lab().host(host.check_output("hostname"))


def test_base_packages_installed(host):
    for name in ("ca-certificates", "curl", "dbus", "jq", "tzdata"):
        assert host.package(name).is_installed, name


def test_time_zone_and_locale(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Etc/UTC"
    assert host.check_output("date +%Z") == "UTC"
    assert host.file("/etc/default/locale").content_string.strip() == "LANG=C.UTF-8"


def test_every_inventory_host_resolves_to_its_internal_address(host):
    for peer in testing.lab().hosts.values():
        resolved = host.check_output(f"getent ahostsv4 {peer.name}").split()[0]
        assert resolved == peer.address, peer.name


def test_extra_ca_certificates_are_trusted(host):
    """Every extra CA of the controller is in the host's default TLS trust store."""
    extra = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if not extra:
        pytest.skip("this controller has no extra CA certificates to hand out")
    trusted = host.check_output(
        "python3 -c 'import ssl, hashlib; ctx = ssl.create_default_context(); "
        "print(*(hashlib.sha256(c).hexdigest() for c in ctx.get_ca_certs(binary_form=True)))'"
    ).split()
    for cert in extra:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        assert hashlib.sha256(der).hexdigest() in trusted, cert.name


def test_log_directory_and_kernel_settings(host):
    log_dir = host.file("/var/log/horilla")
    assert log_dir.is_directory and log_dir.user == "root" and log_dir.mode == 0o755
    conf = host.file("/etc/sysctl.d/60-horilla.conf")
    assert conf.contains("^net.core.somaxconn = 4096$")
    assert conf.contains("^vm.swappiness = 10$")


def test_node_exporter_answers_every_host_over_tls_to_the_scrape_user_only(host):
    """Issue 23: /metrics over TLS the internal CA signed for the host's address, to the
    user Prometheus scrapes with; a wrong password gets 401, plain http no metrics."""
    me_ = me(host)
    assert host.service("prometheus-node-exporter").is_running
    assert not host.socket("tcp://0.0.0.0:9100").is_listening
    body = testing.metrics(me_.name, 9100)
    assert "node_cpu_seconds_total{" in body
    assert testing.scrape(me_.name, 9100, password="not-the-scrape-password").status_code == 401  # noqa: S106
    plain = requests.get(f"http://{me_.address}:9100/metrics", timeout=10)
    assert plain.status_code == 400 and "node_cpu" not in plain.text
    for group in me_.groups:
        assert f'horilla_inventory_group_info{{group="{group}"}} 1' in body
