"""What lab/create.yml recorded about a lab: containers, addresses, groups."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("LAB_STATE_DIR", PROJECT_DIR / ".lab" / "state"))


@dataclass(frozen=True)
class LabHost:
    name: str
    container: str
    address: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class LabState:
    name: str
    network: str
    hosts: dict[str, LabHost]
    vars: dict[str, Any]
    inventory: str = ""  # the inventory directory the lab was created from
    inventories: tuple[str, ...] = ()  # every inventory source of the run that created it
    release: str = ""  # Debian release of its hosts

    def group(self, group: str) -> list[LabHost]:
        """Hosts of an inventory group, in inventory order."""
        return [h for h in self.hosts.values() if group in h.groups]

    def host(self, name: str) -> LabHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"lab {self.name} has no host {name!r}; it has {sorted(self.hosts)}") from None


def state_path(lab_name: str) -> Path:
    return STATE_DIR / f"{lab_name}.json"


def load(lab_name: str) -> LabState:
    path = state_path(lab_name)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no lab state at {path}: create the lab first (make lab / molecule create)") from None
    hosts = {
        name: LabHost(name=name, container=h["container"], address=h["address"], groups=tuple(h["groups"]))
        for name, h in raw["hosts"].items()
    }
    return LabState(
        name=raw["name"],
        network=raw["network"],
        hosts=hosts,
        vars=raw.get("vars", {}),
        inventory=raw.get("inventory", ""),
        inventories=tuple(raw.get("inventories") or ([raw["inventory"]] if raw.get("inventory") else [])),
        release=raw.get("release", ""),
    )
