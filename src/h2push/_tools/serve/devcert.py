"""A local development certificate authority and a certificate for this machine's loopback names.

Browsers speak HTTP/2 only over TLS, so ``h2push serve`` needs a certificate even on a laptop.
:func:`ensure_dev_certificate` creates, once per user, a small certificate authority and a leaf
certificate for ``localhost``, ``127.0.0.1`` and ``::1`` signed by it, keeps them in
:func:`cache_dir`, and hands them back on the next run while they are still valid.

Chromium honours 103 Early Hints only for a trusted certificate: start it with
``--ignore-certificate-errors-spki-list=<spki_sha256_base64(leaf)>`` (:func:`chromium_command`)
rather than ``--ignore-certificate-errors``, which makes it ignore 103 responses. Other clients can
trust the CA file (``curl --cacert ca.pem``).

The CA is name-constrained (RFC 5280 §4.2.1.10) to the loopback names, so even if its key left
the cache directory it could not vouch for any other site. Keys are ECDSA P-256, written with
mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import os
import secrets
import shlex
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from h2push._tools._common import EXECUTABLE_NAMES, find_chromium

try:  # POSIX: serialise concurrent first runs (parallel tests, several servers starting at once).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


CACHE_DIR_ENV: Final = "H2PUSH_CACHE_DIR"
"""Environment variable naming the directory that holds the development CA and certificate."""

DNS_NAMES: Final[tuple[str, ...]] = ("localhost",)
"""DNS names the leaf certificate is valid for."""

IP_ADDRESSES: Final[tuple[str, ...]] = ("127.0.0.1", "::1")
"""IP addresses the leaf certificate is valid for."""

CA_VALIDITY_DAYS: Final = 825
"""Lifetime of the development CA, in days."""

LEAF_VALIDITY_DAYS: Final = 397
"""Lifetime of the leaf certificate, in days: the longest browsers accept (CA/B Forum BR 6.3.2)."""

RENEW_BEFORE_DAYS: Final = 30
"""A certificate with fewer days than this left is replaced, in days."""

CA_CERT_NAME: Final = "ca.pem"
CA_KEY_NAME: Final = "ca-key.pem"
CERT_NAME: Final = "cert.pem"
KEY_NAME: Final = "key.pem"
LOCK_NAME: Final = ".lock"

_CLOCK_SKEW: Final = datetime.timedelta(hours=1)
"""How far back ``notBefore`` is set, so a client whose clock is a little behind still accepts."""

_LOCK_TIMEOUT_S: Final = 10.0
"""How long to wait for another process issuing the certificate, in seconds."""

_CA_COMMON_NAME: Final = "h2push local development CA"


@dataclass(frozen=True, kw_only=True)
class DevCertificate:
    """The files of the development CA and leaf certificate, and what a browser needs to trust them.

    Attributes:
        ca_file (Path): The CA certificate (PEM), for ``curl --cacert`` or a trust store.
        cert_file (Path): The leaf certificate followed by the CA certificate (PEM chain), for the
            server's ``certfile``.
        key_file (Path): The leaf's private key (PEM, PKCS #8, unencrypted, mode 0600), for the
            server's ``keyfile``.
        spki_sha256 (str): Base64 SHA-256 of the leaf's SubjectPublicKeyInfo
            (:func:`spki_sha256_base64`), for ``--ignore-certificate-errors-spki-list``.
        not_valid_after (datetime.datetime): When the leaf expires (aware, UTC).
        created (bool): True when this call issued the leaf (and maybe the CA); False when it
            reused the files already in the directory.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    spki_sha256: str
    not_valid_after: datetime.datetime
    created: bool


def cache_dir() -> Path:
    r"""Return the per-user directory that keeps the development CA and certificate.

    In order: ``$H2PUSH_CACHE_DIR``; ``$XDG_CACHE_HOME/h2push`` when that variable holds an
    absolute path (XDG Base Directory Specification 0.8); ``%LOCALAPPDATA%\h2push`` on Windows;
    ``~/.cache/h2push`` otherwise. The directory is not created here.

    Returns:
        Path: The directory (absolute unless ``$H2PUSH_CACHE_DIR`` is relative).
    """
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "h2push"
    local_app_data = os.environ.get("LOCALAPPDATA", "")
    if os.name == "nt" and local_app_data:  # pragma: no cover - Windows
        return Path(local_app_data) / "h2push"
    return Path.home() / ".cache" / "h2push"


def spki_sha256_base64(cert_pem: bytes) -> str:
    """Return the base64 SHA-256 of a certificate's SubjectPublicKeyInfo, for Chromium's SPKI list.

    The value is what Chromium's ``--ignore-certificate-errors-spki-list`` expects, and equals
    ``openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary
    | base64``.

    Args:
        cert_pem (bytes): A PEM certificate. When it holds a chain, the first (leaf) one is used.

    Returns:
        str: The base64 (standard alphabet, padded) digest, 44 characters.

    Raises:
        ValueError: ``cert_pem`` holds no parsable PEM certificate.
    """
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise ValueError(f"cert_pem: not a PEM certificate ({error})") from error
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def chromium_shell_command(
    url: str,
    spki_sha256: Sequence[str],
    *,
    executable: str | None = None,
    extra_args: Sequence[str] = (),
) -> str:
    """Return a shell command line that opens ``url`` in Chromium, trusting the given keys.

    The browser gets a throw-away profile (``--user-data-dir=$(mktemp -d)``): Chromium applies
    the SPKI list only with an explicit profile directory, and a fresh profile has an empty HTTP
    cache, so every preload is really fetched.

    Args:
        url (str): The page to open, e.g. ``"https://127.0.0.1:8443/"``.
        spki_sha256 (Sequence[str]): Base64 SHA-256 SPKI digests (:func:`spki_sha256_base64`).
        executable (str | None): The browser program; the first of ``chromium``,
            ``chromium-browser``, ``google-chrome``, ``google-chrome-stable`` found on ``PATH``
            when None, or ``chromium`` when none is.
        extra_args (Sequence[str]): More flags, placed before the URL (quoted for the shell).

    Returns:
        str: One line for a POSIX shell (the ``$(mktemp -d)`` is meant to be expanded by it).

    Raises:
        ValueError: A digest is empty or contains a comma.
    """
    if any(not digest or "," in digest for digest in spki_sha256):
        raise ValueError(f"spki_sha256: digests must be non-empty, without ',': {spki_sha256!r}")
    if executable is None:
        executable = find_chromium() or EXECUTABLE_NAMES[0]
    spki_list = ",".join(spki_sha256)
    extra = "".join(f" {shlex.quote(arg)}" for arg in extra_args)
    return (
        f"{shlex.quote(executable)} --ignore-certificate-errors-spki-list={shlex.quote(spki_list)}"
        f' --user-data-dir="$(mktemp -d)"{extra} {shlex.quote(url)}'
    )


def ensure_dev_certificate(
    directory: Path | None = None, *, now: datetime.datetime | None = None
) -> DevCertificate:
    """Return the development CA and leaf certificate, creating or renewing them when needed.

    The files in ``directory`` are reused when they parse, each key matches its certificate, the
    leaf is signed by the CA and names every loopback name, and both have more than
    :data:`RENEW_BEFORE_DAYS` left. Otherwise what is missing is issued again: a new CA (and so a
    new leaf) when the CA is unusable, a new leaf from the existing CA when only the leaf is.
    Files are written atomically, keys with mode 0600, the directory with mode 0700; concurrent
    callers are serialised with a lock file on POSIX.

    Args:
        directory (Path | None): Where the files live; :func:`cache_dir` when None.
        now (datetime.datetime | None): The current time (aware); the system clock when None.
            A time in the past issues certificates that are already expired, for tests.

    Returns:
        DevCertificate: The paths, the leaf's SPKI digest and expiry, and whether it was issued.

    Raises:
        OSError: The directory cannot be created or written.
        TimeoutError: Another process kept the directory locked for 10 s.
    """
    directory = cache_dir() if directory is None else directory
    now = datetime.datetime.now(datetime.timezone.utc) if now is None else now
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory / LOCK_NAME):
        ca = _load_ca(directory, now)
        if ca is None:
            ca = _issue_ca(now)
            _write_key(directory / CA_KEY_NAME, ca[1])
            _write_file(directory / CA_CERT_NAME, _pem(ca[0]))
        leaf = _load_leaf(directory, ca[0], now)
        created = leaf is None
        if leaf is None:
            leaf_key = ec.generate_private_key(ec.SECP256R1())
            leaf = _issue_leaf(ca, leaf_key, now)
            _write_key(directory / KEY_NAME, leaf_key)
            _write_file(directory / CERT_NAME, _pem(leaf) + _pem(ca[0]))
    return DevCertificate(
        ca_file=directory / CA_CERT_NAME,
        cert_file=directory / CERT_NAME,
        key_file=directory / KEY_NAME,
        spki_sha256=spki_sha256_base64(_pem(leaf)),
        not_valid_after=leaf.not_valid_after_utc,
        created=created,
    )


_CA = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _fresh(certificate: x509.Certificate, now: datetime.datetime) -> bool:
    """Whether ``certificate`` is valid at ``now`` and stays so for :data:`RENEW_BEFORE_DAYS`."""
    renew_at = certificate.not_valid_after_utc - datetime.timedelta(days=RENEW_BEFORE_DAYS)
    return certificate.not_valid_before_utc <= now < renew_at


def _load_key(path: Path, certificate: x509.Certificate) -> ec.EllipticCurvePrivateKey | None:
    """Load the EC private key at ``path`` if it is the key of ``certificate``."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != (
        certificate.public_key()
    ):
        return None
    return key


def _load_certificate(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _load_ca(directory: Path, now: datetime.datetime) -> _CA | None:
    """Return the CA in ``directory`` if it is usable at ``now``, else None."""
    certificate = _load_certificate(directory / CA_CERT_NAME)
    if certificate is None or not _fresh(certificate, now):
        return None
    key = _load_key(directory / CA_KEY_NAME, certificate)
    if key is None:
        return None
    return certificate, key


def _load_leaf(
    directory: Path, ca_certificate: x509.Certificate, now: datetime.datetime
) -> x509.Certificate | None:
    """Return the leaf in ``directory`` if usable at ``now`` and issued by the CA, else None."""
    certificate = _load_certificate(directory / CERT_NAME)
    if certificate is None or not _fresh(certificate, now):
        return None
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        return None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    wanted = {*DNS_NAMES, *(str(ipaddress.ip_address(ip)) for ip in IP_ADDRESSES)}
    present = {
        *names.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in names.get_values_for_type(x509.IPAddress)),
    }
    if not wanted <= present:
        return None
    if _load_key(directory / KEY_NAME, certificate) is None:
        return None
    return certificate


def _key_usage(*, certificate_authority: bool) -> x509.KeyUsage:
    """The key usage of the CA (signing certificates and CRLs) or of a leaf (signatures only).

    A TLS 1.3 server's ECDSA key signs the handshake: ``digitalSignature`` (RFC 5280 §4.2.1.3).
    """
    return x509.KeyUsage(
        digital_signature=not certificate_authority,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def _issue_ca(now: datetime.datetime) -> _CA:
    """Create a self-signed CA, name-constrained to the loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "h2push development"),
            # A random suffix tells CAs made on different machines apart in a trust store.
            x509.NameAttribute(NameOID.COMMON_NAME, f"{_CA_COMMON_NAME} {secrets.token_hex(4)}"),
        ]
    )
    public_key = key.public_key()
    permitted: list[x509.GeneralName] = [x509.DNSName(dns) for dns in DNS_NAMES]
    permitted += [
        x509.IPAddress(ipaddress.ip_network(f"{ip}/{ipaddress.ip_address(ip).max_prefixlen}"))
        for ip in IP_ADDRESSES
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(certificate_authority=True), critical=True)
        .add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _issue_leaf(
    ca: _CA, key: ec.EllipticCurvePrivateKey, now: datetime.datetime
) -> x509.Certificate:
    """Issue a server certificate for the loopback names, expiring no later than the CA."""
    ca_certificate, ca_key = ca
    not_valid_after = min(
        now + datetime.timedelta(days=LEAF_VALIDITY_DAYS), ca_certificate.not_valid_after_utc
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IP_ADDRESSES]
    ca_ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DNS_NAMES[0])]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_valid_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_file(path, pem, mode=0o600)


def _write_file(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it) with ``mode``."""
    # mkstemp creates the file with mode 0600, so a key is never readable by others, even briefly.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (no-op where ``fcntl`` is unavailable).

    Raises:
        TimeoutError: Another process held the lock for :data:`_LOCK_TIMEOUT_S`.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as lock:
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{path} stayed locked for {_LOCK_TIMEOUT_S:.0f} s:"
                        " is another h2push stuck writing its certificate?"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
