"""The firewall's allow-list, checked and compiled for one host (roles/firewall).

An allow-list entry says which hosts serve a service and who may connect to it:

    {service: etcd peer, group: etcd, tcp: [2380], from: [etcd]}

- `service`: a name (it becomes the rule's comment);
- `group`: the inventory group whose hosts serve it (`all` for every host);
- `tcp` / `udp`: ports, each an integer or a "low-high" range; `protocols`: other IP
  protocols by name (`vrrp`);
- `from`: who may connect: inventory groups, addresses or networks (CIDR), `admin`
  (the operators' networks, firewall_admin_sources) or `any`;
- `to` (optional): the destination addresses it is open on (a VIP); every address of
  the host by default.

`firewall_problems` names every bad entry (the variable, its index, the host) for the
preflight; `firewall_accepts` turns the entries that apply to one host into the
rules its nftables table accepts, the groups resolved to their hosts' internal
addresses. A group the inventory does not have, or an empty one, admits nobody.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

ANY = "any"
ADMIN = "admin"
KEYS = {"service", "group", "tcp", "udp", "protocols", "from", "to"}
# The project's groups (CONTRIBUTING.md): the roles' lists name them, and an inventory
# without one of them (no search tier, say) is still valid; that group admits nobody.
STANDARD_GROUPS = {
    "loadbalancers",
    "app",
    "postgres",
    "etcd",
    "redis",
    "sentinel",
    "elasticsearch",
    "monitoring",
    "backup",
}
PROTOCOLS = {"vrrp", "esp", "ah", "gre", "sctp"}
RANGE = re.compile(r"^(\d{1,5})-(\d{1,5})$")


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _port_problem(port: Any) -> str | None:
    if isinstance(port, bool):
        return f"{port!r} is not a port"
    if isinstance(port, int):
        return None if 1 <= port <= 65535 else f"port {port} is outside 1-65535"
    if isinstance(port, str):
        if port.isdigit():
            return _port_problem(int(port))
        match = RANGE.match(port)
        if match:
            low, high = int(match[1]), int(match[2])
            if 1 <= low < high <= 65535:
                return None
        return f"{port!r} is neither a port nor a range low-high within 1-65535"
    return f"{port!r} is not a port"


def _entry_problems(entry: Any, known_groups: set[str]) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"is {entry!r}, not a mapping with service, group, tcp/udp and from"]
    problems = []
    unknown = set(entry) - KEYS
    if unknown:
        problems.append(f"has unknown keys {sorted(unknown)} (known: {sorted(KEYS)})")
    if not isinstance(entry.get("service"), str) or not entry.get("service"):
        problems.append("needs a service name")
    elif not re.match(r"^[A-Za-z0-9 ._/:-]+$", entry["service"]):
        problems.append(f"service {entry['service']!r} may hold only letters, digits, spaces and ._/:-")
    on = entry.get("group")
    if not isinstance(on, str) or not on:
        problems.append("needs `group`, the group whose hosts serve it")
    elif on != "all" and on not in known_groups:
        problems.append(f"`group` names {on!r}, which is not a group of the inventory")
    ports = 0
    for proto in ("tcp", "udp"):
        value = entry.get(proto, [])
        if not isinstance(value, list):
            problems.append(f"`{proto}` must be a list of ports, got {value!r}")
            continue
        ports += len(value)
        problems += [f"`{proto}`: {p}" for p in map(_port_problem, value) if p]
    protocols = entry.get("protocols", [])
    if not isinstance(protocols, list) or not set(protocols) <= PROTOCOLS:
        problems.append(f"`protocols` must be a list of {sorted(PROTOCOLS)}, got {protocols!r}")
    elif not ports and not protocols:
        problems.append("opens nothing: give it tcp or udp ports, or protocols")
    sources = entry.get("from")
    if not isinstance(sources, list) or not sources:
        problems.append("needs `from`: groups, addresses or networks, `admin` or `any`")
    else:
        for source in sources:
            if source in (ANY, ADMIN) or (isinstance(source, str) and source in known_groups):
                continue
            network = _network(source)
            if network is None:
                problems.append(f"`from` names {source!r}: neither a group of the inventory, an address, nor `any`")
            elif network.prefixlen == 0:
                problems.append(f"`from` names {source!r}, every address: write `any` if that is meant")
    targets = entry.get("to", [])
    if not isinstance(targets, list) or any(_network(t) is None or _network(t).num_addresses != 1 for t in targets):
        problems.append(f"`to` must be a list of addresses, got {targets!r}")
    return problems


def _source_list_problems(value: Any) -> list[str]:
    if not isinstance(value, list):
        return [f"must be a list of addresses or networks (CIDR), got {value!r}"]
    problems = []
    for source in value:
        network = _network(source)
        if network is None:
            problems.append(f"holds {source!r}, not an address or network")
        elif network.prefixlen == 0:
            problems.append(f"holds {source!r}: every address may not be trusted or admitted to SSH")
    return problems


def firewall_problems(variables: Mapping[str, Any], groups: Mapping[str, Iterable[str]], host: str) -> list[str]:
    """Every problem of the firewall's inputs, one message each naming the variable and host.

    `variables`: the allow-list layers by variable name, and the source lists
    (firewall_admin_sources, firewall_trusted_sources).
    """
    known = set(groups) | STANDARD_GROUPS
    problems = []
    for name, value in variables.items():
        where = f"{name} (host {host})"
        if name.endswith("_sources"):
            problems += [f"{where} {p}" for p in _source_list_problems(value)]
        elif not isinstance(value, list):
            problems.append(f"{where} must be a list of allow-list entries, got {type(value).__name__}")
        else:
            problems += [f"{where}[{i}] {p}" for i, entry in enumerate(value) for p in _entry_problems(entry, known)]
    return problems


def _addresses(
    sources: Iterable[str], groups: Mapping[str, Iterable[str]], hostvars: Mapping, admin: Iterable[str]
) -> tuple[list, list]:
    v4: set[str] = set()
    v6: set[str] = set()
    for source in sources:
        if source == ADMIN:
            networks = [ipaddress.ip_network(a, strict=False) for a in admin]
        elif source in STANDARD_GROUPS and source not in groups:
            networks = []
        elif source in groups:
            members = [hostvars[h].get("internal_address") for h in groups[source]]
            if not all(members):
                missing = [h for h, a in zip(groups[source], members, strict=True) if not a]
                raise AnsibleFilterError(f"firewall: hosts {missing} of group {source} have no internal_address")
            networks = [ipaddress.ip_network(a) for a in members]
        else:
            networks = [ipaddress.ip_network(source, strict=False)]
        for network in networks:
            (v4 if network.version == 4 else v6).add(str(network) if network.num_addresses > 1 else str(network[0]))

    def order(items: set[str]) -> list[str]:
        return sorted(items, key=lambda a: ipaddress.ip_network(a, strict=False))

    return order(v4), order(v6)


def firewall_accepts(
    rules: list[Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    hostvars: Mapping,
    host: str,
    admin: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The accept rules of `host`: one per entry that `host` serves, sources resolved
    (`admin` to the operators' networks).

    Each: service, ports ({"tcp": "2379, 2380", ...}), protocols, any (bool), v4/v6
    source lists and to4/to6 destination lists (empty: every address of the host).
    """
    out = []
    for entry in rules:
        serving = entry["group"] == "all" or host in groups.get(entry["group"], [])
        if not serving:
            continue
        sources = entry["from"]
        everyone = ANY in sources
        v4, v6 = ([], []) if everyone else _addresses(sources, groups, hostvars, admin)
        if not everyone and not v4 and not v6:
            continue  # nobody may connect: the default denies it already
        to4 = [t for t in entry.get("to", []) if ipaddress.ip_address(t).version == 4]
        to6 = [t for t in entry.get("to", []) if ipaddress.ip_address(t).version == 6]
        ports = {p: ", ".join(str(x) for x in entry.get(p, [])) for p in ("tcp", "udp") if entry.get(p)}
        out.append(
            {
                "service": entry["service"],
                "ports": ports,
                "protocols": list(entry.get("protocols", [])),
                "any": everyone,
                "v4": v4,
                "v6": v6,
                "to4": to4,
                "to6": to6,
            }
        )
    return out


def address_problems(
    host: str,
    hostvars: Mapping,
    hosts: Iterable[str],
    public_allowed: Iterable[str] = (),
    vip: str = "",
    internal_vip: str = "",
) -> list[str]:
    """What is wrong with `host`'s internal_address (and the VIPs), one message each:
    not an address; public without being listed in `public_allowed`
    (firewall_public_internal_addresses); shared with another host; a VIP that is a
    host's address; an internal VIP that is public or the same as the public VIP."""
    address = hostvars[host].get("internal_address")
    try:
        mine = ipaddress.ip_address(str(address))
    except ValueError:
        return [f"internal_address (host {host}) is {address!r}, not an IP address"]
    problems = []
    if not mine.is_private and str(mine) not in {str(a) for a in public_allowed}:
        problems.append(
            f"internal_address (host {host}) is {mine}, a public address: every service binds there. Give the "
            "host's address on the private network, or list it in firewall_public_internal_addresses if it is meant"
        )
    others = {h: hostvars[h].get("internal_address") for h in hosts if h != host}
    shared = sorted(h for h, a in others.items() if str(a) == str(mine))
    if shared:
        problems.append(f"internal_address (host {host}) is {mine}, which is also the address of {', '.join(shared)}")
    if vip:
        try:
            ipaddress.ip_address(str(vip))
        except ValueError:
            problems.append(f"horilla_vip (host {host}) is {vip!r}, not an IP address")
        else:
            if str(vip) == str(mine):
                problems.append(
                    f"horilla_vip (host {host}) is {vip}, this host's own internal_address: the VIP belongs to no host"
                )
    if internal_vip:
        problems += _internal_vip_problems(host, mine, str(vip), str(internal_vip), public_allowed)
    return problems


def _internal_vip_problems(
    host: str, mine: ipaddress._BaseAddress, vip: str, internal_vip: str, public_allowed: Iterable[str]
) -> list[str]:
    """The app tier's way to Postgres: private, no host's address, not the public VIP."""
    name = f"horilla_internal_vip (host {host})"
    try:
        address = ipaddress.ip_address(internal_vip)
    except ValueError:
        return [f"{name} is {internal_vip!r}, not an IP address"]
    problems = []
    if not address.is_private and internal_vip not in {str(a) for a in public_allowed}:
        problems.append(f"{name} is {internal_vip}, a public address: the database listeners bind there")
    if address == mine:
        problems.append(f"{name} is {internal_vip}, this host's own internal_address: the VIP belongs to no host")
    if internal_vip == vip:
        problems.append(
            f"{name} is {internal_vip}, the same as horilla_vip: the database listeners must not be on the public VIP"
        )
    return problems


def listen_problems(variables: Mapping[str, Any], host: str) -> list[str]:
    """Listen addresses ("host:port", "[v6]:port" or an address) that bind every address."""
    problems = []
    for name, value in variables.items():
        text = str(value).strip()
        bound = text.rsplit(":", 1)[0] if text.count(":") == 1 or text.startswith("[") else text
        bound = bound.strip("[]")
        if bound in ("", "0.0.0.0", "::", "*"):  # noqa: S104 (looks for them; binds nothing)
            problems.append(
                f"{name} (host {host}) is {text!r}: it listens on every address. Bind it to internal_address"
            )
    return problems


def in_network(address: str, network: str, netmask: str) -> bool:
    """Whether `address` is inside network/netmask (an interface's IPv4 facts)."""
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(f"{network}/{netmask}", strict=False)
    except ValueError:
        return False


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "firewall_problems": firewall_problems,
            "firewall_accepts": firewall_accepts,
            "address_problems": address_problems,
            "listen_problems": listen_problems,
            "in_network": in_network,
        }
