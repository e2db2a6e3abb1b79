"""The local development CA and certificate: made once, reused, renewed, and trusted by OpenSSL.

Trust is checked the way clients check it: a real TLS handshake (Python's ``ssl``, OpenSSL) between
a server holding the leaf and a client that trusts only the CA file, with hostname checks on.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shlex
import socket
import ssl
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import require_program
from h2push._tools.serve.devcert import (
    CACHE_DIR_ENV,
    LEAF_VALIDITY_DAYS,
    DevCertificate,
    cache_dir,
    chromium_shell_command,
    ensure_dev_certificate,
    spki_sha256_base64,
)

NOW = datetime.datetime.now(datetime.timezone.utc)
POSIX = os.name == "posix"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache" / "h2push"
    monkeypatch.setenv(CACHE_DIR_ENV, str(directory))
    return directory


def _contents(dev: DevCertificate) -> tuple[bytes, bytes, bytes]:
    return dev.ca_file.read_bytes(), dev.cert_file.read_bytes(), dev.key_file.read_bytes()


def _leaf(dev: DevCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dev.cert_file.read_bytes())


def _handshake(
    cert_file: Path, key_file: Path, ca_file: Path, server_hostname: str, host: str = "127.0.0.1"
) -> None:
    """Serve one TLS handshake with ``cert_file`` and connect trusting only ``ca_file``.

    Raises:
        ssl.SSLCertVerificationError: The client did not trust the server's certificate.
    """
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            # The client's verdict is what the tests look at; the server side may fail with it.
            try:
                connection, _ = listener.accept()
                connection.settimeout(10)
                with connection, server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                return

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            client_context = ssl.create_default_context(cafile=str(ca_file))
            with (
                socket.create_connection((host, port), timeout=10) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                tls.sendall(b"x")
        finally:
            thread.join(timeout=10)


def test_creates_ca_and_leaf_in_the_cache_directory(cache: Path) -> None:
    dev = ensure_dev_certificate()

    assert dev.created
    assert {dev.ca_file.parent, dev.cert_file.parent, dev.key_file.parent} == {cache}
    assert all(path.is_file() for path in (dev.ca_file, dev.cert_file, dev.key_file))
    leaf = _leaf(dev)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=398)  # browsers refuse more than 397 days
    assert dev.not_valid_after == leaf.not_valid_after_utc
    assert dev.spki_sha256 == spki_sha256_base64(dev.cert_file.read_bytes())
    assert len(dev.spki_sha256) == 44


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX")
def test_keys_are_readable_by_the_owner_only(cache: Path) -> None:
    dev = ensure_dev_certificate()

    for key in (dev.key_file, cache / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(dev.cert_file.stat().st_mode) == 0o644


def test_second_call_reuses_the_files(cache: Path) -> None:
    first = ensure_dev_certificate()
    before = _contents(first)

    second = ensure_dev_certificate()

    assert not second.created
    assert _contents(second) == before
    assert second.spki_sha256 == first.spki_sha256


def test_an_expired_leaf_is_renewed_from_the_same_ca(cache: Path) -> None:
    # Issued 400 days ago: the leaf (397 days) has expired, the CA (825 days) has not.
    old = ensure_dev_certificate(now=NOW - datetime.timedelta(days=400))
    assert old.not_valid_after < NOW
    ca_before = old.ca_file.read_bytes()

    renewed = ensure_dev_certificate()

    assert renewed.created
    assert renewed.not_valid_after > NOW + datetime.timedelta(days=300)
    assert renewed.ca_file.read_bytes() == ca_before
    _handshake(renewed.cert_file, renewed.key_file, renewed.ca_file, "localhost")


def test_an_expired_ca_is_replaced_with_its_leaf(cache: Path) -> None:
    old = ensure_dev_certificate(now=NOW - datetime.timedelta(days=1000))
    ca_before = old.ca_file.read_bytes()

    renewed = ensure_dev_certificate()

    assert renewed.created
    assert renewed.ca_file.read_bytes() != ca_before
    _handshake(renewed.cert_file, renewed.key_file, renewed.ca_file, "localhost")


def test_a_leaf_close_to_expiry_is_renewed(cache: Path) -> None:
    # Ten days of validity left, fewer than RENEW_BEFORE_DAYS.
    ensure_dev_certificate(now=NOW - datetime.timedelta(days=LEAF_VALIDITY_DAYS - 10))

    assert ensure_dev_certificate().created


@pytest.mark.parametrize("damage", ["garbage certificate", "empty key", "someone else's key"])
def test_unusable_files_are_replaced(cache: Path, damage: str) -> None:
    dev = ensure_dev_certificate()
    if damage == "garbage certificate":
        dev.cert_file.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    elif damage == "empty key":
        dev.key_file.write_bytes(b"")
    else:
        other = ec.generate_private_key(ec.SECP256R1())
        dev.key_file.write_bytes(
            other.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    repaired = ensure_dev_certificate()

    assert repaired.created
    _handshake(repaired.cert_file, repaired.key_file, repaired.ca_file, "localhost")


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_openssl_trusts_the_leaf_given_only_the_ca(cache: Path, server_hostname: str) -> None:
    dev = ensure_dev_certificate()

    _handshake(dev.cert_file, dev.key_file, dev.ca_file, server_hostname)


def test_openssl_trusts_the_leaf_over_ipv6_loopback(cache: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    dev = ensure_dev_certificate()
    try:
        _handshake(dev.cert_file, dev.key_file, dev.ca_file, "::1", host="::1")
    except OSError as error:
        if isinstance(error, ssl.SSLError):
            raise
        pytest.skip(f"cannot use ::1 here: {error}")


def test_the_leaf_is_refused_for_another_name(cache: Path) -> None:
    dev = ensure_dev_certificate()

    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(dev.cert_file, dev.key_file, dev.ca_file, "example.com")


def test_the_ca_cannot_vouch_for_other_sites(cache: Path, tmp_path: Path) -> None:
    # Even with the CA's key, a certificate for another name fails: the CA is name-constrained.
    dev = ensure_dev_certificate()
    ca_cert = x509.load_pem_x509_certificate(dev.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key((cache / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.com")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "rogue.pem", tmp_path / "rogue-key.pem"
    cert_file.write_bytes(rogue.public_bytes(serialization.Encoding.PEM) + dev.ca_file.read_bytes())
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation"):
        _handshake(cert_file, key_file, dev.ca_file, "example.com")


def test_spki_hash_equals_the_openssl_pipeline(cache: Path) -> None:
    require_program("openssl")
    dev = ensure_dev_certificate()
    pipeline = (
        f"openssl x509 -in {shlex.quote(str(dev.cert_file))} -pubkey -noout"
        " | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"
    )

    result = subprocess.run(
        ["sh", "-c", pipeline], capture_output=True, text=True, timeout=20, check=True
    )

    assert result.stdout.strip() == dev.spki_sha256


def test_spki_hash_rejects_non_certificates() -> None:
    with pytest.raises(ValueError, match=r"."):
        spki_sha256_base64(b"not a certificate")


def test_concurrent_first_runs_agree(cache: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ensure_dev_certificate(), range(4)))

    assert sum(result.created for result in results) == 1
    assert len({result.spki_sha256 for result in results}) == 1
    dev = results[0]
    assert dev.spki_sha256 == spki_sha256_base64(dev.cert_file.read_bytes())
    _handshake(dev.cert_file, dev.key_file, dev.ca_file, "localhost")


def test_cache_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"

    monkeypatch.delenv(CACHE_DIR_ENV)
    assert cache_dir() == tmp_path / "xdg" / "h2push"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dirs/are/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if POSIX:
        assert cache_dir() == tmp_path / "home" / ".cache" / "h2push"


def test_chromium_command_trusts_the_key_in_a_fresh_profile() -> None:
    spki = "it5tQQqPYdAXpx4yI7uFUmF9Bwb8koiOgCLRTKfRqkU="

    line = chromium_shell_command("https://127.0.0.1:8443/", [spki], executable="chromium")

    assert shlex.split(line) == [
        "chromium",
        f"--ignore-certificate-errors-spki-list={spki}",
        "--user-data-dir=$(mktemp -d)",
        "https://127.0.0.1:8443/",
    ]
    assert "--ignore-certificate-errors " not in line
    with pytest.raises(ValueError, match="spki"):
        chromium_shell_command("https://127.0.0.1:8443/", ["a,b"])
