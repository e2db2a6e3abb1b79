"""One PUSH_PROMISE per URL per connection, whoever asks for the push.

An app migrating from pushing by hand keeps its own ``request.send_push_promise(url)`` calls
(Starlette, FastAPI; Quart's ``make_push_promise``) for URLs its manifest also names. The
middleware has already pushed those before the view ran: the app's second promise of a URL is
dropped, and every push the middleware sees, the app's included, is recorded in the
connection's ledger. Proven with the real ``h2push serve`` and ``nghttp``, and at the ASGI
message level.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import TLSFiles, free_port, require_module
from h2push._core.manifest import Manifest
from h2push.asgi import H2PushMiddleware
from h2push.testing import ServeFactory
from nghttp import Log, nghttp
from processes import h2push_command, running

pytest_plugins = ["h2push.testing"]

MANIFEST = {
    "/static/site.css": {"type": "style", "weight": 3},
    "/static/app.js": {"type": "script", "weight": 2},
    "/static/logo.svg": {"type": "image", "weight": 1},
}
URLS = list(MANIFEST)

FASTAPI_APP = """\
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

URLS = list(json.loads(Path("push_manifest.json").read_text()))
app = FastAPI()


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> str:
    for url in URLS:  # what the app pushed by hand before it had a manifest
        await request.send_push_promise(url)
    return "<!doctype html><title>own pushes</title><p>page"


@app.get("/static/{name}")
async def static(name: str) -> PlainTextResponse:
    return PlainTextResponse(f"/* {name} */")
"""


def promised_paths(log: Log) -> list[str]:
    return [str(promise.header(":path")) for promise in log.promises]


def client_resets(log: Log) -> list[str]:
    return [line for line in log.output.splitlines() if " send RST_STREAM frame" in line]


@pytest.fixture(scope="module")
def fastapi_server(tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles) -> Any:
    require_module("fastapi")
    directory = tmp_path_factory.mktemp("fastapi_own_pushes")
    (directory / "push_manifest.json").write_text(json.dumps(MANIFEST))
    (directory / "own_pushes.py").write_text(FASTAPI_APP)
    port = free_port()
    command = h2push_command(
        "serve",
        "own_pushes:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--manifest",
        "push_manifest.json",
        "--certfile",
        str(tls_files.cert),
        "--keyfile",
        str(tls_files.key),
    )
    with running(command, port=port, cwd=directory):
        yield f"https://127.0.0.1:{port}"


@pytest.mark.peer
def test_a_fastapi_app_pushing_its_manifest_urls_itself_promises_each_once(
    fastapi_server: str,
) -> None:
    log = nghttp(fastapi_server + "/", "-H", "accept: text/html")

    assert sorted(promised_paths(log)) == sorted(URLS)
    assert client_resets(log) == []
    for promise in log.promises:
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"


@pytest.mark.peer
def test_two_pages_on_one_connection_promise_each_url_once_in_all(fastapi_server: str) -> None:
    # nghttp asks for both URLs on one connection.
    log = nghttp(fastapi_server + "/", fastapi_server + "/?again", "-H", "accept: text/html")

    assert sorted(promised_paths(log)) == sorted(URLS)
    assert client_resets(log) == []
    pages = [f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS"]
    assert len(pages) == 2
    for stream in pages:
        assert log.final_headers(stream).header(":status") == "200"


@pytest.mark.peer
def test_a_quart_view_promising_a_manifest_url_itself_gets_it_promised_once(
    tmp_path: Path, h2push_serve: ServeFactory
) -> None:
    quart = require_module("quart")
    from h2push.quart import H2Push

    (tmp_path / "push_manifest.json").write_text(json.dumps(MANIFEST))
    (tmp_path / "static").mkdir()
    for url in [*URLS, "/static/own.js"]:
        (tmp_path / url.lstrip("/")).write_text(f"/* {url} */")
    app = quart.Quart("own_pushes", root_path=str(tmp_path))
    H2Push(app)

    @app.get("/")
    async def index() -> str:
        for url in [*URLS, "/static/own.js"]:
            await quart.make_push_promise(url)
        return "<p>quart"

    result = h2push_serve(app).fetch("/", timeout_s=2)

    assert result.status == 200
    assert sorted(result.pushed_paths) == sorted([*URLS, "/static/own.js"])
    assert all(200 <= (status or 0) < 300 for status in result.pushed_statuses.values())


# --- the same at the level of ASGI messages -------------------------------------------------

H2 = {"http.response.push": {}, "http.response.early_hint": {}}


def http_scope(client: tuple[str, int] | None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"accept", b"text/html")],
        "extensions": H2,
        "client": client,
        "server": ("127.0.0.1", 443),
    }


def own_pushes(*paths: str) -> Any:
    """An ASGI app that promises ``paths`` itself, then answers with a small page."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for path in paths:
            await send({"type": "http.response.push", "path": path, "headers": []})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": b"<p>page"})

    return app


def pushes_sent(app: Any, scope: dict[str, Any]) -> list[str]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return [m["path"] for m in sent if m["type"] == "http.response.push"]


def test_the_apps_promise_of_a_url_the_manifest_pushed_is_dropped() -> None:
    app = H2PushMiddleware(
        own_pushes(*URLS, "/static/extra.js"), manifest=Manifest.from_dict(MANIFEST), tracker=None
    )
    # h2push's three before the app runs, then only the app's new one.
    assert pushes_sent(app, http_scope(("192.0.2.1", 50000))) == [*URLS, "/static/extra.js"]


def test_the_apps_own_promises_count_in_the_connection_ledger() -> None:
    app = H2PushMiddleware(
        own_pushes("/static/extra.js", "/static/extra.js"), manifest=Manifest.from_dict(MANIFEST)
    )
    browser = ("192.0.2.2", 50001)
    assert pushes_sent(app, http_scope(browser)) == [*URLS, "/static/extra.js"]
    # The same connection again: nothing is promised twice, the app's URL included.
    assert pushes_sent(app, http_scope(browser)) == []
    # Another connection starts afresh.
    assert pushes_sent(app, http_scope(("192.0.2.2", 50002))) == [*URLS, "/static/extra.js"]


def test_without_a_ledger_one_response_still_promises_each_url_once() -> None:
    manifest = Manifest.from_dict(MANIFEST)
    app = H2PushMiddleware(
        own_pushes(URLS[0], URLS[0]), manifest=manifest, max_pushes_per_connection=None
    )
    assert pushes_sent(app, http_scope(("192.0.2.3", 50003))) == URLS


def test_an_app_on_a_scope_without_client_still_promises_each_url_once() -> None:
    app = H2PushMiddleware(own_pushes("/a.js", "/a.js", "/b.js"), tracker=None)
    assert pushes_sent(app, http_scope(None)) == ["/a.js", "/b.js"]
