"""The whole site on all 13 lab hosts: every host has its baseline and exporter."""

from lab import testing

testinfra_hosts = testing.hosts()


def test_baseline_on_every_host(host):
    assert host.file("/etc/sysctl.d/60-horilla.conf").exists
    assert host.file("/var/log/horilla").is_directory


def test_node_exporter_answers_for_every_host_from_the_monitoring_host(host):
    """What Prometheus will do: scrape each host's exporter from mon1."""
    me = testing.lab().host(host.check_output("hostname"))
    mon1 = testing.host("mon1")
    body = mon1.check_output(f"curl -sf http://{me.address}:9100/metrics")
    assert "node_cpu_seconds_total{" in body
    for group in me.groups:
        assert f'horilla_inventory_group_info{{group="{group}"}} 1' in body
