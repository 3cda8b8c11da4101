"""One client per tier of the whole site, for the cluster scenario's tests and drills.

Each module talks to one tier of a running lab (named by $LAB_NAME) the way its clients
do: `postgres` through Patroni's REST API and HAProxy, `cache` through the Sentinels,
`search` over TLS as the `elastic` user, `balancer` through HAProxy's runtime API and
the VIP, `monitoring` through Prometheus' and Alertmanager's APIs, `app` through the VIP
and the app nodes. `health` says whether the whole site is healthy, `report` writes the
drills' figures in one shape. Hosts, addresses and secrets come from lab.testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lab import playbook, testing


def run_playbook(
    path: str | Path, *, timeout: float = 1800, inventories: Sequence[str | Path] | None = None, **kwargs
) -> playbook.PlaybookRun:
    """One of the project's playbooks against this lab, with the inventory sources the lab
    was created and converged with (lab/create.yml records them), as an operator runs it;
    `inventories` instead of those, for a drill that changes the inventory."""
    lab = testing.lab()
    prefix = next(iter(lab.hosts.values())).address.rsplit(".", 1)[0]
    env = {"LAB_NAME": lab.name, "LAB_SUBNET_PREFIX": prefix, "LAB_DEBIAN_RELEASE": lab.release or "trixie"}
    sources = lab.inventories if inventories is None else tuple(inventories)
    return playbook.run(path, inventories=sources, env=env, timeout=timeout, **kwargs)
