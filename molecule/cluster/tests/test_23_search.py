"""The search tier: the Elasticsearch cluster forms with three nodes, is green, secured,
and serves every node's clients; its exporter reports it."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from lab import testing
from lab.cluster.search import Cluster

testinfra_hosts = testing.hosts("elasticsearch")


@pytest.fixture(scope="module")
def es() -> Cluster:
    es = Cluster()
    es.wait_for_green()
    return es


@pytest.fixture
def node(host) -> str:
    return host.check_output("hostname")


def test_cluster_has_three_nodes_and_is_green_seen_from_every_node(es):
    for name in es.nodes:
        health = es.health(name)
        assert health["cluster_name"] == "horilla"
        assert health["status"] == "green", name
        assert health["number_of_nodes"] == 3, name
        assert health["number_of_data_nodes"] == 3, name


def test_one_elected_master_among_three_master_eligible_data_nodes(es):
    nodes = es.get("es1", "_cat/nodes", params={"format": "json", "h": "name,node.role,master"}).json()
    assert sorted(n["name"] for n in nodes) == list(es.nodes)
    for n in nodes:
        assert "m" in n["node.role"] and "d" in n["node.role"], n
    assert [n["master"] for n in nodes].count("*") == 1


def test_heap_is_the_configured_size(es):
    stats = es.get("es1", "_nodes/stats/jvm").json()["nodes"].values()
    for node in stats:
        assert node["jvm"]["mem"]["heap_max_in_bytes"] == 384 * 1024 * 1024, node["name"]


def test_http_is_tls_only_with_a_certificate_for_each_node(es):
    for name in es.nodes:
        address = es.address(name)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{address}:9200/", timeout=5)
        # Verified against the cluster's CA, for the node's address (IP SAN).
        assert es.get(name, "/", user=None).status_code == 401


def test_transport_is_tls_with_certificates_of_the_cluster_ca(es):
    ca = x509.load_pem_x509_certificate(es.ca.read_bytes())
    for name in es.nodes:
        pem = ssl.get_server_certificate((es.address(name), 9300), timeout=5)
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)


def test_transport_refuses_a_client_without_a_certificate(es):
    """Nodes talk mutual TLS: a client that shows no certificate signed by the CA is cut off."""
    context = ssl.create_default_context(cafile=str(es.ca))
    context.check_hostname = False
    with (
        pytest.raises(ssl.SSLError, match=r"(?i)certificate|handshake"),
        socket.create_connection((es.address("es2"), 9300), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.recv(1024)


def test_wrong_password_is_refused(es):
    response = requests.get(
        es.url("es1", "_cluster/health"), auth=("elastic", "not-the-password"), verify=str(es.ca), timeout=10
    )
    assert response.status_code == 401


def test_index_with_one_replica_is_writable_and_readable_from_every_node(es):
    index = f"site-probe-{int(time.time())}"
    created = es.request("PUT", "es1", index, json={"settings": {"number_of_shards": 3, "number_of_replicas": 1}})
    assert created.status_code == 200, created.text
    try:
        es.get("es1", "_cluster/health/" + index, params={"wait_for_status": "green", "timeout": "60s"})
        shards = es.get("es1", "_cat/shards/" + index, params={"format": "json"}).json()
        assert len(shards) == 6 and {s["state"] for s in shards} == {"STARTED"}
        for shard in {s["shard"] for s in shards}:
            copies = [s for s in shards if s["shard"] == shard]
            assert sorted(s["prirep"] for s in copies) == ["p", "r"]
            assert copies[0]["node"] != copies[1]["node"], "a replica on its primary's node protects nothing"
        for writer in es.nodes:
            written = es.request(
                "PUT", writer, f"{index}/_doc/{writer}", params={"refresh": "wait_for"}, json={"written_via": writer}
            )
            assert written.status_code == 201, written.text
        for reader in es.nodes:
            for writer in es.nodes:
                doc = es.get(reader, f"{index}/_doc/{writer}")
                assert doc.status_code == 200, (reader, writer, doc.text)
                assert doc.json()["_source"] == {"written_via": writer}
            assert es.get(reader, f"{index}/_count").json()["count"] == 3
    finally:
        es.request("DELETE", "es1", index)


def test_monitoring_and_health_users_have_least_privilege(es):
    index = f"site-acl-{int(time.time())}"
    assert es.request("PUT", "es1", index).status_code == 200
    try:
        monitoring = "horilla_monitoring"
        assert es.get("es2", "_cluster/health", user=monitoring).status_code == 200
        assert es.get("es2", "_nodes/stats", user=monitoring).status_code == 200
        assert es.get("es2", f"{index}/_stats", user=monitoring).status_code == 200
        assert es.get("es2", f"{index}/_search", user=monitoring).status_code == 403
        assert es.request("PUT", "es2", f"{index}/_doc/1", user=monitoring, json={}).status_code == 403
        setting = {"persistent": {"es.routing.allocation.enable": "all"}}
        assert es.request("PUT", "es2", "_cluster/settings", user=monitoring, json=setting).status_code == 403

        health = "horilla_healthcheck"
        assert es.get("es3", "_cluster/health", user=health).status_code == 200
        # (GET / is served by the rest-root module, which the integration-test zip leaves out.)
        assert es.get("es3", "_cat/health", user=health).status_code == 200
        assert es.get("es3", "_nodes/stats", user=health).status_code == 403
        assert es.get("es3", f"{index}/_search", user=health).status_code == 403
        assert es.request("PUT", "es3", f"{index}/_doc/1", user=health, json={}).status_code == 403
    finally:
        es.request("DELETE", "es1", index)


def test_listens_on_the_internal_address_only(host, node):
    address = testing.lab().host(node).address
    for port in (9200, 9300, 9114):
        assert host.socket(f"tcp://{address}:{port}").is_listening, port
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
        assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening, port


def test_bootstrap_setting_is_gone_after_the_cluster_formed(host):
    config = host.file("/etc/elasticsearch/elasticsearch.yml")
    assert config.contains("^discovery.seed_hosts:")
    assert not config.contains("initial_master_nodes")
    assert host.file("/var/lib/elasticsearch/.cluster-formed").content_string.strip() == "horilla"


def test_service_runs_as_its_own_user_with_the_limits_of_its_unit(host):
    service = host.service("elasticsearch")
    assert service.is_running
    assert service.is_enabled
    server = host.check_output("pgrep -u elasticsearch -f org.elasticsearch.bootstrap.Elasticsearch")
    limits = host.file(f"/proc/{server}/limits").content_string.splitlines()
    open_files = next(line for line in limits if line.startswith("Max open files")).split()[3:5]
    wanted = host.check_output("systemctl show -p LimitNOFILE --value elasticsearch")
    assert open_files == [wanted, wanted]


def test_exporter_reports_the_cluster(node, es):
    body = testing.metrics(node, 9114)
    assert 'elasticsearch_cluster_health_status{cluster="horilla",color="green"} 1' in body
    assert 'elasticsearch_cluster_health_number_of_nodes{cluster="horilla"} 3' in body
    heap = [
        line
        for line in body.splitlines()
        if line.startswith("elasticsearch_jvm_memory_max_bytes{") and 'area="heap"' in line and f'name="{node}"' in line
    ]
    assert heap and float(heap[0].split()[-1]) == 384 * 1024 * 1024


def test_exporter_credentials_stay_out_of_the_process_list(host):
    assert "ES_PASSWORD" not in host.check_output("ps -eo args")
    assert host.file("/etc/default/prometheus-elasticsearch-exporter").mode == 0o600
