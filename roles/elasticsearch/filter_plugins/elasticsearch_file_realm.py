"""Password hashes for Elasticsearch's file realm (config/users), made on the controller.

Elasticsearch reads ``{PBKDF2}<iterations>$<base64 salt>$<base64 key>`` in the users
file: PBKDF2 with HMAC-SHA512 and a 256-bit key (x-pack's Hasher). The salt is random,
so a new hash differs on every call; ``elasticsearch_file_realm_hash`` therefore keeps
the hash already on the host when it still matches the password, which keeps the users
file, and the role, idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "{PBKDF2}"
# Elasticsearch resolves PBKDF2 hashes by iteration count; it knows 1000, 10000, 50000,
# 100000, 500000 and 1000000.
ITERATIONS = 100_000
SALT_BYTES = 32
KEY_BYTES = 32


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=KEY_BYTES)


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, iterations)
    return f"{PREFIX}{iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify(password: str, stored: str) -> bool:
    """True when ``stored`` is a PBKDF2 hash of ``password`` in Elasticsearch's format."""
    if not stored or not stored.startswith(PREFIX):
        return False
    try:
        iterations_text, salt_b64, key_b64 = stored[len(PREFIX) :].split("$")
        salt = base64.b64decode(salt_b64, validate=True)
        key = base64.b64decode(key_b64, validate=True)
        iterations = int(iterations_text)
    except ValueError:
        return False
    if iterations < 1 or not key:
        return False
    return hmac.compare_digest(_derive(password, salt, iterations)[: len(key)], key)


def elasticsearch_file_realm_hash(password: str, existing: str | None = None) -> str:
    """The hash to write for ``password``: ``existing`` when it still matches, else a new one."""
    if not isinstance(password, str) or not password:
        raise ValueError("elasticsearch_file_realm_hash needs a non-empty password")
    if existing and verify(password, existing):
        return existing
    return hash_password(password)


def parse_users_file(content: str) -> dict[str, str]:
    """username -> hash of a config/users file (comments and blank lines skipped)."""
    users: dict[str, str] = {}
    for line in (content or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, stored = line.partition(":")
        users[name] = stored
    return users


class FilterModule:
    def filters(self):
        return {
            "elasticsearch_file_realm_hash": elasticsearch_file_realm_hash,
            "elasticsearch_parse_users_file": parse_users_file,
        }
