"""/metrics/: django-prometheus's request, DB and cache series plus the ops gauges.

Under gunicorn every worker is its own process; with PROMETHEUS_MULTIPROC_DIR set (the
role sets it) the counters of all workers are merged by prometheus_client's
MultiProcessCollector, so a scrape sees the node, not whichever worker answered. The ops
gauges (health checks, scheduler leader, build info) are computed at scrape time; the
business gauges (business.py) only on the scheduler leader, at most once a minute.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Iterator

import django
import prometheus_client
from django.conf import settings
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from horilla_ops import __version__
from horilla_ops.config import DEPENDENCY_CHECKS
from horilla_ops.health import business, checks


class OpsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        config = settings.HORILLA_OPS
        up = GaugeMetricFamily(
            "horilla_health_check_up", "1 if the dependency check passes on this node", labels=["check"]
        )
        latency = GaugeMetricFamily(
            "horilla_health_check_latency_seconds", "Duration of the dependency check", labels=["check"]
        )
        # Every shared dependency, whether readiness requires it or not: alerts watch them.
        for result in checks.run(dict.fromkeys([*config.ready_checks, *DEPENDENCY_CHECKS])):
            up.add_metric([result.name], 1.0 if result.ok else 0.0)
            latency.add_metric([result.name], result.seconds)
        yield up
        yield latency

        from horilla_ops.health.views import scheduler_holder

        try:
            holder = scheduler_holder()
        except Exception:  # no database: leadership unknown, horilla_health_check_up says why
            holder = "?"
        if holder != "?":
            yield GaugeMetricFamily(
                "horilla_scheduler_leader",
                "1 if this node's horilla-scheduler holds the cluster-wide scheduler lock",
                value=1.0 if holder == config.node_name else 0.0,
            )
        try:
            yield from business.families(business.snapshot(leader=holder == config.node_name))
        except Exception:  # never fail the scrape for them
            logging.getLogger(__name__).warning("business metrics not exported", exc_info=True)

        build = GaugeMetricFamily(
            "horilla_build_info",
            "Versions running on this node",
            labels=["app", "release", "horilla_ops", "django", "python"],
        )
        build.add_metric(
            [config.app, config.release, __version__, django.get_version(), platform.python_version()], 1.0
        )
        yield build


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
    else:
        shared = prometheus_client.REGISTRY
    ops = CollectorRegistry(auto_describe=False)
    ops.register(OpsCollector())
    body = prometheus_client.generate_latest(shared) + prometheus_client.generate_latest(ops)
    return body, prometheus_client.CONTENT_TYPE_LATEST
