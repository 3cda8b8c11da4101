"""The redis_command filter (plugins/filter/redis.py) writes lines redis-cli splits back
into the same arguments: checked with a port of Redis' sdssplitargs (sds.c), the
splitter of redis-cli's prompt and of commands read from its stdin."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from lab.plugins import filters

redis_command = filters("redis")["redis_command"]

HEX = "0123456789abcdefABCDEF"
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}


def sdssplitargs(line: str) -> list[bytes] | None:
    """Redis' sdssplitargs over one line: the arguments, or None where Redis refuses it."""
    data, i, args = line.encode("latin-1"), 0, []
    while True:
        while i < len(data) and chr(data[i]).isspace():
            i += 1
        if i == len(data):
            return args
        current, quoted = bytearray(), False
        while True:
            c = chr(data[i]) if i < len(data) else ""
            if quoted:
                if c == "":
                    return None  # unterminated quotes
                if (
                    c == "\\"
                    and i + 3 < len(data)
                    and chr(data[i + 1]) == "x"
                    and all(chr(h) in HEX for h in data[i + 2 : i + 4])
                ):
                    current.append(int(data[i + 2 : i + 4], 16))
                    i += 3
                elif c == "\\" and i + 1 < len(data):
                    i += 1
                    current += ESCAPES.get(chr(data[i]), chr(data[i])).encode("latin-1")
                elif c == '"':
                    if i + 1 < len(data) and not chr(data[i + 1]).isspace():
                        return None  # a closing quote must be followed by a space
                    i += 1
                    break
                else:
                    current.append(data[i])
            elif c in ("", " ", "\n", "\r", "\t"):
                break
            elif c == '"':
                quoted = True
            else:
                current.append(data[i])
            i += 1
        args.append(bytes(current))


VALUES = [
    "allkeys-lfu",
    "3600 1 300 100 60 10000",
    "",
    'a "quoted" word',
    "back\\slash\\x41 not an escape",
    "new\nline\rand\ttab",
    "ünïcødé €",
    "  leading and trailing  ",
    "'single'",
    "0",
]


@pytest.mark.parametrize("value", VALUES)
def test_redis_cli_reads_back_the_same_arguments(value):
    line = redis_command(["CONFIG", "SET", "some-setting", value])
    assert "\n" not in line and "\r" not in line
    assert sdssplitargs(line.encode().decode("latin-1")) == [b"CONFIG", b"SET", b"some-setting", value.encode()]


def test_the_port_splits_as_redis_does():
    """Cases whose answer redis-cli 7.0 gave on a real server (SET, then GET)."""
    assert sdssplitargs('SET k "a\\x41\\"b\\\\"') == [b"SET", b"k", b'aA"b\\']
    assert sdssplitargs('SET k "a"b') is None
    assert sdssplitargs('SET k "open') is None


def test_integers_are_written_as_numbers():
    assert redis_command(["SENTINEL", "SET", "horilla", "quorum", 2]) == '"SENTINEL" "SET" "horilla" "quorum" "2"'


@pytest.mark.parametrize("bad", [[], "AUTH secret", None, ["AUTH", None], ["SET", "k", True], ["SET", ["k"]]])
def test_refuses_what_is_not_a_list_of_strings(bad):
    with pytest.raises(AnsibleFilterError):
        redis_command(bad)
