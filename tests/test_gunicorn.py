"""The Flask extension under real Gunicorn (>= 25): the 103 goes out through ``wsgi.early_hints``.

Gunicorn serves ``tests/apps/flask_app.py``, whose ``GET /`` thinks for 200 ms. The manifest's
preloads must reach the client as a ``103 Early Hints`` while the view is still thinking, and
the final ``200`` must carry them (plus the template's ``push()``) as Link values.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from apps.flask_app import THINK_TIME_S
from conftest import ON_CI, free_port, require_program
from processes import running

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parent.parent
HINTS = (
    "Link: </static/css/main.css>; rel=preload; as=style",
    "Link: </static/js/app.js>; rel=preload; as=script",
)
FINAL_LINK = (
    "Link: </static/css/main.css>; rel=preload; as=style, </static/js/app.js>; rel=preload;"
    " as=script, </static/css/extra.css>; rel=preload; as=style"
)
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nConnection: close\r\n\r\n"


def _require_gunicorn() -> None:
    try:
        version = metadata.version("gunicorn")
    except metadata.PackageNotFoundError:
        version = "0"
    if int(version.split(".")[0]) < 25:
        message = f"Gunicorn >= 25 is needed for wsgi.early_hints (found {version})"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def gunicorn_port() -> Iterator[int]:
    _require_gunicorn()
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1"]
    with running([*command, "tests.apps.flask_app:app"], port=port, cwd=ROOT):
        yield port


def test_curl_shows_the_103_before_the_200(gunicorn_port: int) -> None:
    curl = require_program("curl")
    url = f"http://127.0.0.1:{gunicorn_port}/"
    result = subprocess.run(
        [curl, "-s", "-i", "--http1.1", "--max-time", "10", "-H", "Accept: text/html", url],
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    print(result.stdout.split("\n\n<!doctype")[0])
    lines = result.stdout.splitlines()
    early, final = lines.index("HTTP/1.1 103 Early Hints"), lines.index("HTTP/1.1 200 OK")
    assert early < final
    assert lines[early + 1 : early + 3] == list(HINTS)
    assert FINAL_LINK in lines[final:]


def test_the_103_arrives_while_the_view_thinks(gunicorn_port: int) -> None:
    received = b""
    arrival_s: dict[bytes, float] = {}
    with socket.create_connection(("127.0.0.1", gunicorn_port), timeout=5) as sock:
        sent = time.monotonic()
        sock.sendall(REQUEST)
        while chunk := sock.recv(65536):
            received += chunk
            for status in (b"HTTP/1.1 103", b"HTTP/1.1 200"):
                if status in received and status not in arrival_s:
                    arrival_s[status] = time.monotonic() - sent
            if time.monotonic() - sent > 5:
                break
    early_ms, final_ms = (arrival_s[s] * 1000 for s in (b"HTTP/1.1 103", b"HTTP/1.1 200"))
    print(f"103 after {early_ms:.1f} ms, 200 after {final_ms:.1f} ms")
    head = received.split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.splitlines()[1:] == list(HINTS)
    # The 103 leaves before the view starts thinking, the 200 after it is done: the gap between
    # them is the think time. A slow start (a loaded machine) delays both alike, so the bound is
    # on the gap, not on the 103's absolute arrival: half the think time is still "early".
    assert final_ms >= THINK_TIME_S * 1000
    assert final_ms - early_ms >= THINK_TIME_S * 1000 / 2
