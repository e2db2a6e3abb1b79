"""End to end: the cache-digest cookie over real ``h2push serve --workers 2``, seen by nghttp.

A first visit pushes every manifest resource and gets the ``h2push`` cookie; a repeat visit with
the cookie pushes nothing while the 103 and the Link header still come; after the stylesheet
changes on disk, the next visit pushes only the stylesheet. The cookie holds the state, so a
cookie set by one worker process is honoured by the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_module
from h2push.versions import StaticVersions
from nghttp import Log, nghttp
from processes import h2push_command, running

require_module("flask")

APP_SOURCE = """
import os
from flask import Flask
from h2push.flask import H2Push

app = Flask(__name__)
H2Push(app)

@app.route("/")
def index():
    page = "<!doctype html><link rel=stylesheet href=/static/site.css><p>page"
    return page, {"x-worker": str(os.getpid())}
"""
MANIFEST = {
    "/static/site.css": {"type": "style", "weight": 3},
    "/static/font.woff2": {"type": "font", "weight": 2},
    "/static/site.js": {"type": "script", "weight": 1},
    "/static/hero.png": {"type": "image", "weight": 0, "nopush": True},
}
PUSHABLE = ["/static/site.css", "/static/font.woff2", "/static/site.js"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tracked-site")
    (root / "tracked_app.py").write_text(APP_SOURCE)
    (root / "push_manifest.json").write_text(json.dumps(MANIFEST))
    (root / "static").mkdir()
    for path in MANIFEST:
        (root / path.lstrip("/")).write_bytes(path.encode() * 50)
    return root


@pytest.fixture(scope="module")
def server(site: Path, tls_files: TLSFiles) -> Iterator[str]:
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command(
        "serve", "tracked_app:app", "--workers", "2", "--bind", f"127.0.0.1:{port}", *tls
    )
    with running(command, port=port, cwd=site):
        yield f"https://127.0.0.1:{port}/"


def visit(url: str, cookie: str | None = None) -> tuple[Log, dict[str, str]]:
    args = ["-H", "accept: text/html"]
    if cookie is not None:
        args += ["-H", f"cookie: {cookie}"]
    log = nghttp(url, *args)
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    final = log.final_headers(stream)
    assert final.header(":status") == "200"
    return log, dict(final.headers)


def pushed(log: Log) -> list[str | None]:
    return [p.header(":path") for p in log.promises]


def cookie_value(headers: dict[str, str]) -> str:
    set_cookie = headers["set-cookie"]
    assert set_cookie.startswith("h2push=")
    for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=604800"):
        assert attribute in set_cookie
    return set_cookie.split(";")[0]


def test_first_visit_pushes_all_repeat_visit_none_changed_css_only(server: str, site: Path) -> None:
    first, headers = visit(server)
    assert pushed(first) == PUSHABLE
    cookie = cookie_value(headers)
    assert len(cookie) <= len("h2push=") + 200

    workers = set()
    for _ in range(8):  # new connections: both worker processes answer some of them
        repeat, headers = visit(server, cookie)
        workers.add(headers["x-worker"])
        assert pushed(repeat) == []
        assert len(repeat.informational) == 1  # the 103 still comes
        link = headers["link"]
        for path in PUSHABLE:
            assert f"<{path}>; rel=preload" in link
            assert link.count(f"<{path}>") == 1
        assert "set-cookie" not in headers  # nothing new delivered
    assert len(workers) == 2, f"only worker {workers} answered"

    css = site / "static" / "site.css"
    css.write_bytes(b"body { color: rebeccapurple }\n")
    time.sleep(StaticVersions(site).recheck_s + 0.1)  # a file is looked at again this often
    changed, headers = visit(server, cookie)
    assert pushed(changed) == ["/static/site.css"]
    again, _ = visit(server, cookie_value(headers))
    assert pushed(again) == []
