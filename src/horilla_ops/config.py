"""Typed configuration of the ops app, read from ``HORILLA_OPS_*`` environment variables,
and the overrides it applies to upstream Horilla's settings module."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping, MutableSequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from horilla_ops.logs import logging_config
from horilla_ops.scheduler import guard

# The ops app and the request-scoped middlewares, outermost first. Health and metrics
# requests are answered by OpsEndpointsMiddleware before host validation, the SSL
# redirect, sessions and upstream's own middlewares, and are not counted as traffic.
OPS_APPS = ("django_prometheus", "horilla_ops.health", "horilla_ops.deploy")
OPS_OUTER_MIDDLEWARE = (
    "horilla_ops.logs.middleware.RequestIdMiddleware",
    "horilla_ops.health.middleware.OpsEndpointsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outside sessions and upstream's middlewares, which query the database first.
    "horilla_ops.health.outage.DatabaseOutageMiddleware",
)
OPS_INNER_MIDDLEWARE = "django_prometheus.middleware.PrometheusAfterMiddleware"
# django-prometheus' request latency buckets (seconds) with the SLO's 2.0 s boundary.
LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.0,
    2.5,
    5.0,
    7.5,
    10.0,
    25.0,
    50.0,
    75.0,
    float("inf"),
)
# The checks /health/ready/ may require, and those it requires by default. The cache is
# not among the defaults: it is shared by every node, so a Redis failover would take
# every node out of the load balancers at once, although the app serves without it
# (cache_settings: errors are swallowed). Its health is in /health/detailed/, /metrics/
# and the alerts.
READY_CHECKS = ("database", "cache", "migrations")
DEFAULT_READY_CHECKS = ("database", "migrations")
# What /health/detailed/ and /metrics/ report, whatever readiness requires (detailed
# also writes to the media store; a scrape every few seconds does not).
DEPENDENCY_CHECKS = ("database", "cache", "migrations")
# pg_try_advisory_lock key of the single active scheduler: the bytes of "horilla".
DEFAULT_SCHEDULER_LOCK_ID = int.from_bytes(b"horilla", "big")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A HORILLA_OPS_* variable has a value the ops app cannot use."""


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _address(item: str, variable: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"{variable}: {item!r} is not host:port")
    return host.strip("[]"), int(port)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number") from None


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not an integer") from None


@dataclass(frozen=True)
class OpsConfig:
    node_name: str = field(default_factory=socket.gethostname)
    release: str = "unknown"
    # Which application this is, e.g. "horilla@72e7198" (upstream at that commit).
    app: str = "unknown"
    log_dir: str = ""
    log_level: str = "INFO"
    request_id_header: str = "X-Request-ID"
    internal_networks: tuple[Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_master: str = "horilla"
    redis_password: str = ""
    redis_sentinel_password: str = ""
    redis_db: int = 0
    ready_checks: tuple[str, ...] = DEFAULT_READY_CHECKS
    db_connect_timeout: int = 3
    db_conn_max_age: int = 60
    # How long a read (GET) waits for the database during an outage (a failover) before
    # it is answered 503; under HAProxy's server timeout (35 s). 0: never held.
    db_outage_hold_seconds: float = 28.0
    migrations_cache_seconds: float = 60.0
    media_root: str = ""
    static_root: str = ""
    scheduler_lock_id: int = DEFAULT_SCHEDULER_LOCK_ID
    scheduler_lease_seconds: float = 10.0
    scheduler_retry_seconds: float = 2.0
    # The business gauges' queries run at most this often (on the scheduler leader); 0: off.
    business_metrics_seconds: float = 60.0

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> OpsConfig:
        env = os.environ if env is None else env
        defaults = cls()
        networks = _list(env.get("HORILLA_OPS_INTERNAL_NETWORKS"))
        try:
            internal = tuple(ipaddress.ip_network(n, strict=False) for n in networks) or defaults.internal_networks
        except ValueError as exc:
            raise ConfigError(f"HORILLA_OPS_INTERNAL_NETWORKS: {exc}") from None
        checks = tuple(_list(env.get("HORILLA_OPS_READY_CHECKS"))) or DEFAULT_READY_CHECKS
        unknown = set(checks) - set(READY_CHECKS)
        if unknown:
            raise ConfigError(f"HORILLA_OPS_READY_CHECKS: unknown check(s) {sorted(unknown)}; known: {READY_CHECKS}")
        return cls(
            node_name=env.get("HORILLA_OPS_NODE_NAME") or defaults.node_name,
            release=env.get("HORILLA_OPS_RELEASE") or defaults.release,
            app=env.get("HORILLA_OPS_APP") or defaults.app,
            log_dir=env.get("HORILLA_OPS_LOG_DIR", ""),
            log_level=(env.get("HORILLA_OPS_LOG_LEVEL") or defaults.log_level).upper(),
            request_id_header=env.get("HORILLA_OPS_REQUEST_ID_HEADER") or defaults.request_id_header,
            internal_networks=internal,
            redis_sentinels=tuple(
                _address(a, "HORILLA_OPS_REDIS_SENTINELS") for a in _list(env.get("HORILLA_OPS_REDIS_SENTINELS"))
            ),
            redis_master=env.get("HORILLA_OPS_REDIS_MASTER") or defaults.redis_master,
            redis_password=env.get("HORILLA_OPS_REDIS_PASSWORD", ""),
            redis_sentinel_password=env.get("HORILLA_OPS_REDIS_SENTINEL_PASSWORD", ""),
            redis_db=_integer(env, "HORILLA_OPS_REDIS_DB", defaults.redis_db),
            ready_checks=checks,
            db_connect_timeout=_integer(env, "HORILLA_OPS_DB_CONNECT_TIMEOUT", defaults.db_connect_timeout),
            db_conn_max_age=_integer(env, "HORILLA_OPS_DB_CONN_MAX_AGE", defaults.db_conn_max_age),
            db_outage_hold_seconds=_number(env, "HORILLA_OPS_DB_OUTAGE_HOLD_SECONDS", defaults.db_outage_hold_seconds),
            migrations_cache_seconds=_number(
                env, "HORILLA_OPS_MIGRATIONS_CACHE_SECONDS", defaults.migrations_cache_seconds
            ),
            media_root=env.get("HORILLA_OPS_MEDIA_ROOT", ""),
            static_root=env.get("HORILLA_OPS_STATIC_ROOT", ""),
            scheduler_lock_id=_integer(env, "HORILLA_OPS_SCHEDULER_LOCK_ID", defaults.scheduler_lock_id),
            scheduler_lease_seconds=_number(
                env, "HORILLA_OPS_SCHEDULER_LEASE_SECONDS", defaults.scheduler_lease_seconds
            ),
            scheduler_retry_seconds=_number(
                env, "HORILLA_OPS_SCHEDULER_RETRY_SECONDS", defaults.scheduler_retry_seconds
            ),
            business_metrics_seconds=_number(
                env, "HORILLA_OPS_BUSINESS_METRICS_SECONDS", defaults.business_metrics_seconds
            ),
        )

    def is_internal(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.internal_networks)

    def cache_settings(self) -> dict[str, Any] | None:
        """Django CACHES for Redis through Sentinel, or None to keep upstream's cache."""
        if not self.redis_sentinels:
            return None
        # The app serves without its cache: while Redis fails over, a cache call fails
        # fast (short timeouts) and its error is swallowed and logged (IGNORE_EXCEPTIONS),
        # so a request is a cache miss, not a 500. Upstream Horilla calls the cache a few
        # times per page; with 2 s timeouts a page took seconds while a primary was gone.
        timeouts = {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}
        # The Sentinels need the same timeouts: redis-py gives a Sentinel connection the
        # socket options of the data connections only when no sentinel_kwargs are given;
        # without them, asking the Sentinel of a host that just died waits for TCP.
        sentinel_kwargs: dict[str, Any] = dict(timeouts)
        if self.redis_sentinel_password:
            sentinel_kwargs["password"] = self.redis_sentinel_password
        options: dict[str, Any] = {
            # Reads and writes both go to the primary the Sentinels name (DefaultClient
            # over the Sentinel connection factory). django-redis' SentinelClient reads
            # from replicas: a value just written may not be there yet, and while the
            # only replica is down every read asks each Sentinel for replicas again
            # (redis-py does not remember a Sentinel that failed), the dead host's own
            # Sentinel included. The whole-site drill measured 50-80 s of 503s after a
            # Redis primary was killed that way, although Sentinel failed over in 6.5 s.
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
            "SENTINELS": list(self.redis_sentinels),
            "SENTINEL_KWARGS": sentinel_kwargs,
            "SOCKET_CONNECT_TIMEOUT": timeouts["socket_connect_timeout"],
            "SOCKET_TIMEOUT": timeouts["socket_timeout"],
            "IGNORE_EXCEPTIONS": True,
        }
        if self.redis_password:
            options["PASSWORD"] = self.redis_password
        return {
            "default": {
                "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://{self.redis_master}/{self.redis_db}",
                "KEY_PREFIX": "horilla",
                "OPTIONS": options,
            }
        }


def _extend(settings: ModuleType, name: str, items: tuple[str, ...], *, front: bool) -> None:
    current = getattr(settings, name, [])
    missing = [item for item in items if item not in current]
    if isinstance(current, MutableSequence):
        if front:
            current[0:0] = missing
        else:
            current.extend(missing)
    else:  # a tuple: rebind (nothing else can hold on to an immutable sequence)
        setattr(settings, name, [*missing, *current] if front else [*current, *missing])


def apply_overrides(settings: ModuleType, config: OpsConfig) -> None:
    """Add the ops app to an imported upstream settings module, in place."""
    _extend(settings, "INSTALLED_APPS", OPS_APPS, front=False)
    _extend(settings, "MIDDLEWARE", OPS_OUTER_MIDDLEWARE, front=True)
    _extend(settings, "MIDDLEWARE", (OPS_INNER_MIDDLEWARE,), front=False)

    database = getattr(settings, "DATABASES", {}).get("default")
    if database is not None:
        if database.get("ENGINE") == "django.db.backends.postgresql":
            # Same driver, plus query counts and latencies for /metrics/.
            database["ENGINE"] = "django_prometheus.db.backends.postgresql"
        database.setdefault("OPTIONS", {}).setdefault("connect_timeout", config.db_connect_timeout)
        database["CONN_MAX_AGE"] = config.db_conn_max_age
        # Persistent connections are checked before reuse: after a Patroni failover
        # HAProxy drops them and the next request reconnects instead of failing.
        database["CONN_HEALTH_CHECKS"] = True

    caches = config.cache_settings()
    if caches is not None:
        settings.CACHES = caches
        # Each swallowed cache error is logged (django_redis.cache, at ERROR).
        settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    if config.media_root:
        settings.MEDIA_ROOT = config.media_root.rstrip("/") + "/"
    if config.static_root:
        settings.STATIC_ROOT = config.static_root
    # The horilla-scheduler service logs to its own file; web workers and commands to app.log.
    log_file = "scheduler.log" if guard.mode() == "candidate" else "app.log"
    settings.LOGGING = logging_config(config.log_dir, config.log_level, log_file)
    # Migration state is checked by /health/ready/; no DB query at every worker boot.
    settings.PROMETHEUS_EXPORT_MIGRATIONS = False
    # django-prometheus' default buckets jump from 1.0 to 2.5 s: the latency objective
    # (95 % under 2 s, horilla:latency_slow:*) needs a 2.0 s boundary of its own.
    settings.PROMETHEUS_LATENCY_BUCKETS = LATENCY_BUCKETS
    settings.HORILLA_OPS = config
