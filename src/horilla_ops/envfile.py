"""The settings files the roles write for the operator commands (KEY=value lines)."""

from __future__ import annotations

from pathlib import Path


class SettingsError(ValueError):
    """A setting has a value the commands cannot use."""


# The group whose members may read the settings (the ops_cli role's ops_cli_group).
OPERATORS_GROUP = "horilla-ops"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines; blank lines and # comments are skipped, quotes are stripped.

    A missing file means defaults. An unreadable one is an error: quietly falling back
    to the defaults (localhost) would answer about the wrong cluster.
    """
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    except PermissionError:
        raise SettingsError(
            f"cannot read {path}: run as root, or as a member of the group {OPERATORS_GROUP}"
            f" (sudo usermod -aG {OPERATORS_GROUP} <user>, then log in again)"
        ) from None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values
