"""The `systemd_escape_path` filter: a path as systemd names its mount unit.

The same as `systemd-escape --path` (systemd.unit(5), "String Escaping"): the path is
normalised (slashes at either end dropped, repeated ones merged), each "/" becomes "-",
and every byte other than ASCII letters, digits, ":", "_" and "." (and a "." that
would start the name) becomes "\\xNN". "/" alone is "-". For example

    "{{ '/var/lib/horilla-media' | systemd_escape_path }}.mount"  ->  var-lib-horilla\\x2dmedia.mount

A filter rather than a chain of Jinja replace() calls: those cannot express the byte
escapes. tests/test_filter_systemd.py compares it with systemd-escape itself.
"""

from __future__ import annotations

import string

from ansible.errors import AnsibleFilterError

_KEEP = frozenset(string.ascii_letters + string.digits + ":_.")


def systemd_escape_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise AnsibleFilterError(f"systemd_escape_path expects an absolute path, got {path!r}")
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-"
    if any(p in (".", "..") for p in parts):
        raise AnsibleFilterError(f"systemd_escape_path: {path!r} is not a normalised path")
    out = []
    for i, byte in enumerate("/".join(parts).encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif char in _KEEP and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


class FilterModule:
    def filters(self):
        return {"systemd_escape_path": systemd_escape_path}
