"""Every backup both tools hold, as one list (`horilla-restore --list`)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

PGBACKREST_LABEL = re.compile(r"^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$")
RESTIC_ID = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass(frozen=True)
class Entry:
    id: str
    tool: str
    type: str
    time: datetime
    size_bytes: int | None
    where: str

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = self.time.isoformat()
        return d


def backup_id_kind(backup_id: str) -> str:
    """'pgbackrest' for a pgBackRest label, 'restic' for a snapshot id, else ValueError."""
    if PGBACKREST_LABEL.match(backup_id):
        return "pgbackrest"
    if RESTIC_ID.match(backup_id):
        return "restic"
    raise ValueError(
        f"{backup_id!r} is neither a pgBackRest backup label (20261124-010000F, ..._20261125-010000D)"
        " nor a restic snapshot id (8 to 64 hex digits); see `horilla-restore --list`"
    )


def from_pgbackrest(backups: list[dict[str, Any]]) -> list[Entry]:
    return [
        Entry(
            id=b["label"],
            tool="pgbackrest",
            type=b["type"],
            time=datetime.fromtimestamp(b["timestamp"]["stop"], UTC),
            size_bytes=b.get("info", {}).get("size"),
            where=f"database (WAL {b.get('archive', {}).get('start', '?')})",
        )
        for b in backups
    ]


def parse_restic_time(raw: str) -> datetime:
    """restic's RFC 3339 times carry nanoseconds, which fromisoformat before 3.11 refuses."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", raw.replace("Z", "+00:00"))
    return datetime.fromisoformat(trimmed).astimezone(UTC)


def from_restic(snapshots: list[dict[str, Any]]) -> list[Entry]:
    entries = []
    for s in snapshots:
        tags = s.get("tags") or []
        summary = s.get("summary") or {}
        entries.append(
            Entry(
                id=s["short_id"] if "short_id" in s else s["id"][:8],
                tool="restic",
                type="pg_dump" if "pg_dump" in tags else ",".join(tags) or "files",
                time=parse_restic_time(s["time"]),
                size_bytes=summary.get("total_bytes_processed"),
                where=f"{s.get('hostname', '?')}:{','.join(s.get('paths', []))}",
            )
        )
    return entries


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def table(entries: list[Entry]) -> str:
    rows = [("ID", "TOOL", "TYPE", "TIME (UTC)", "SIZE", "WHAT")]
    for e in sorted(entries, key=lambda e: e.time):
        rows.append((e.id, e.tool, e.type, e.time.strftime("%Y-%m-%d %H:%M:%S"), human_size(e.size_bytes), e.where))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + "  " + r[-1] for r in rows)
