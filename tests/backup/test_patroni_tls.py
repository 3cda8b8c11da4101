"""horilla-backup asks Patroni's REST API over https with the node's certificate
(verify_client: required): a server that wants a client certificate of the CA answers
it, and the backup job learns the node's role; without the certificate it cannot."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import shutil
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from horilla_ops.backup import jobs
from horilla_ops.backup.settings import Settings


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: str, issuer_key, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key=None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (directory / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture
def patroni(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on loopback that, like Patroni with verify_client: required,
    completes no handshake without a client certificate of the CA; /leader answers 200.
    Yields its URL and a node's TLS directory (ca.crt, server.crt, server.key)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, "Test CA", ca_key, ca=True)
    node = tmp_path / "node"
    _write(node, "ca", ca)
    node_key = ec.generate_private_key(ec.SECP256R1())
    _write(node, "server", _certificate("db1", node_key, "Test CA", ca_key), node_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "patroni", "server", _certificate("db2", server_key, "Test CA", ca_key), server_key)

    class Leader(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/leader" else 404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "patroni" / "server.crt", tmp_path / "patroni" / "server.key")
    context.load_verify_locations(node / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.HTTPServer(("127.0.0.1", 0), Leader)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", node
    finally:
        server.shutdown()
        server.server_close()


def test_the_node_certificate_gets_an_answer(patroni):
    url, node = patroni
    assert jobs.patroni_role(Settings(patroni_url=url, patroni_tls_dir=node)) == "leader"


def test_without_a_client_certificate_patroni_does_not_answer(patroni, tmp_path):
    url, node = patroni
    # The CA but no certificate of the node's own: the handshake fails.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(node / "ca.crt", bare / "ca.crt")
    assert jobs.patroni_role(Settings(patroni_url=url, patroni_tls_dir=bare)) == "unknown"
    context = ssl.create_default_context(cafile=str(node / "ca.crt"))
    with pytest.raises(OSError):  # ssl.SSLError, URLError or a reset, by TLS version
        urllib.request.urlopen(f"{url}/leader", timeout=2, context=context)  # noqa: S310 (a test URL)


def test_the_settings_name_the_tls_directory(tmp_path):
    settings = Settings.load(
        {
            "HORILLA_BACKUP_PATRONI_URL": "https://192.0.2.31:8008",
            "HORILLA_BACKUP_PATRONI_TLS_DIR": str(tmp_path),
        },
        settings_file=tmp_path / "absent.env",
    )
    assert settings.patroni_tls_dir == tmp_path
    assert jobs.patroni_tls(Settings(patroni_url="http://127.0.0.1:8008")) is None
