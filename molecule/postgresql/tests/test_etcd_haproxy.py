"""etcd (Patroni's DCS) and HAProxy's Postgres listeners."""

import json

import pgcluster as cluster

from lab import testing


def test_etcd_has_three_healthy_members():
    mon1 = testing.host("mon1")
    members = json.loads(mon1.check_output("ETCDCTL_API=3 etcdctl member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == ["db1", "db2", "mon1"]
    health = mon1.run("ETCDCTL_API=3 etcdctl endpoint health --cluster")
    assert health.rc == 0, health.stderr
    assert health.stdout.count("is healthy") + health.stderr.count("is healthy") == 3


def test_etcd_metrics_report_a_leader():
    for name in ("db1", "db2", "mon1"):
        body = testing.host(name).check_output(f"curl -sf http://{cluster.address(name)}:2379/metrics")
        assert "etcd_server_has_leader 1" in body.splitlines(), name


def test_etcd_client_port_not_on_all_interfaces():
    mon1 = testing.host("mon1")
    assert mon1.socket(f"tcp://{cluster.address('mon1')}:2379").is_listening
    assert not mon1.socket("tcp://0.0.0.0:2379").is_listening


def test_haproxy_config_valid_and_routes_by_patroni_role():
    lb = testing.host("lb1")
    assert lb.run("haproxy -c -f /etc/haproxy/haproxy.cfg").rc == 0
    stat = lb.check_output("echo 'show stat' | socat stdio /run/haproxy/admin.sock || true")
    if not stat:  # socat is not installed: ask through python instead
        stat = lb.check_output(
            "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
            " s.sendall(b'show stat\\n'); print(s.makefile().read())\""
        )
    rows = [line.split(",") for line in stat.splitlines() if line and not line.startswith("#")]
    status = {(r[0], r[1]): r[17] for r in rows}
    leader = cluster.leader()
    replica = next(h for h in cluster.postgres_hosts() if h != leader)
    assert status[("postgres_primary", leader)] == "UP"
    assert status[("postgres_primary", replica)] == "DOWN"
    assert status[("postgres_replicas", replica)] == "UP"
    assert status[("postgres_replicas", leader)] == "DOWN"


def test_haproxy_listens_on_internal_address():
    lb = testing.host("lb1")
    address = cluster.address("lb1")
    for port in (5000, 5001):
        assert lb.socket(f"tcp://{address}:{port}").is_listening
        assert not lb.socket(f"tcp://0.0.0.0:{port}").is_listening
