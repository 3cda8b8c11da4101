"""The whole-site suite (molecule/cluster): tier by tier on the converged site, then the
operations, the SLA drill, a converge after it, and the restore drill, in file order.
The tests use lab.cluster (one client per tier) and lab.testing (hosts, secrets).

`make test` (and so CI) runs the suite without the modules in FULL_SUITE_ONLY (the
operators' operations), to keep CI within its hour on 2 cores; `make test-all` and `make drill-cluster` run all of it
(LAB_CLUSTER_SUITE=full)."""

import pytest

from lab import testing
from lab.cluster import monitoring

FULL_SUITE_ONLY = {
    "test_30_operations.py": "the operators' operations (switchover, rolling settings, reloads, alerts): about 9 min",
    "test_46_grow_shrink.py": (
        "an app node, a Postgres replica and a Redis replica with its Sentinel, each added by the"
        " inventory and site.yml, then retired, under load: about an hour"
    ),
    "test_48_os_update.py": "Debian updates and a reboot of all 14 hosts, one at a time, under load: about 15 min",
    "test_49_upgrade.py": (
        "a Horilla release refused until its migration is accepted, rolled out, a renaming one refused,"
        " then the rollback, under load: about 25 min"
    ),
    "test_55_restore_scopes.py": "restores of one scope (a backup by its id, the database alone, the files alone)",
    "test_47_replace_members.py::test_a_destroyed_host_is_rebuilt_by_a_converge": (
        "two hosts destroyed and rebuilt from the bare image by a converge, under load: about 5 min"
    ),
}


def full_suite_only(item) -> bool:
    """A module of FULL_SUITE_ONLY, or one test function of a module (`module::function`)."""
    return item.path.name in FULL_SUITE_ONLY or f"{item.path.name}::{item.originalname}" in FULL_SUITE_ONLY


def pytest_report_header(config):
    if testing.full_suite():
        return "cluster suite: full (LAB_CLUSTER_SUITE=full)"
    left = "; ".join(f"{name}: {why}" for name, why in FULL_SUITE_ONLY.items())
    return f"cluster suite: make test's part; make test-all also runs {left}"


def pytest_collection_modifyitems(config, items):
    if testing.full_suite():
        return
    left = [item for item in items if full_suite_only(item)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if not full_suite_only(item)]


@pytest.fixture(scope="session", autouse=True)
def sink():
    """The webhook sink Alertmanager on mon1 delivers to (drill-settings/hosts.yml): a
    container of the lab's, up since its creation (without it every notification would
    fail, and failing deliveries are themselves an alert, AlertmanagerNotificationsFailing,
    in a site that should show none)."""
    return monitoring.Sink(monitoring.sink_address()).start()
