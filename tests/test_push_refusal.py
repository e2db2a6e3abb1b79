"""Push refused, cancelled or abandoned: every page arrives whole, ``h2push serve`` logs no error.

Three sites run under the real ``h2push serve``, each pushing before the application runs:

* ``demo``: the bundled ASGI demo with its manifest (four pushes; the page thinks 200 ms);
* ``flask``: :mod:`apps.proxied_flask`, a WSGI app served through a2wsgi (three pushes from its
  H2Push manifest; its ``nopush`` image is not pushed; no 103, since its ``H2Push(proxy=True)``
  says a proxy is in front, which ``h2push serve`` honours);
* ``large``: an ASGI app written into a temporary directory whose manifest pushes a 256 KiB
  script, four times a client's initial flow-control window: without credit that push is stuck.

The clients: ``nghttp --no-push`` and a raw ``h2`` client whose SETTINGS carry
``ENABLE_PUSH=0`` (RFC 9113 §8.4: the server must then send no PUSH_PROMISE; h2 would raise on
one); a raw client that answers every PUSH_PROMISE at once with RST_STREAM(CANCEL), and one
that cancels each push the moment its response HEADERS arrive (before the stream got any
flow-control credit), each over several connections of several requests (a connection is
pushed each resource once, for whichever of its pages comes first). These clients close a
connection once every stream on it is over. Every page must arrive with its 200 and all its
bytes, the server must still push normally afterwards, and its output (stdout and stderr),
shutdown included, must hold no ``Traceback``, ``ERROR`` or ``Exception`` line.

Last, clients that leave in the middle of a push, as a browser tab that is closed does: they
read their page and close the connection while the stuck 256 KiB push waits for credit. The
server must let those connections go (it holds each one's pushed response otherwise), which
shows when it stops: a connection still held then is cancelled and logged with a traceback.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import pytest

from apps.proxied_flask.upstream import stop, wait_for_port
from conftest import TLSFiles, free_port
from nghttp import nghttp

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 4
REQUESTS_PER_CONNECTION = 3
DEPARTURES = 12
LARGE_BYTES = 256 * 1024
ERROR_LINE = re.compile(r"Traceback|ERROR|Exception")

LARGE_APP = """
import asyncio
from pathlib import Path

STATIC = Path(__file__).with_name("static")
PAGE = b"<!doctype html><title>large push</title><script src=/static/large.js></script>"
PAGE += b"<p>page</p>" * 400


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/":
        await asyncio.sleep(0.05)
        status, body, kind = 200, PAGE, b"text/html; charset=utf-8"
    elif scope["path"] in ("/static/large.js", "/static/small.css"):
        status, body, kind = 200, (STATIC / scope["path"][8:]).read_bytes(), b"text/plain"
    else:
        status, body, kind = 404, b"not found", b"text/plain"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
"""


@dataclass(frozen=True)
class Site:
    """How to serve one site: APP, extra ``h2push serve`` options, where, and its pushes.

    ``stuck`` counts the pushes of a page that cannot complete without flow-control credit;
    ``hints`` is whether its pages get a 103.
    """

    app: str
    options: tuple[str, ...]
    cwd: Path
    pushes: tuple[str, ...]
    stuck: int = 0
    hints: bool = True


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    log: Path
    site: Site

    def errors(self) -> list[str]:
        return error_lines(self.log)


def error_lines(log: Path) -> list[str]:
    """The lines of a server's output that report an error."""
    return [line for line in log.read_text().splitlines() if ERROR_LINE.search(line)]


def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    from h2push._tools.demo import MANIFEST_PATH

    pushes = tuple(json.loads(MANIFEST_PATH.read_text()))
    return Site("h2push._tools.demo:app", ("--manifest", str(MANIFEST_PATH)), ROOT, pushes)


def flask_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    from apps.proxied_flask import MANIFEST

    pushes = tuple(path for path, pushed in MANIFEST if pushed)
    return Site("tests.apps.proxied_flask:app", (), ROOT, pushes, hints=False)


def large_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("large")
    (root / "large_push_app.py").write_text(LARGE_APP)
    static = root / "static"
    static.mkdir()
    (static / "large.js").write_bytes((b"/* a large script */\n" * LARGE_BYTES)[:LARGE_BYTES])
    (static / "small.css").write_bytes(b"p { margin: 0 }\n" * 64)
    manifest = {
        "/static/large.js": {"type": "script", "weight": 2},
        "/static/small.css": {"type": "style", "weight": 1},
    }
    (root / "push_manifest.json").write_text(json.dumps(manifest))
    options = ("--manifest", "push_manifest.json")
    return Site("large_push_app:app", options, root, tuple(manifest), stuck=1)


SITES: dict[str, Callable[[pytest.TempPathFactory], Site]] = {
    "demo": demo_site,
    "flask": flask_site,
    "large": large_site,
}


@contextmanager
def serve(site: Site, tls: TLSFiles, directory: Path) -> Iterator[Server]:
    """Run ``h2push serve`` for ``site``; after it stops, check its whole output."""
    port = free_port()
    log = directory / "serve.log"
    command = [
        *(sys.executable, "-m", "h2push", "serve", site.app, *site.options),
        *("--bind", f"127.0.0.1:{port}"),
        *("--certfile", str(tls.cert), "--keyfile", str(tls.key)),
    ]
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=site.cwd,
            env={**os.environ, "PYTHONPATH": pythonpath},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log, "h2push serve")
        yield Server(f"https://127.0.0.1:{port}", port, log, site)
    finally:
        stop(process, timeout_s=30)
    # Stopping must be as quiet as serving: a connection still held is logged as cancelled.
    assert error_lines(log) == [], log.read_text()


@pytest.fixture(scope="module", params=sorted(SITES))
def server(
    request: pytest.FixtureRequest,
    tls_files: TLSFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    site = SITES[request.param](tmp_path_factory)
    with serve(site, tls_files, tmp_path_factory.mktemp("serve")) as running:
        yield running


# --- a raw HTTP/2 client ----------------------------------------------------------------

#: What the raw client does with pushes.
ACCEPT, REFUSE, CANCEL_PROMISE, CANCEL_RESPONSE, LEAVE = (
    "accept",
    "refuse",
    "cancel-promise",
    "cancel-response",
    "leave",
)


@dataclass
class Response:
    status: str | None = None
    informational: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False
    reset: int | None = None


@dataclass
class Exchange:
    """One connection: each page's response, the promised paths, which pushes were cancelled."""

    responses: list[Response]
    promised: list[str] = field(default_factory=list)
    cancelled: set[int] = field(default_factory=set)
    open_pushes: set[int] = field(default_factory=set)


class RawClient:
    """GET ``/`` as a navigation, several times at once, over one h2 connection (TLS, ALPN h2).

    ``pushes`` says what to do with server pushes: ``accept`` them; ``refuse`` them
    (``SETTINGS_ENABLE_PUSH=0``); ``cancel-promise`` (RST_STREAM CANCEL on each PUSH_PROMISE
    at once); ``cancel-response`` (RST_STREAM CANCEL when the pushed response's HEADERS arrive,
    before that stream got any flow-control credit; a push already whole by then is left
    alone); ``leave`` (give pushed streams no credit, and close the connection as soon as the
    pages are in). Every mode but ``leave`` waits for all pushed streams to be over first.
    """

    def __init__(self, port: int, ca: Path, pushes: str, timeout_s: float = 20.0) -> None:
        self.port = port
        self.ca = ca
        self.pushes = pushes
        self.timeout_s = timeout_s
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)

    def fetch(self, requests: int) -> Exchange:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.set_alpn_protocols(["h2"])
        deadline = time.monotonic() + self.timeout_s
        conn = self.conn
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout_s) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            assert sock.selected_alpn_protocol() == "h2"
            conn.initiate_connection()
            conn.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: self.pushes != REFUSE})
            streams: dict[int, Response] = {}
            for _ in range(requests):
                stream_id = conn.get_next_available_stream_id()
                headers = [
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":authority", f"127.0.0.1:{self.port}"),
                    (":path", "/"),
                    ("accept", "text/html"),
                ]
                conn.send_headers(stream_id, headers, end_stream=True)
                streams[stream_id] = Response()
            sock.sendall(conn.data_to_send())
            exchange = Exchange(list(streams.values()))
            while not self._over(streams, exchange):
                if time.monotonic() > deadline:
                    pytest.fail(f"streams not over within {self.timeout_s} s: {exchange}")
                data = sock.recv(65536)
                if not data:
                    break
                for event in conn.receive_data(data):
                    self._handle(event, streams, exchange)
                sock.sendall(conn.data_to_send())
            conn.close_connection()
            sock.sendall(conn.data_to_send())
        return exchange

    def _over(self, streams: dict[int, Response], exchange: Exchange) -> bool:
        pages_in = all(response.ended for response in streams.values())
        return pages_in and (self.pushes == LEAVE or not exchange.open_pushes)

    def _handle(
        self, event: h2.events.Event, streams: dict[int, Response], exchange: Exchange
    ) -> None:
        conn = self.conn
        if isinstance(event, h2.events.PushedStreamReceived):
            exchange.promised.append(dict(event.headers)[":path"])
            exchange.open_pushes.add(event.pushed_stream_id)
            if self.pushes == CANCEL_PROMISE:
                self._cancel(event.pushed_stream_id, exchange)
            return
        stream_id = getattr(event, "stream_id", None)
        response = streams.get(stream_id) if stream_id is not None else None
        if isinstance(event, h2.events.DataReceived):
            if response is None and self.pushes == LEAVE:
                # Credit the connection only: the pushed stream stays stuck.
                if event.flow_controlled_length:
                    conn.increment_flow_control_window(event.flow_controlled_length)
            else:
                # A cancelled stream gets no credit from this: h2 skips closed streams.
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if response is not None:
                response.body += event.data
        elif response is None:
            if isinstance(event, h2.events.ResponseReceived) and self.pushes == CANCEL_RESPONSE:
                self._cancel(event.stream_id, exchange)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                exchange.open_pushes.discard(event.stream_id)
        elif isinstance(event, h2.events.InformationalResponseReceived):
            response.informational.append(dict(event.headers)[":status"])
        elif isinstance(event, h2.events.ResponseReceived):
            response.headers = dict(event.headers)
            response.status = response.headers[":status"]
        elif isinstance(event, h2.events.StreamEnded):
            response.ended = True
        elif isinstance(event, h2.events.StreamReset):
            response.reset = event.error_code
            response.ended = True

    def _cancel(self, stream_id: int, exchange: Exchange) -> None:
        try:
            self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            return  # the whole push arrived in the same read: nothing left to cancel
        exchange.cancelled.add(stream_id)
        exchange.open_pushes.discard(stream_id)


def fetch(
    server: Server, ca: Path, pushes: str, requests: int = REQUESTS_PER_CONNECTION
) -> Exchange:
    return RawClient(server.port, ca, pushes).fetch(requests)


def assert_pages_whole(exchange: Exchange, site: Site) -> None:
    bodies = set()
    for response in exchange.responses:
        assert response.reset is None, f"the page's stream was reset: {response}"
        assert response.status == "200", response
        assert response.informational == (["103"] if site.hints else [])
        length = response.headers.get("content-length")
        assert response.body
        if length is not None:
            assert len(response.body) == int(length)
        bodies.add(response.body)
    assert len(bodies) == 1  # the same page every time


def assert_pushes_work(server: Server) -> None:
    log = nghttp(server.url + "/", "-H", "accept: text/html")
    assert [p.header(":path") for p in log.promises] == list(server.site.pushes)
    for promise in log.promises:
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"
        assert log.stream_ended(promise.promised_stream_id)


# --- the tests --------------------------------------------------------------------------


def test_nghttp_without_push_gets_no_promise_and_the_page(server: Server) -> None:
    log = nghttp(server.url + "/", "--no-push", "-H", "accept: text/html")
    assert log.promises == []
    stream = next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")
    hints = [f.header(":status") for f in log.informational]
    assert hints == (["103"] if server.site.hints else [])
    assert log.final_headers(stream).header(":status") == "200"
    assert log.stream_ended(stream)
    assert server.errors() == []


def test_enable_push_0_gets_no_promise_and_every_page(server: Server, tls_files: TLSFiles) -> None:
    exchange = fetch(server, tls_files.ca, REFUSE)
    assert exchange.promised == []
    assert_pages_whole(exchange, server.site)
    assert server.errors() == []


@pytest.mark.parametrize("pushes", [CANCEL_PROMISE, CANCEL_RESPONSE])
def test_a_client_that_cancels_every_push_gets_every_page(
    server: Server, tls_files: TLSFiles, pushes: str
) -> None:
    expected = server.site.pushes
    for _ in range(CONNECTIONS):
        exchange = fetch(server, tls_files.ca, pushes)
        assert_pages_whole(exchange, server.site)
        # Each connection was pushed every resource once (never twice on one connection, however
        # many of its pages ask): the cancels met real pushes, not an empty plan.
        assert sorted(exchange.promised) == sorted(expected)
        if pushes == CANCEL_PROMISE:
            assert len(exchange.cancelled) == len(expected)
        else:  # a small push may be whole before its HEADERS are read; a stuck one never is
            assert len(exchange.cancelled) >= server.site.stuck
    assert server.errors() == [], server.log.read_text()
    assert_pushes_work(server)  # and the server pushes as before


def test_clients_that_leave_mid_push_are_let_go(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> None:
    site = large_site(tmp_path_factory)
    with serve(site, tls_files, tmp_path_factory.mktemp("serve")) as server:
        for _ in range(DEPARTURES):
            exchange = fetch(server, tls_files.ca, LEAVE, requests=1)
            assert_pages_whole(exchange, server.site)
            assert "/static/large.js" in exchange.promised
        assert_pushes_work(server)
        assert server.errors() == []
    # serve() has stopped the server and found nothing held, cancelled or logged.
