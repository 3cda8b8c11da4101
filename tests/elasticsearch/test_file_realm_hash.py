"""Password hashes for Elasticsearch's file realm: the format x-pack reads, and stable on re-runs."""

import base64
import hashlib
import importlib.util
from pathlib import Path

import pytest

PLUGIN = (
    Path(__file__).resolve().parents[2] / "roles" / "elasticsearch" / "filter_plugins" / "elasticsearch_file_realm.py"
)
spec = importlib.util.spec_from_file_location("elasticsearch_file_realm", PLUGIN)
realm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(realm)


def test_format_is_pbkdf2_sha512_with_a_256_bit_key():
    stored = realm.hash_password("correct horse battery staple", salt=b"s" * 32)
    prefix, salt_b64, key_b64 = stored.split("$")
    assert prefix == "{PBKDF2}100000"
    assert base64.b64decode(salt_b64) == b"s" * 32
    expected = hashlib.pbkdf2_hmac("sha512", b"correct horse battery staple", b"s" * 32, 100_000, dklen=32)
    assert base64.b64decode(key_b64) == expected


def test_salts_are_random():
    assert realm.hash_password("pw-0123456789abcdef") != realm.hash_password("pw-0123456789abcdef")


def test_existing_hash_is_kept_while_it_matches():
    first = realm.elasticsearch_file_realm_hash("pw-0123456789abcdef")
    assert realm.elasticsearch_file_realm_hash("pw-0123456789abcdef", first) == first
    changed = realm.elasticsearch_file_realm_hash("another-password-123", first)
    assert changed != first
    assert realm.verify("another-password-123", changed)
    assert not realm.verify("pw-0123456789abcdef", changed)


@pytest.mark.parametrize("stored", ["", "$2a$10$abcdefghijklmnopqrstuv", "{PBKDF2}x$$", "{PBKDF2}10000$%%$%%"])
def test_foreign_or_broken_hashes_are_replaced(stored):
    fresh = realm.elasticsearch_file_realm_hash("pw-0123456789abcdef", stored)
    assert fresh != stored
    assert realm.verify("pw-0123456789abcdef", fresh)


def test_empty_password_is_refused():
    with pytest.raises(ValueError, match="non-empty password"):
        realm.elasticsearch_file_realm_hash("")


def test_users_file_is_parsed_without_comments():
    content = "# managed\n\nmonitor:{PBKDF2}1$a$b\nhealth:{PBKDF2}2$c$d\n"
    assert realm.parse_users_file(content) == {"monitor": "{PBKDF2}1$a$b", "health": "{PBKDF2}2$c$d"}
    assert realm.parse_users_file("") == {}
