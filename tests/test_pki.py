"""The one PKI mechanism (roles/shared/tasks/certificate.yml) that Elasticsearch, pgBackRest
and HAProxy use: a CA on the controller, a key and certificate per host, kept while valid,
renewed (same key) when the renewal margin is reached, and a half-given CA refused.

Runs the task file for real on this machine (a local host in a throw-away inventory),
writing only under tmp_path.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from lab import playbook
from lab.state import PROJECT_DIR

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the task file installs root-owned files")


@pytest.fixture
def issue(tmp_path):
    """issue(**settings) runs the task file for host `node1` (192.0.2.7) and returns the run."""
    inventory = playbook.local_inventory(tmp_path / "hosts.yml", {"pki": {"node1": "192.0.2.7"}})
    play = [
        {
            "name": "Issue node1's certificate",
            "hosts": "node1",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Certificate",
                    "ansible.builtin.import_role": {
                        "name": str(PROJECT_DIR / "roles" / "shared"),
                        "tasks_from": "certificate.yml",
                    },
                }
            ],
        }
    ]
    path = tmp_path / "issue.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))

    def _issue(check: bool = False, **settings):
        values = {
            "_shared_tls_ca_dir": str(tmp_path / "ca"),
            "_shared_tls_ca_name": "Test CA",
            "_shared_tls_dir": str(tmp_path / "host"),
            "_shared_tls_names": ["192.0.2.100", "hr.example.test"],
            "_shared_tls_valid_days": 60,
            **settings,
        }
        return playbook.run(path, inventories=[inventory], extra_vars=values, check=check, timeout=300)

    return _issue


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_issues_keeps_and_renews_a_certificate(tmp_path, issue):
    first = issue()
    assert first.ok, first.tail()
    ca, host = tmp_path / "ca", tmp_path / "host"
    assert (ca / "ca.key").stat().st_mode & 0o077 == 0
    assert (host / "node.key").stat().st_mode & 0o777 == 0o640
    issued = certificate(host / "node.crt")
    authority = certificate(ca / "ca.crt")
    issued.verify_directly_issued_by(authority)
    assert (host / "ca.crt").read_bytes() == (ca / "ca.crt").read_bytes()
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node1"
    san = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"node1", "hr.example.test"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("192.0.2.100"),
    }

    again = issue()
    assert again.ok and again.totals()["changed"] == 0, again.tail()
    assert certificate(host / "node.crt").serial_number == issued.serial_number

    # 60 days left and a 90-day margin: renewed on this converge, with the same key.
    key = (host / "node.key").read_bytes()
    dry = issue(check=True, _shared_tls_renew_days=90)
    assert dry.ok, dry.tail()
    assert certificate(host / "node.crt").serial_number == issued.serial_number, "check mode changed the certificate"
    renewed = issue(_shared_tls_renew_days=90)
    assert renewed.ok and renewed.totals()["changed"] > 0, renewed.tail()
    new = certificate(host / "node.crt")
    assert new.serial_number != issued.serial_number
    new.verify_directly_issued_by(authority)
    assert (host / "node.key").read_bytes() == key


def test_a_new_name_is_signed_into_the_certificate(tmp_path, issue):
    assert issue().ok
    renamed = issue(_shared_tls_names=["192.0.2.100", "hr.example.test", "people.example.test"])
    assert renamed.ok and renamed.totals()["changed"] > 0, renamed.tail()
    san = certificate(tmp_path / "host" / "node.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "people.example.test" in san.value.get_values_for_type(x509.DNSName)


def test_half_a_ca_is_refused_before_anything_is_issued(tmp_path, issue):
    assert issue().ok
    (tmp_path / "own-ca").mkdir()
    shutil.copy(tmp_path / "ca" / "ca.crt", tmp_path / "own-ca" / "ca.crt")
    refused = issue(_shared_tls_ca_dir=str(tmp_path / "own-ca"), _shared_tls_dir=str(tmp_path / "other"))
    assert not refused.ok
    assert "holds only one of ca.crt and ca.key" in refused.stdout
    assert not (tmp_path / "other").exists()
