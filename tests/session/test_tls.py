"""HTTPS to the server with certificate verification: a private CA (as a call center's IT
would run) is trusted when given, and an untrusted certificate is refused with clear words."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.messages import user_message
from tests.conftest import TEST_SETTINGS
from tests.support.live import LiveServer, start_live_server


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(tmp: Path) -> tuple[str, str, str]:
    """(server certificate, server key, CA certificate) files: a CA and a 127.0.0.1 cert."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Test call-center CA"))
          .issuer_name(_name("Test call-center CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = (tmp / "server.pem", tmp / "server.key", tmp / "ca.pem")
    files[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    files[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return str(files[0]), str(files[1]), str(files[2])


@pytest.fixture
def tls_server(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[LiveServer, str]]:
    import shutil

    db = tmp_path / "db.sqlite3"
    shutil.copy(sqlite_template, db)
    pki = make_pki(tmp_path)
    with start_live_server(replace(TEST_SETTINGS, db_url=f"sqlite:///{db}"), tls=pki) as live:
        yield live, pki[2]


def test_trusted_private_ca_logs_in(tls_server: tuple[LiveServer, str]) -> None:
    server, ca = tls_server
    assert server.base_url.startswith("https://")
    client = ApiClient(server.base_url, client_version="tls/1", verify=ca)
    try:
        result = client.login("demo", "1001", "demo", terminal_id="tls")
        assert result.session.id > 0
        assert client.me().agent is not None
    finally:
        client.close()


def test_untrusted_certificate_is_refused_in_plain_words(
        tls_server: tuple[LiveServer, str]) -> None:
    server, _ca = tls_server
    client = ApiClient(server.base_url, client_version="tls/1")  # the system's CAs only
    try:
        with pytest.raises(e.NetworkError) as err:
            client.login("demo", "1001", "demo", terminal_id="tls")
    finally:
        client.close()
    assert err.value.code == e.NET_TLS
    assert user_message(err.value) == (
        f"Can't reach the call-center server at {server.base_url}: its security certificate "
        "is not trusted.")


def test_plain_http_to_a_tls_port_is_a_clear_error(
        tls_server: tuple[LiveServer, str]) -> None:
    server, _ca = tls_server
    plain = server.base_url.replace("https://", "http://")
    client = ApiClient(plain, client_version="tls/1", timeout=(2, 2))
    try:
        with pytest.raises(e.ApiError) as err:
            client.login("demo", "1001", "demo", terminal_id="tls")
    finally:
        client.close()
    assert "Can't reach" in user_message(err.value) or "does not look like" in user_message(
        err.value) or "does not understand" in user_message(err.value)
