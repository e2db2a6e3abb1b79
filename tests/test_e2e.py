"""End to end: the real ``h2push serve`` on a free port, checked with the real nghttp and curl.

The site is a Flask app written into a temporary directory: its view sleeps 200 ms (a stand-in for
a database query), its multi-page manifest declares more pushable resources than ``max_pushes``
allows, one of them ``nopush``, and a second view adds preloads with ``push()`` from Python and
from its Jinja template and sets its own Link value. The server allows
``MAX_PUSHES_PER_CONNECTION`` pushes on one connection, a little more than one page's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TLSFiles, free_port, require_module, require_program
from nghttp import Log, nghttp
from processes import SRC, h2push_command, running

require_module("flask")

# (path, type, weight, nopush): weights are distinct so the push order is known.
RESOURCES = [
    ("/static/site.css", "style", 40, False),
    ("/static/font.woff2", "font", 30, False),
    ("/static/site.js", "script", 20, False),
    ("/static/hero.png", "image", 15, True),
    *((f"/static/extra{n}.js", "script", n, False) for n in range(11, 0, -1)),
]
PUSHABLE = [path for path, _, _, nopush in RESOURCES if not nopush]  # already in weight order
MAX_PUSHES = 10
MAX_PUSHES_PER_CONNECTION = 12

APP_SOURCE = """
import time
from flask import Flask, make_response, render_template_string, request
from h2push.flask import H2Push, push

app = Flask(__name__)
H2Push(app)

@app.route("/")
def index():
    time.sleep(0.2)
    return "<!doctype html><title>e2e</title><link rel=stylesheet href=/static/site.css><p>index"

@app.route("/connection")
def connection():
    named = request.environ["asgi.scope"]["extensions"].get("h2push.connection", {})
    return "", 204, {"X-Connection": str(named.get("id", "none"))}

@app.route("/other")
def other():
    push("/static/view.js", as_="script")
    html = render_template_string(
        "<link rel=stylesheet href=\\"{{ push('/static/tpl.css', as='style') }}\\">"
    )
    response = make_response(html)
    response.headers["Link"] = "<https://cdn.example>; rel=preconnect"
    return response
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "e2e_app.py").write_text(APP_SOURCE)
    static = root / "static"
    static.mkdir()
    for path, *_ in RESOURCES:
        (root / path.lstrip("/")).write_bytes(f"/* {path} */\n".encode() * 200)
    for name in ("view.js", "tpl.css"):
        (static / name).write_bytes(b"/* late */")
    manifest = {
        "index.html": {
            path: {"type": kind, "weight": weight, **({"nopush": True} if nopush else {})}
            for path, kind, weight, nopush in RESOURCES
        }
    }
    (root / "push_manifest.json").write_text(json.dumps(manifest, indent=1))
    return root


@pytest.fixture(scope="module")
def server(site: Path, tls_files: TLSFiles) -> Iterator[str]:
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    limit = ["--max-pushes-per-connection", str(MAX_PUSHES_PER_CONNECTION)]
    command = h2push_command("serve", "e2e_app:app", "--bind", f"127.0.0.1:{port}", *tls, *limit)
    with running(command, port=port, cwd=site):
        yield f"https://127.0.0.1:{port}"


def main_stream(log: Log) -> int:
    return next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")


def test_103_arrives_before_the_200_and_pushes_follow_the_manifest(server: str) -> None:
    log = nghttp(server + "/", "-H", "accept: text/html")
    stream = main_stream(log)
    (hint,) = log.informational
    assert hint.stream_id == stream
    assert hint.header(":status") == "103"
    hinted = [value.split(">")[0].lstrip("<") for name, value in hint.headers if name == "link"]
    assert hinted == [path for path, *_ in RESOURCES]  # every entry has a hintable `as`
    final = log.final_headers(stream)
    assert final.header(":status") == "200"
    assert log.frames.index(hint) < log.frames.index(final)
    # Each preload is linked once; what h2push pushed carries nopush, so no proxy pushes it again.
    link = ", ".join(value for name, value in final.headers if name == "link")
    for path in PUSHABLE[:MAX_PUSHES]:
        assert link.count(f"<{path}>") == 1
        assert f"<{path}>; rel=preload; as=" in link
    assert "</static/site.css>; rel=preload; as=style; nopush" in link

    promised = [p.header(":path") for p in log.promises]
    assert promised == PUSHABLE[:MAX_PUSHES]  # weight order, capped, nopush left out
    assert "/static/hero.png" not in promised
    for promise in log.promises:
        assert promise.stream_id == stream
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
        assert log.stream_ended(promise.promised_stream_id)
    assert log.stream_ended(stream)


def test_one_connection_is_pushed_each_url_once_and_no_more_than_its_limit(server: str) -> None:
    # nghttp fetches every URL it is given over one connection, at the same time.
    pages = [server + "/", server + "/?second", server + "/?third"]
    log = nghttp(pages[0], "-H", "accept: text/html", *pages[1:])
    sent = [f for f in log.frames if f.direction == "send"]
    page_streams = {f.stream_id for f in sent if f.type == "HEADERS"}
    assert len(page_streams) == 3
    assert all(log.final_headers(stream).header(":status") == "200" for stream in page_streams)
    promised = [p.header(":path") for p in log.promises]
    # The first page planned gets ten (max_pushes), the next the two left, the last none.
    assert sorted(promised) == sorted(PUSHABLE[:MAX_PUSHES_PER_CONNECTION])
    per_page = sorted(sum(1 for p in log.promises if p.stream_id == s) for s in page_streams)
    assert per_page == [0, MAX_PUSHES_PER_CONNECTION - MAX_PUSHES, MAX_PUSHES]
    # A new connection has a budget of its own.
    again = nghttp(server + "/", "-H", "accept: text/html")
    assert [p.header(":path") for p in again.promises] == PUSHABLE[:MAX_PUSHES]


def test_serve_names_each_connection_for_the_push_ledger(server: str) -> None:
    # Loopback reuses a closed connection's client port at once, so the ledger must not know a
    # connection by its addresses: h2push serve names it (extensions["h2push.connection"]).
    def ids(log: Log) -> list[str]:
        return [
            frame.header("x-connection")
            for frame in log.frames
            if frame.direction == "recv" and frame.header("x-connection")
        ]

    first = ids(nghttp(server + "/connection", server + "/connection?again"))  # one connection
    second = ids(nghttp(server + "/connection"))
    assert len(first) == 2
    assert first[0] == first[1] != "none"
    assert second[0] not in {first[0], "none"}


def test_pushed_css_arrives_before_the_html_headers(server: str) -> None:
    log = nghttp(server + "/", "-H", "accept: text/html")
    css = next(p for p in log.promises if p.header(":path") == "/static/site.css")
    assert css.promised_stream_id is not None
    css_data = log.data_frames(css.promised_stream_id)
    assert css_data
    html_headers = log.final_headers(main_stream(log))
    assert css_data[-1].t_s < html_headers.t_s
    # The view sleeps 200 ms: the whole CSS was there well before the page's HEADERS.
    assert html_headers.t_s - css_data[-1].t_s > 0.1


def test_without_accept_html_pushes_still_come_but_no_103(server: str) -> None:
    log = nghttp(server + "/")  # nghttp sends accept: */* — not a navigation
    assert log.informational == []
    assert [p.header(":path") for p in log.promises] == PUSHABLE[:MAX_PUSHES]


def test_no_push_client_gets_no_push_and_the_page(server: str) -> None:
    log = nghttp(server + "/", "--no-push", "-H", "accept: text/html")
    assert log.promises == []
    assert log.final_headers(main_stream(log)).header(":status") == "200"
    assert len(log.informational) == 1


def test_push_in_view_and_template_reach_link_header_and_are_pushed(server: str) -> None:
    log = nghttp(server + "/other", "-H", "accept: text/html")
    final = log.final_headers(main_stream(log))
    links = ", ".join(value for name, value in final.headers if name == "link")
    assert links.startswith("<https://cdn.example>; rel=preconnect")  # the view's own value first
    assert "</static/view.js>; rel=preload; as=script" in links
    assert "</static/tpl.css>; rel=preload; as=style" in links
    assert sorted(p.header(":path") for p in log.promises) == ["/static/tpl.css", "/static/view.js"]


def test_http11_gets_the_page_with_its_link_header(server: str, tls_files: TLSFiles) -> None:
    curl = require_program("curl")
    result = subprocess.run(
        [
            curl,
            "-s",
            "-i",
            "--http1.1",
            "--cacert",
            str(tls_files.ca),
            "-H",
            "accept: text/html",
            server + "/",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    head, _, body = result.stdout.partition("\n\n")  # text mode turned CRLF into LF
    assert head.startswith("HTTP/1.1 200")
    assert "103" not in head.splitlines()[0]
    link = next(line for line in head.splitlines() if line.lower().startswith("link:"))
    for path in PUSHABLE:
        assert f"<{path}>; rel=preload" in link
    assert "</static/hero.png>; rel=preload; as=image; nopush" in link
    assert "index" in body


def test_trace_json_shows_pushed_css_before_the_html_headers(
    server: str, tls_files: TLSFiles
) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "h2push",
            "trace",
            "--json",
            "--cacert",
            str(tls_files.ca),
            server + "/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    frames = document["frames"]
    promise = next(
        f for f in frames if f["type"] == "PUSH_PROMISE" and f["path"] == "/static/site.css"
    )
    css_stream = promise["promised_stream_id"]
    css_end = next(
        f
        for f in frames
        if f["type"] == "DATA"
        and f["stream_id"] == css_stream
        and f["end_stream"]
        and f["direction"] == "recv"
    )
    main = document["main"]
    html_headers = next(
        f
        for f in frames
        if f["type"] == "HEADERS"
        and f["direction"] == "recv"
        and f.get("status") == 200
        and f["stream_id"] % 2 == 1
    )
    assert css_end["t_ms"] < html_headers["t_ms"]
    assert main["status"] == 200
    assert html_headers["t_ms"] - css_end["t_ms"] > 100  # the view's 200 ms sleep
    assert next(h["links"] for h in document["early_hints"])[0].startswith("</static/site.css>")
    pushed = {p["path"]: p for p in document["pushes"]}
    assert pushed["/static/site.css"]["status"] == 200
    assert len(pushed) == MAX_PUSHES
