"""The `redis_command` filter: a command as one line redis-cli reads from its stdin.

redis-cli without a command on its argv reads commands from stdin, one a line, and
splits each line as its prompt does (sdssplitargs in Redis' sds.c): a double-quoted
argument may hold spaces, `\\"`, `\\\\` and `\\xHH` escapes. Each argument is quoted
here, printable ASCII kept and every other byte (a newline, UTF-8) written as `\\xHH`,
so any value reaches the server byte for byte. For example

    "{{ ['CONFIG', 'SET', 'save', '3600 1'] | redis_command }}"  ->  "CONFIG" "SET" "save" "3600 1"

The roles send a password this way (`AUTH`, then the command, on stdin): it never
appears on a command line or in an environment. tests/test_filter_redis.py parses the
lines back as redis-cli does.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_PLAIN = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def _quote(argument: object) -> str:
    if isinstance(argument, bool) or not isinstance(argument, str | int):
        raise AnsibleFilterError(f"redis_command: an argument must be a string or an integer, got {argument!r}")
    out = []
    for byte in str(argument).encode():
        if byte in _PLAIN:
            out.append(chr(byte))
        elif byte in (ord('"'), ord("\\")):
            out.append("\\" + chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def redis_command(arguments: list) -> str:
    if not isinstance(arguments, list | tuple) or not arguments:
        raise AnsibleFilterError(f"redis_command expects a non-empty list of arguments, got {arguments!r}")
    return " ".join(_quote(a) for a in arguments)


class FilterModule:
    def filters(self):
        return {"redis_command": redis_command}
