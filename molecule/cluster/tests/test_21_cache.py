"""The cache tier: one primary, streaming replicas, three Sentinels that agree, an
exporter per server; each server listening where it must, authenticated, persistent."""

import time
import uuid

import pytest
import redis

from lab import testing
from lab.cluster import cache as redis_lab


def test_one_primary_and_streaming_replicas():
    primary = redis_lab.primary()
    assert redis_lab.server(primary).info("replication")["role"] == "master"
    for name in redis_lab.redis_hosts():
        if name == primary:
            continue
        info = redis_lab.server(name).info("replication")
        assert info["role"] == "slave", name
        assert info["master_host"] == testing.address(primary), name
        assert info["master_link_status"] == "up", name
    assert redis_lab.server(primary).info("replication")["connected_slaves"] == len(redis_lab.redis_hosts()) - 1


def test_data_written_on_the_primary_is_read_on_the_replicas():
    primary = redis_lab.primary()
    key, value = f"molecule:{uuid.uuid4()}", str(time.time())
    redis_lab.server(primary).set(key, value, ex=300)
    for name in redis_lab.redis_hosts():
        if name != primary:
            replica = redis_lab.server(name)
            testing.wait_for(lambda replica=replica: replica.get(key) == value, 10, f"{key} on {name}")


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
        anonymous = redis.Redis(host=testing.address(name), port=redis_lab.SENTINEL_PORT, socket_timeout=2)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        listening = testing.host(name).socket
        assert listening(f"tcp://{testing.address(name)}:26379").is_listening, name
        assert not listening("tcp://0.0.0.0:26379").is_listening, name


@pytest.mark.parametrize("name", redis_lab.redis_hosts())
def test_exporter_reports_the_server(name):
    host = testing.host(name)
    address = testing.address(name)
    assert host.socket(f"tcp://{address}:9121").is_listening
    assert not host.socket("tcp://0.0.0.0:9121").is_listening
    body = testing.metrics(name, 9121)
    assert "redis_up 1" in body.splitlines()
    role = redis_lab.server(name).info("replication")["role"]
    assert any(line.startswith("redis_instance_info{") and f'role="{role}"' in line for line in body.splitlines())
    # The password reaches the exporter through its environment file, never its command line.
    assert redis_lab.password() not in host.check_output("ps -eo args")


@pytest.mark.parametrize("name", redis_lab.redis_hosts())
def test_server_listens_internally_and_every_client_must_authenticate(name):
    host = testing.host(name)
    assert host.service("redis-server").is_running and host.service("redis-server").is_enabled
    assert host.socket(f"tcp://{testing.address(name)}:6379").is_listening
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert not host.socket("tcp://0.0.0.0:6379").is_listening
    assert not host.socket("tcp://:::6379").is_listening
    anonymous = redis.Redis(host=testing.address(name), socket_timeout=2, retry=redis_lab.no_retry())
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(host=testing.address(name), password=f"not-{redis_lab.password()}", socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    assert redis_lab.server(name).ping()


@pytest.mark.parametrize("name", redis_lab.redis_hosts())
def test_protected_mode_memory_limit_and_persistence(name):
    client = redis_lab.server(name)
    config = client.config_get("protected-mode", "maxmemory", "maxmemory-policy")
    assert config == {"protected-mode": "yes", "maxmemory": str(256 * 1024 * 1024), "maxmemory-policy": "volatile-lru"}
    persistence = client.info("persistence")
    assert persistence["aof_enabled"] == 1
    assert persistence["aof_last_write_status"] == "ok"
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("save")["save"] == "3600 1 300 100 60 10000"
    # The append-only file really is on disk, in the data directory, owned by redis.
    manifest = testing.host(name).file("/var/lib/redis/appendonlydir/appendonly.aof.manifest")
    assert manifest.user == "redis"
    assert "type i" in manifest.content_string
    conf = testing.host(name).file("/etc/sysctl.d/61-redis.conf")
    assert conf.contains("^vm.overcommit_memory *= *1$")
