"""Each Redis server: listening where it must, authenticated, persistent."""

import pytest
import redis
import redis_lab

from lab import testing

testinfra_hosts = testing.hosts("redis")


@pytest.fixture
def name(host) -> str:
    return host.check_output("hostname")


def test_service_running_and_enabled(host):
    service = host.service("redis-server")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_the_internal_address_and_loopback_only(host, name):
    assert host.socket(f"tcp://{redis_lab.address(name)}:6379").is_listening
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert not host.socket("tcp://0.0.0.0:6379").is_listening
    assert not host.socket("tcp://:::6379").is_listening


def test_every_client_must_authenticate(name):
    anonymous = redis.Redis(host=redis_lab.address(name), socket_timeout=2, retry=redis_lab.no_retry())
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(host=redis_lab.address(name), password=f"not-{redis_lab.password()}", socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    assert redis_lab.server(name).ping()


def test_protected_mode_and_memory_limit(name):
    config = redis_lab.server(name).config_get("protected-mode", "maxmemory", "maxmemory-policy")
    assert config == {"protected-mode": "yes", "maxmemory": str(256 * 1024 * 1024), "maxmemory-policy": "volatile-lru"}


def test_append_only_file_and_snapshots_are_written(host, name):
    client = redis_lab.server(name)
    persistence = client.info("persistence")
    assert persistence["aof_enabled"] == 1
    assert persistence["aof_last_write_status"] == "ok"
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("save")["save"] == "3600 1 300 100 60 10000"
    assert client.config_get("dir") == {"dir": "/var/lib/redis"}
    # The append-only file really is on disk, in the data directory, owned by redis.
    manifest = host.file("/var/lib/redis/appendonlydir/appendonly.aof.manifest")
    assert manifest.user == "redis"
    assert "type i" in manifest.content_string


def test_configuration_survives_a_restart_without_change(host, name):
    """Settings live in redis.conf (written once, then CONFIG REWRITE): a restart keeps them."""
    client = redis_lab.server(name)
    before = client.config_get("bind", "requirepass", "masterauth", "maxmemory", "appendonly", "replicaof")
    role_before = client.role()[0]
    host.run_expect([0], "systemctl restart redis-server")
    client = redis_lab.server(name)
    redis_lab.wait_for("Redis answering again", client.ping, timeout=30)
    assert client.config_get("bind", "requirepass", "masterauth", "maxmemory", "appendonly", "replicaof") == before
    assert client.role()[0] == role_before


def test_kernel_settings_written_and_reported(host):
    """vm.overcommit_memory is written for boot; applied only where /proc/sys is writable."""
    conf = host.file("/etc/sysctl.d/61-redis.conf")
    assert conf.contains("^vm.overcommit_memory *= *1$")
    writable = host.run("test -w /proc/sys/vm/overcommit_memory").rc == 0
    if writable:
        assert host.file("/proc/sys/vm/overcommit_memory").content_string.strip() == "1"
