"""Shared fixtures: free ports, test certificates, and real peers (nghttp, curl, chromium).

A test that needs a peer program asks for it with :func:`require_program`. On a developer's
machine a missing program skips the test with the reason; under ``CI=true`` it fails, because CI
installs every peer first.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import trustme

ON_CI = os.environ.get("CI", "").lower() == "true"


def require_program(name: str) -> str:
    """Return the path of program ``name``; skip (or fail on CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install it, or run `make peers` as root)"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_module(name: str) -> ModuleType:
    """Import module ``name``; skip when it is not installed, or fail on CI.

    The counterpart of :func:`require_program` for Python packages: ``make test`` installs the
    ``dev`` extra, which has every framework, so under ``CI=true`` a missing one is an error,
    not a skipped test. Works at module level too.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        message = f"{name} is not installed ({error}); pip install -e '.[dev]' installs it"
        if ON_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


def free_port() -> int:
    """Ask the OS for a free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a test CA and a leaf certificate for localhost and 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    files = TLSFiles(
        ca=directory / "ca.pem", cert=directory / "cert.pem", key=directory / "key.pem"
    )
    ca.cert_pem.write_to_path(str(files.ca))
    leaf.private_key_pem.write_to_path(str(files.key))
    # The chain goes in the certificate file so that clients given only the CA can verify it.
    files.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return files


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the ``upstream`` tests unless ``H2PUSH_UPSTREAM_SUITES`` names their checkouts.

    They run the old extensions' own suites, which live on GitHub only (``make upstream``).
    Left out, they are reported as deselected, not skipped.
    """
    if os.environ.get("H2PUSH_UPSTREAM_SUITES"):
        return
    upstream = [item for item in items if item.get_closest_marker("upstream")]
    if upstream:
        config.hook.pytest_deselected(items=upstream)
        items[:] = [item for item in items if not item.get_closest_marker("upstream")]
