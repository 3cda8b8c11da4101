"""The replication group as a whole: one primary, streaming replicas, three Sentinels
that agree, an exporter per server."""

import time
import uuid

import pytest
import redis
import redis_lab

from lab import testing


def test_one_primary_and_streaming_replicas():
    primary = redis_lab.primary()
    assert redis_lab.server(primary).info("replication")["role"] == "master"
    for name in redis_lab.redis_hosts():
        if name == primary:
            continue
        info = redis_lab.server(name).info("replication")
        assert info["role"] == "slave", name
        assert info["master_host"] == redis_lab.address(primary), name
        assert info["master_link_status"] == "up", name
    assert redis_lab.server(primary).info("replication")["connected_slaves"] == len(redis_lab.redis_hosts()) - 1


def test_data_written_on_the_primary_is_read_on_the_replicas():
    primary = redis_lab.primary()
    key, value = f"molecule:{uuid.uuid4()}", str(time.time())
    redis_lab.server(primary).set(key, value, ex=300)
    for name in redis_lab.redis_hosts():
        if name != primary:
            replica = redis_lab.server(name)
            redis_lab.wait_for(f"{key} on {name}", lambda replica=replica: replica.get(key) == value, timeout=10)


def test_replicas_refuse_writes():
    primary = redis_lab.primary()
    for name in redis_lab.redis_hosts():
        if name != primary:
            with pytest.raises(redis.ReadOnlyError):
                redis_lab.server(name).set("molecule:forbidden", "1")


def test_three_sentinels_agree_on_the_primary_and_know_each_other():
    views = redis_lab.sentinel_views()
    assert len(views) == 3
    assert len(set(views.values())) == 1 and None not in views.values(), views
    for name in redis_lab.sentinel_hosts():
        master = redis_lab.sentinel(name).sentinel_master(redis_lab.MASTER_NAME)
        assert master["num-other-sentinels"] == 2, name
        assert master["num-slaves"] == len(redis_lab.redis_hosts()) - 1, name
        assert master["quorum"] == 2, name
        assert master["down-after-milliseconds"] == 5000, name
        assert master["failover-timeout"] == 6000, name
        assert redis_lab.flags(master) == {"master"}, (name, master["flags"])


def test_sentinels_require_the_password_and_listen_internally():
    for name in redis_lab.sentinel_hosts():
        anonymous = redis.Redis(host=redis_lab.address(name), port=redis_lab.SENTINEL_PORT, socket_timeout=2)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        listening = testing.host(name).socket
        assert listening(f"tcp://{redis_lab.address(name)}:26379").is_listening, name
        assert not listening("tcp://0.0.0.0:26379").is_listening, name


@pytest.mark.parametrize("name", redis_lab.redis_hosts())
def test_exporter_reports_the_server(name):
    host = testing.host(name)
    address = redis_lab.address(name)
    assert host.socket(f"tcp://{address}:9121").is_listening
    assert not host.socket("tcp://0.0.0.0:9121").is_listening
    body = host.check_output(f"curl -sf http://{address}:9121/metrics")
    assert "redis_up 1" in body.splitlines()
    role = redis_lab.server(name).info("replication")["role"]
    assert any(line.startswith("redis_instance_info{") and f'role="{role}"' in line for line in body.splitlines())
    # The password reaches the exporter through its environment file, never its command line.
    assert redis_lab.password() not in host.check_output("ps -eo args")
