"""Start real server processes for end-to-end tests, wait for their port, stop them by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0
) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail with the log if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{process.args!r} did not listen on {port} within {timeout_s} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
    """Stop ``process`` with ``sig`` (by its own pid) and return its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=timeout_s)


@contextmanager
def running(
    command: Sequence[str], *, port: int, cwd: Path, env: dict[str, str] | None = None
) -> Iterator[Path]:
    """Run ``command`` until the block ends; yield the file its output goes to."""
    log = Path(tempfile.mkdtemp(prefix="h2push-test-")) / f"process-{port}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, log)
        yield log
    finally:
        stop(process)


def h2push_command(*args: str) -> list[str]:
    """The ``h2push`` command line, run by this interpreter from the source tree."""
    return [sys.executable, "-m", "h2push", *args]
