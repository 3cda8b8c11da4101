"""The whole-site suite (molecule/cluster): tier by tier on the converged site, then the
operations, the SLA drill, a converge after it, and the restore drill, in file order.
The tests use lab.cluster (one client per tier) and lab.testing (hosts, secrets)."""

import pytest

from lab.cluster import monitoring


@pytest.fixture(scope="session", autouse=True)
def sink():
    """The webhook sink Alertmanager on mon1 delivers to (drill-settings/hosts.yml), up for
    the whole verify: without it every notification fails, and the failing deliveries
    are themselves an alert (AlertmanagerNotificationsFailing) in a site that should
    show none."""
    sink = monitoring.Sink(monitoring.gateway()).start()
    yield sink
    sink.stop()
