"""node_exporter answers on the internal address with real host and textfile metrics,
to the monitoring hosts only."""

import time

import pytest

from lab import testing

testinfra_hosts = testing.hosts()


@pytest.fixture
def address(host):
    return testing.lab().host(host.check_output("hostname")).address


def scrape(host, address: str) -> str:
    return host.check_output(testing.scrape_command(address, 9100))


def test_service_running_and_enabled(host):
    service = host.service("prometheus-node-exporter")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_the_internal_address_only(host, address):
    assert host.socket(f"tcp://{address}:9100").is_listening
    assert not host.socket("tcp://0.0.0.0:9100").is_listening
    assert not host.socket("tcp://127.0.0.1:9100").is_listening


def test_metrics_carry_cpu_and_systemd_series(host, address):
    body = scrape(host, address)
    assert "node_cpu_seconds_total{" in body
    assert 'node_systemd_unit_state{name="prometheus-node-exporter.service",state="active"' in body


def test_inventory_groups_exported(host, address):
    groups = testing.lab().host(host.check_output("hostname")).groups
    body = scrape(host, address)
    for group in groups:
        assert f'horilla_inventory_group_info{{group="{group}"}} 1' in body


def test_textfile_written_by_another_role_is_exported(host, address):
    """What the backup role will do: drop a .prom file atomically and see it scraped."""
    textfile = "/var/lib/prometheus/node-exporter/molecule_probe.prom"
    stamp = int(time.time())
    host.run_expect(
        [0],
        f"printf 'molecule_probe_timestamp_seconds %s\\n' {stamp} > {textfile}.tmp && mv {textfile}.tmp {textfile}",
    )
    try:
        values = [
            float(line.split()[1])
            for line in scrape(host, address).splitlines()
            if line.startswith("molecule_probe_timestamp_seconds ")
        ]
        assert values == [stamp]
    finally:
        host.run(f"rm -f {textfile}")


def test_reachable_from_the_monitoring_group_only(host):
    """Prometheus scrapes across the network: a monitoring host reaches every peer's
    exporter (TLS the host's CA verifies; no password here, so a 401: curl 22), any
    other host is refused (curl: 7, a reset at once, not a timeout)."""
    me = testing.lab().host(host.check_output("hostname"))
    for peer in testing.lab().hosts.values():
        if peer.name == me.name:
            continue
        rc = host.run(
            f"curl -sf -o /dev/null --max-time 10 --cacert /etc/prometheus/tls/ca.crt https://{peer.address}:9100/metrics"
        ).rc
        expected = 22 if "monitoring" in me.groups else 7
        assert rc == expected, f"{me.name} -> {peer.name}:9100: curl {rc}, expected {expected}"
