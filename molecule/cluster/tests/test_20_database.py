"""etcd, Patroni-managed PostgreSQL, the exporter and HAProxy's Postgres listeners,
checked by what they do: a leader with a synchronous streaming replica, writes through
:5000, reads through :5001, metrics with real values."""

import json
import re
import time

import psycopg2
import pytest

from lab import testing
from lab.cluster import postgres as cluster

testinfra_hosts = testing.hosts("postgres")


@pytest.fixture(scope="module", autouse=True)
def healthy_cluster():
    cluster.wait_healthy(120)


def me(host) -> str:
    return host.check_output("hostname")


# Patroni's REST API wants a client certificate of the internal CA: the node's own.
TLS = "/etc/postgresql/tls"
PATRONI_CURL = f"curl -s --cacert {TLS}/ca.crt --cert {TLS}/server.crt --key {TLS}/server.key"


def metrics(host, port: int, path: str = "/metrics") -> str:
    if port == 8008:
        return host.check_output(f"{PATRONI_CURL} -f https://{testing.address(me(host))}:{port}{path}")
    return testing.metrics(me(host), port, path)


def metric(body: str, *names: str) -> float:
    """The first sample of the first of these series that is exported (names differ by exporter version)."""
    for name in names:
        values = [float(line.split()[-1]) for line in body.splitlines() if re.match(rf"{name}(\{{.*\}})? ", line)]
        if values:
            return values[0]
    raise AssertionError(f"none of {names} exported")


def test_only_patroni_runs_postgres(host):
    assert host.service("patroni").is_running
    assert host.service("patroni").is_enabled
    assert not host.service("postgresql").is_enabled
    assert host.check_output("systemctl is-enabled postgresql@17-main postgresql@15-main || true").count("masked") >= 1
    # Debian's pg_lsclusters knows no cluster: Patroni's data directory is its own.
    assert host.check_output("pg_lsclusters -h") == ""


def test_postgres_listens_on_internal_address_and_loopback_only(host):
    address = testing.address(me(host))
    assert host.socket(f"tcp://{address}:5432").is_listening
    assert host.socket("tcp://127.0.0.1:5432").is_listening
    assert not host.socket("tcp://0.0.0.0:5432").is_listening
    assert host.socket(f"tcp://{address}:8008").is_listening
    assert not host.socket("tcp://0.0.0.0:8008").is_listening


def test_one_leader_and_one_synchronous_streaming_replica():
    members = cluster.members()
    assert sorted(m["role"] for m in members.values()) == ["leader", "sync_standby"]
    leader = cluster.leader()
    replica = next(n for n in members if n != leader)
    # Seen from the leader's Postgres: the replica streams and is the synchronous one.
    rows = cluster.psql(leader, "SELECT application_name, state, sync_state FROM pg_stat_replication")
    assert rows.splitlines() == [f"{replica}|streaming|sync"]
    slots = cluster.psql(leader, "SELECT slot_name, active FROM pg_replication_slots")
    assert slots.splitlines() == [f"{replica}|t"]


def test_replication_lag_is_reported(host):
    """Both Patroni and the exporter publish the numbers the lag alert is built on."""
    patroni = metrics(host, 8008)
    exporter = metrics(host, 9187)
    if cluster.leader() == me(host):
        assert metric(patroni, "patroni_primary") == 1
        assert metric(patroni, "patroni_xlog_location") > 0
        assert metric(exporter, "pg_stat_replication_pg_wal_lsn_diff") >= 0
    else:
        assert metric(patroni, "patroni_replica") == 1
        assert metric(patroni, "patroni_sync_standby") == 1
        assert metric(patroni, "patroni_xlog_replayed_location") > 0
        assert metric(exporter, "pg_replication_lag_seconds", "pg_replication_lag") >= 0
        assert metric(exporter, "pg_replication_is_replica") == 1
    assert metric(patroni, "patroni_postgres_running") == 1


def test_exporter_up_with_least_privilege(host):
    address = testing.address(me(host))
    assert host.socket(f"tcp://{address}:9187").is_listening
    assert not host.socket("tcp://0.0.0.0:9187").is_listening
    body = metrics(host, 9187)
    assert metric(body, "pg_up") == 1
    flags = host.check_output(
        "psql -U postgres -h /var/run/postgresql -Atc "
        "\"SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role('postgres_exporter', 'pg_monitor', 'member')"
        " FROM pg_roles WHERE rolname = 'postgres_exporter'\""
    )
    assert flags == "f|f|f|t"
    conf = host.file("/etc/default/prometheus-postgres-exporter")
    assert conf.mode == 0o640
    assert conf.group == "prometheus"


def test_writes_through_5000_reach_the_leader_and_reads_through_5001_the_replica():
    marker = f"probe-{time.time_ns()}"
    with cluster.connect(cluster.PRIMARY_PORT) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS routing_probe (note text)")
        cur.execute("INSERT INTO routing_probe VALUES (%s)", (marker,))
        cur.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())")
        in_recovery, server = cur.fetchone()
    conn.close()
    assert not in_recovery
    assert server == testing.address(cluster.leader())
    # Synchronous replication: the committed row is on the replica already.
    with cluster.connect(cluster.REPLICA_PORT) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())")
        in_recovery, server = cur.fetchone()
        cur.execute("SELECT count(*) FROM routing_probe WHERE note = %s", (marker,))
        (count,) = cur.fetchone()
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("INSERT INTO routing_probe VALUES ('must fail')")
    conn.close()
    assert in_recovery
    assert server != testing.address(cluster.leader())
    assert count == 1


# --- TLS (issue 23, item 2) ------------------------------------------------------------


def test_every_network_session_uses_tls():
    """The app's sessions (from the load balancers) and the replica's stream, as the leader
    sees them in pg_stat_ssl: every session that came over the network is encrypted."""
    leader = cluster.leader()
    with cluster.connect() as conn, conn.cursor() as cur:  # one session of our own, at least
        cur.execute("SELECT 1")
        rows = cluster.psql(
            leader,
            "SELECT a.usename, a.backend_type, s.ssl, s.version FROM pg_stat_activity a"
            " JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr IS NOT NULL"
            " AND a.client_addr <> '127.0.0.1' ORDER BY 1, 2",
        ).splitlines()
    conn.close()
    sessions = [row.split("|") for row in rows]
    assert {(user, kind) for user, kind, *_ in sessions} >= {
        (cluster.APP_USER, "client backend"),
        ("replicator", "walsender"),
    }, rows
    assert [row for row in sessions if row[2] != "t" or not row[3].startswith("TLSv1.")] == []


@pytest.mark.parametrize("port", [cluster.PRIMARY_PORT, cluster.REPLICA_PORT])
def test_a_client_without_tls_is_refused(port):
    """The right user and password from an allowed host (HAProxy's), but in clear: no line of
    pg_hba.conf takes it, so the password is never asked for."""
    with pytest.raises(psycopg2.OperationalError, match=r"no pg_hba\.conf entry for host .*no encryption"):
        cluster.connect(port, sslmode="disable").close()


def test_the_certificate_names_every_way_the_app_reaches_postgres():
    """verify-full through each load balancer's address and the internal VIP (HAProxy passes
    TLS through, so the client checks the node's own certificate); another CA is refused."""
    from lab.cluster import balancer

    for host in [*(testing.address(lb) for lb in balancer.lbs()), balancer.internal_vip()]:
        cluster.connect(host=host).close()
    with pytest.raises(psycopg2.OperationalError, match="certificate verify failed"):
        cluster.connect(sslrootcert=balancer.ca_file()).close()


def test_pg_hba_refuses_hosts_outside_the_client_groups():
    """The controller (the lab network's gateway) is in no client group."""
    with pytest.raises(psycopg2.OperationalError, match=r"no pg_hba\.conf entry"):
        cluster.connect(port=5432, host=testing.address(cluster.leader())).close()


@pytest.mark.parametrize(
    ("user", "database", "secret"),
    [
        ("postgres", "horilla", "postgresql_superuser_password"),
        ("postgres", "postgres", "postgresql_superuser_password"),
        ("horilla", "postgres", "postgresql_app_password"),
    ],
)
def test_only_the_app_user_and_database_pass_the_load_balancers(user, database, secret):
    """HAProxy forwards from the load balancers' addresses: there, pg_hba admits the app's
    user to the app's database and nobody else, the superuser with its right password included."""
    with pytest.raises(psycopg2.OperationalError, match=rf'no pg_hba\.conf entry for host "[0-9.]+", user "{user}"'):
        cluster.connect(user=user, dbname=database, password=testing.secret(secret)).close()


def test_patroni_answers_only_clients_with_a_certificate_of_the_internal_ca(host):
    """https with the node's certificate (checked by address); no answer without a client
    certificate, even to a GET; none over plain http."""
    api = f"https://{testing.address(me(host))}:8008"
    assert host.check_output(f"{PATRONI_CURL} -o /dev/null -w '%{{http_code}}' {api}/patroni") == "200"
    anonymous = host.run(f"curl -s --max-time 5 -o /dev/null -w '%{{http_code}}' --cacert {TLS}/ca.crt {api}/patroni")
    # Refused in the handshake: curl ends in 35, 55 or 56 by when the server's alert
    # arrives (TLS 1.3), never with an HTTP status, and not by its timeout (28).
    assert anonymous.rc not in (0, 28) and anonymous.stdout == "000", anonymous
    assert host.run(f"curl -sf --max-time 5 -o /dev/null http://{testing.address(me(host))}:8008/patroni").rc != 0


def test_patroni_write_endpoints_need_authentication(host):
    api = f"https://{testing.address(me(host))}:8008"
    code = host.check_output(f"{PATRONI_CURL} -o /dev/null -w '%{{http_code}}' -X POST {api}/restart")
    assert code == "401"


def test_cluster_settings_applied_through_patroni():
    config = cluster.patroni("/config")
    assert config["synchronous_mode"] is True
    assert config["ttl"] == 20
    assert config["postgresql"]["use_pg_rewind"] is True
    assert config["postgresql"]["use_slots"] is True
    # The site has a backup group: WAL goes to its pgBackRest repository.
    assert config["postgresql"]["parameters"]["archive_mode"] == "on"
    assert "pgbackrest" in config["postgresql"]["parameters"]["archive_command"]
    assert not any(m.get("pending_restart") for m in cluster.members().values())


def test_app_database_owned_by_app_role():
    rows = cluster.query(
        "SELECT current_user, pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    )
    assert rows == [("horilla", "horilla")]


# --- etcd, Patroni's DCS ------------------------------------------------------------------


ETCD_TLS = "/etc/etcd/tls"
ETCD_CA = f"{ETCD_TLS}/ca.crt"
# HTTP/1.1: the peer listener offers h2 in the handshake but serves its /members over 1.1.
ETCD_ANONYMOUS = f"curl -s --http1.1 --max-time 5 --cacert {ETCD_CA}"
ETCD_CURL = f"{ETCD_ANONYMOUS} --cert {ETCD_TLS}/server.crt --key {ETCD_TLS}/server.key"


def test_etcd_has_three_healthy_members():
    """Asked as an operator would, with root's login settings (https, the member's certificate)."""
    mon1 = testing.host("mon1")
    members = json.loads(mon1.check_output(f"{cluster.ETCDCTL} member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == sorted(testing.names("etcd"))
    addresses = {m["name"]: (m["peerURLs"], m["clientURLs"]) for m in members}
    for name in testing.names("etcd"):
        assert addresses[name] == ([f"https://{testing.address(name)}:2380"], [f"https://{testing.address(name)}:2379"])
    health = mon1.run(f"{cluster.ETCDCTL} endpoint health --cluster")
    assert health.rc == 0, health.stderr
    assert health.stdout.count("is healthy") + health.stderr.count("is healthy") == len(testing.names("etcd"))


def test_etcd_metrics_report_a_leader_and_listen_internally():
    for name in testing.names("etcd"):
        node = testing.host(name)
        body = node.check_output(f"{ETCD_CURL} -f https://{testing.address(name)}:2379/metrics")
        assert "etcd_server_has_leader 1" in body.splitlines(), name
        assert not node.socket("tcp://0.0.0.0:2379").is_listening, name


def test_etcd_answers_only_clients_with_a_certificate_of_the_internal_ca():
    """Client and peer listeners: TLS checked by address, a client certificate required
    (no HTTP answer without one), nothing served over plain http."""
    for name in testing.names("etcd"):
        node, address = testing.host(name), testing.address(name)
        for port, path in ((2379, "/health"), (2380, "/members")):
            url = f"https://{address}:{port}{path}"
            assert node.check_output(f"{ETCD_CURL} -o /dev/null -w '%{{http_code}}' {url}") == "200", (name, port)
            anonymous = node.run(f"{ETCD_ANONYMOUS} -o /dev/null -w '%{{http_code}}' {url}")
            assert anonymous.rc not in (0, 28) and anonymous.stdout == "000", (name, port, anonymous)
            # Go's TLS server answers a plain request with a bare 400, never etcd's data.
            plain = node.run(f"curl -s --max-time 5 http://{address}:{port}{path}")
            assert "health" not in plain.stdout and "clientURLs" not in plain.stdout, (name, port, plain.stdout)


# --- HAProxy's Postgres listeners ---------------------------------------------------------


def test_haproxy_routes_by_patroni_role_and_listens_internally():
    from lab.cluster import balancer

    leader = cluster.leader()
    replica = next(h for h in cluster.hosts() if h != leader)
    for lb in balancer.lbs():
        status = {(r["pxname"], r["svname"]): r["status"] for r in balancer.stats(lb)}
        assert status[("postgres_primary", leader)] == "UP", lb
        assert status[("postgres_primary", replica)] == "DOWN", lb
        assert status[("postgres_replicas", replica)] == "UP", lb
        assert status[("postgres_replicas", leader)] == "DOWN", lb
        node = testing.host(lb)
        for port in (5000, 5001):
            assert node.socket(f"tcp://{testing.address(lb)}:{port}").is_listening, (lb, port)
            assert not node.socket(f"tcp://0.0.0.0:{port}").is_listening, (lb, port)
