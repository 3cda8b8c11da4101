"""The `endpoints` filter: hosts of an inventory group as "address:port".

Peers are addressed by their `internal_address` (CONTRIBUTING.md, "Wiring between
tiers"); every role that lists a group's members for a client or a peer list uses this
one filter instead of its own extract/product/join chain:

    redis_sentinels: "{{ groups['sentinel'] | default([]) | endpoints(hostvars, 26379) }}"

The order is the group's. A host without an internal_address stops the run with a
message naming it (the inventory sets one, or the preflight sets the default route's).
ansible.cfg's `filter_plugins` makes it visible to every playbook and Molecule scenario.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def endpoints(hosts: Iterable[str], hostvars: Mapping[str, Mapping[str, Any]], port: int | str) -> list[str]:
    """["<internal_address>:<port>", ...] of `hosts` (inventory hostnames), in their order."""
    if isinstance(hosts, str | bytes) or not isinstance(hosts, Iterable):
        raise AnsibleFilterError(f"endpoints expects a list of inventory hostnames, got {hosts!r}")
    if port in (None, ""):
        raise AnsibleFilterError("endpoints needs a port")
    out = []
    for host in hosts:
        if host not in hostvars:
            raise AnsibleFilterError(f"endpoints: {host!r} is not a host of the inventory")
        host_vars = hostvars[host]
        address = host_vars.get("internal_address")
        if not address:
            raise AnsibleFilterError(
                f"endpoints: host {host} has no internal_address (set it in the inventory, or run the preflight)"
            )
        out.append(f"{address}:{port}")
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"endpoints": endpoints}
