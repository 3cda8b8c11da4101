"""The cluster scenario reuses the helpers of the tiers' own scenarios (the load
balancer's runtime API and VIP, Patroni's REST API, the Sentinels): their test
directories are put on the import path, and sitedrill.py points them at this lab."""

import sys
from pathlib import Path

import pytest

MOLECULE = Path(__file__).resolve().parent.parent.parent
for tier in ("loadbalancer", "postgresql", "redis"):
    path = str(MOLECULE / tier / "tests")
    if path not in sys.path:
        sys.path.append(path)


@pytest.fixture(scope="session", autouse=True)
def sink():
    """The webhook sink Alertmanager on mon1 delivers to (drill-settings/hosts.yml), up for
    the whole verify: without it every notification fails, and the failing deliveries
    are themselves an alert (AlertmanagerNotificationsFailing) in a cluster that should
    show none."""
    import sitedrill

    sink = sitedrill.Sink(sitedrill.gateway()).start()
    yield sink
    sink.stop()
