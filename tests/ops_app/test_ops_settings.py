"""The wrapper settings add the ops app to upstream's settings without copying them."""

import importlib


def test_ops_app_and_middlewares_are_added(django_app):
    from django.conf import settings

    assert "horilla_ops.health" in settings.INSTALLED_APPS
    assert "django_prometheus" in settings.INSTALLED_APPS
    assert settings.MIDDLEWARE[:3] == [
        "horilla_ops.logs.middleware.RequestIdMiddleware",
        "horilla_ops.health.middleware.OpsEndpointsMiddleware",
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
    ]
    assert settings.MIDDLEWARE[-1] == "django_prometheus.middleware.PrometheusAfterMiddleware"
    assert "horilla_ops.deploy" in settings.INSTALLED_APPS
    # Upstream's own middlewares are all still there, in their order.
    upstream = [m for m in settings.MIDDLEWARE if not m.startswith(("horilla_ops.", "django_prometheus."))]
    assert upstream[0] == "django.middleware.security.SecurityMiddleware"


def test_upstream_in_place_mutations_stay_visible(django_app):
    """Upstream's ready() hooks append to horilla.settings.MIDDLEWARE after import."""
    from django.conf import settings

    base = importlib.import_module("horilla.settings")
    assert base.MIDDLEWARE is settings.MIDDLEWARE
    assert base.INSTALLED_APPS is settings.INSTALLED_APPS
    assert base.DATABASES is settings.DATABASES


def test_database_cache_media_overrides(django_app):
    from django.conf import settings

    default = settings.DATABASES["default"]
    assert default["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert default["CONN_HEALTH_CHECKS"] is True
    assert default["OPTIONS"]["connect_timeout"] == 3
    # The primary for reads and writes, found through the Sentinels (no replica reads).
    assert settings.CACHES["default"]["OPTIONS"]["CLIENT_CLASS"] == "django_redis.client.DefaultClient"
    assert settings.CACHES["default"]["OPTIONS"]["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert settings.MEDIA_ROOT.endswith("/media/")
    assert settings.HORILLA_OPS.release == "unit-test"


def test_cache_goes_through_the_sentinel(django_app, redis_sentinel):
    import redis
    from django.core.cache import cache
    from django_redis import get_redis_connection

    cache.set("probe", "through-sentinel", 30)
    assert cache.get("probe") == "through-sentinel"
    connection = get_redis_connection("default")
    assert type(connection.connection_pool).__name__ == "SentinelConnectionPool"
    direct = redis.Redis(port=redis_sentinel.port, password=redis_sentinel.password)
    assert any(b"probe" in key for key in direct.keys("*")), "the value is in the Redis the Sentinel names"
