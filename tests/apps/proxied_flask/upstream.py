"""Run the proxied Flask app under real Gunicorn behind a reverse proxy, and read what came out.

The proxy tests (``test_nginx.py``, ``test_h2o.py``) start Gunicorn on a free loopback port
serving :mod:`apps.proxied_flask` over plain HTTP/1.x, put the proxy in front of it, stop both
by their own process ids, and check with ``nghttp`` what the proxy sent. Every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nghttp import Log, nghttp

ROOT = Path(__file__).resolve().parents[3]
APP = "tests.apps.proxied_flask:app"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, name: str, timeout_s: float = 20.0
) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail the test if ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{_read(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{name} did not listen on port {port} within {timeout_s} s:\n{_read(log)}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate ``process`` (SIGTERM), then kill it if it has not exited within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@contextmanager
def gunicorn(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Serve the proxied Flask app with Gunicorn on 127.0.0.1:``port``; output goes to ``log``."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, APP],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": pythonpath},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log, "gunicorn")
        yield process
    finally:
        stop(process)


def main_stream(log: Log) -> int:
    """The stream id of the request nghttp sent."""
    return next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")


def links(log: Log, stream_id: int) -> str:
    """The Link field values of a stream's final response, joined as one field value."""
    return ", ".join(v for n, v in log.final_headers(stream_id).headers if n == "link")


def assert_page_arrived(log: Log) -> int:
    """Check the page's stream ended after a 200 and all its bytes; return its stream id."""
    stream = main_stream(log)
    finals = [
        f
        for f in log.received("HEADERS")
        if f.stream_id == stream and not (f.header(":status") or "").startswith("1")
    ]
    assert finals, f"the page got no final response:\n{log.output}"
    assert log.stream_ended(stream), f"the page did not arrive whole:\n{log.output}"
    final = finals[0]
    assert final.header(":status") == "200"
    length = final.header("content-length")
    received = sum(f.length for f in log.data_frames(stream))
    assert received > 0
    if length is not None:
        assert received == int(length)
    return stream


def _read(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return "(no log)"


# --- checks every proxy in front of the app must pass ---------------------------------------


def assert_apps_link_value_kept_first(url: str) -> None:
    """The app's own Link value comes first; each manifest entry once; nopush ones marked."""
    from apps.proxied_flask import APP_LINK, MANIFEST

    log = nghttp(url + "/", "-H", "accept: text/html")
    link = links(log, assert_page_arrived(log))
    assert link.startswith(APP_LINK + ", ")
    for path, _ in MANIFEST:
        assert link.count(f"<{path}>") == 1
    for path in (path for path, pushed in MANIFEST if not pushed):
        assert f"<{path}>; rel=preload; as=image; nopush" in link


def assert_no_push_without_navigation(url: str) -> None:
    """``accept: */*`` is not a navigation: the single-page manifest does not apply."""
    from apps.proxied_flask import APP_LINK

    log = nghttp(url + "/")
    stream = assert_page_arrived(log)
    assert log.promises == []
    assert links(log, stream) == APP_LINK


def assert_repeat_visit_gets_no_push(url: str) -> None:
    """With h2push's cookie back, every entry is linked with nopush and nothing is pushed."""
    from apps.proxied_flask import APP_LINK, MANIFEST

    first = nghttp(url + "/", "-H", "accept: text/html")
    set_cookie = first.final_headers(assert_page_arrived(first)).header("set-cookie")
    assert set_cookie is not None
    cookie = set_cookie.split(";", 1)[0]
    again = nghttp(url + "/", "-H", "accept: text/html", "-H", f"cookie: {cookie}")
    stream = assert_page_arrived(again)
    assert again.promises == []
    link = links(again, stream)
    assert link.startswith(APP_LINK + ", ")
    for path, _ in MANIFEST:
        assert f"<{path}>; rel=preload" in link
    assert link.count("nopush") == len(MANIFEST)
