"""``h2push bench page``: page-load times of each delivery strategy under an emulated network.

The benchmark serves a small site (:class:`BenchSite`) through the real stack: Hypercorn over
TLS, :class:`h2push.asgi.H2PushMiddleware` configured per strategy (:data:`STRATEGIES`), and a
:class:`h2push._tools.serve.netem.LatencyRelay` in front that adds the round trip (and optionally a
bandwidth
cap) a browser on another machine would see. It then loads the page with each client:

* ``nghttp -a`` (nghttp2-client): an HTTP/2 client that accepts server push and fetches the
  stylesheets, scripts and images the HTML links to (one level: it does not read CSS or
  JavaScript, so it never asks for the font, the background image or the imported module);
* headless Chromium over the DevTools protocol (:mod:`h2push._tools.browser`), which acts on 103
Early
  Hints and ``Link: rel=preload`` but refuses push (``SETTINGS_ENABLE_PUSH=0``).

Each run is a first visit: a new relay port, so a new TCP and TLS connection, an empty browser
cache and no cookies. The page-complete time of a run is, for Chromium, ``loadEventEnd`` (ms since
navigation start); for nghttp, the last byte of the last stream (ms since its TCP connection
was established).

The physical limit (:func:`physical_limit_ms`) is what no delivery strategy can beat: the
handshakes (TCP, then TLS 1.3: two round trips), one request round trip, the server's think time,
and every byte of the page and its resources through the bandwidth cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

import click
from hypercorn.config import Config

from h2push._core.errors import H2PushError
from h2push._core.links import LinkValue, parse_link_header
from h2push._core.manifest import Manifest, ManifestError
from h2push._tools.bench.waterfall import (
    ChartBar,
    Mark,
    Row,
    Waterfall,
    from_page_load,
    render_chart_svg,
)
from h2push._tools.bench.waterfall import render_svg as render_waterfall_svg
from h2push._tools.browser import BrowserError, Chromium, PageLoad, find_chromium
from h2push._tools.discover.discover import (
    DEFAULT_ORIGIN,
    AppSite,
    DiscoverOptions,
    FetchError,
    Stylesheets,
    build_manifest,
    page_key,
    read_page,
)
from h2push._tools.serve.devcert import ensure_dev_certificate
from h2push._tools.serve.netem import LatencyRelay
from h2push._tools.serve.server import build_app
from h2push._tools.trace.client import DEFAULT_ACCEPT

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Strategy = Literal["nothing", "link", "hints", "push", "push+103"]
Protocol = Literal["h2", "http/1.1"]

STRATEGIES: Final[tuple[Strategy, ...]] = ("nothing", "link", "hints", "push", "push+103")
"""Delivery strategies, in table order: no middleware; the Link header on the final response
only; 103 Early Hints only; HTTP/2 push only; push and 103 together. Every strategy but
``nothing`` also sends the Link header (that is what the middleware always does)."""

PROTOCOLS: Final[tuple[Protocol, ...]] = ("h2", "http/1.1")
"""Protocols, by ALPN id (RFC 7301). Over HTTP/1.1 Hypercorn offers neither push nor 103, so
every strategy there is ``nothing`` or ``link``."""

_MIDDLEWARE: Final[Mapping[Strategy, tuple[bool, bool] | None]] = {
    "nothing": None,
    "link": (False, False),
    "hints": (True, False),
    "push": (False, True),
    "push+103": (True, True),
}
"""Per strategy: None for no middleware, else ``(early_hints, push)``."""

HANDSHAKE_RTTS: Final = 2
"""Round trips before the first request can leave: TCP (RFC 9293 §3.5) and TLS 1.3 (RFC 8446
§2), whose client Finished travels with the request."""

STATIC_MAX_AGE_S: Final = 3600
"""``max-age`` of the site's static files, in seconds: hinted resources must be cacheable."""

_START_TIMEOUT_S: Final = 20.0
_STOP_TIMEOUT_S: Final = 10.0

# --------------------------------------------------------------------------- the site

_FONT_FAMILY: Final = "Bench Serif"


def _filler(prefix: str, count: int) -> str:
    """``count`` lines of plausible source text (CSS rules or JS table rows) for weight."""
    lines = []
    for i in range(count):
        shade = (i * 37) % 256
        lines.append(
            f"{prefix}{i} {{ margin: {i % 7}px {i % 5}px; padding: {i % 3}px;"
            f" color: #{shade:02x}{(shade * 3) % 256:02x}{(shade * 7) % 256:02x}; }}"
        )
    return "\n".join(lines) + "\n"


def _stylesheet() -> bytes:
    head = f"""/* h2push bench: the render-blocking stylesheet. Its web font and background image
   cannot start downloading before this file has arrived and been parsed, unless hinted. */
@font-face {{
  font-family: "{_FONT_FAMILY}";
  src: url("/static/bench.woff2") format("woff2");
  font-weight: 700;
  font-display: swap;
}}
html {{ font: 16px/1.5 system-ui, sans-serif; color: #1d2430; }}
body {{ margin: 0 auto; max-width: 48rem; padding: 2rem 1rem;
  background: #fbfaf7 url("/static/backdrop.svg") no-repeat top right; }}
h1, h2 {{ font-family: "{_FONT_FAMILY}", Georgia, serif; font-weight: 700; }}
"""
    return (head + _filler(".b", 260)).encode("ascii")


def _backdrop() -> bytes:
    """An SVG background image of about 20 KB: deterministic circles."""
    shapes = []
    for i in range(240):
        x, y, r = (i * 53) % 400, (i * 97) % 300, 4 + (i * 13) % 23
        hue = (i * 29) % 360
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="{r}" fill="hsl({hue} 60% 70%)" fill-opacity="0.35"/>'
        )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300" viewBox="0 0 400 300">'
        + "".join(shapes)
        + "</svg>\n"
    )
    return svg.encode("ascii")


def _table_js(name: str, rows: int) -> str:
    entries = ",\n".join(f'  [{i}, "{name}-{i:04d}", {(i * 7919) % 10007}]' for i in range(rows))
    return f"const {name} = [\n{entries}\n];\n"


def _app_js() -> bytes:
    body = _table_js("rows", 420) + (
        "document.documentElement.dataset.app = String(rows.length);\n"
    )
    return body.encode("ascii")


def _main_mjs() -> bytes:
    return (
        'import { mark } from "/static/lib.mjs";\n'
        + _table_js("settings", 60)
        + 'mark("main", settings.length);\n'
    ).encode("ascii")


def _lib_mjs() -> bytes:
    return (
        _table_js("table", 240)
        + "export function mark(name, size) {\n"
        + "  document.documentElement.dataset[name] = String(size + table.length);\n"
        + "}\n"
    ).encode("ascii")


def _page() -> bytes:
    paragraphs = "\n".join(
        f"<p>Paragraph {i}: the page arrives after the server has thought; what it needs should"
        " already be on its way, or in the cache, by then.</p>"
        for i in range(24)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>h2push bench</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/bench.css">
<script src="/static/app.js" defer></script>
<script type="module" src="/static/main.mjs"></script>
</head>
<body>
<h1>h2push bench</h1>
<h2>A slow page and its critical resources</h2>
{paragraphs}
</body>
</html>
""".encode("ascii")


_CSS: Final = b"text/css; charset=utf-8"
_JS: Final = b"text/javascript; charset=utf-8"


@dataclass(frozen=True)
class _File:
    media_type: bytes
    body: bytes


class BenchSite:
    """The benchmark site, a plain ASGI 3 application that knows nothing of push or hints.

    ``GET /`` waits ``think_ms`` (the view "thinking": a database query), then returns an HTML
    page (``no-store``) that uses a render-blocking stylesheet, which pulls a web font through
    ``@font-face`` and a background image, a classic deferred script, and a module script that
    imports another module. Those six files are served from ``/static/`` with
    ``Cache-Control: public, max-age=3600``; everything else is a 404.

    :attr:`manifest` declares the six files for ``/`` only (a multi-page manifest), so that a
    client that sends ``Accept: text/html`` on every request (``nghttp -H``) is hinted and pushed
    to for the page alone.

    Args:
        think_ms: How long ``GET /`` waits before answering, in milliseconds (>= 0).

    Raises:
        ValueError: ``think_ms`` is negative.
    """

    def __init__(self, think_ms: float) -> None:
        if think_ms < 0:
            raise ValueError(f"think_ms must be >= 0, got {think_ms!r}")
        self.think_ms = float(think_ms)
        font = resources.files("h2push._tools.demo").joinpath("static/dejavu-serif-bold.woff2")
        self.files: dict[str, _File] = {
            "/static/bench.css": _File(_CSS, _stylesheet()),
            "/static/bench.woff2": _File(b"font/woff2", font.read_bytes()),
            "/static/backdrop.svg": _File(b"image/svg+xml", _backdrop()),
            "/static/app.js": _File(_JS, _app_js()),
            "/static/main.mjs": _File(_JS, _main_mjs()),
            "/static/lib.mjs": _File(_JS, _lib_mjs()),
        }
        self.page = _page()
        self.manifest = Manifest.from_dict(
            {
                "index.html": {
                    "/static/bench.css": {"type": "style", "weight": 6},
                    "/static/bench.woff2": {"type": "font", "weight": 5},
                    "/static/backdrop.svg": {"type": "image", "weight": 4},
                    "/static/app.js": {"type": "script", "weight": 3},
                    "/static/main.mjs": {"type": "script", "weight": 2, "rel": "modulepreload"},
                    "/static/lib.mjs": {"type": "script", "weight": 1, "rel": "modulepreload"},
                }
            },
            source="<bench site>",
        )

    @property
    def sizes(self) -> dict[str, int]:
        """Body bytes per path, the page (``/``) first."""
        return {"/": len(self.page), **{path: len(f.body) for path, f in self.files.items()}}

    @property
    def total_bytes(self) -> int:
        """Body bytes of the page and all its resources."""
        return sum(self.sizes.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the page and its static files (ASGI 3); answer lifespan events."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/":
            await asyncio.sleep(self.think_ms / 1000)
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ]
            await _respond(send, 200, headers, self.page)
        elif path in self.files:
            file = self.files[path]
            headers = [
                (b"content-type", file.media_type),
                (b"cache-control", f"public, max-age={STATIC_MAX_AGE_S}".encode("ascii")),
            ]
            await _respond(send, 200, headers, file.body)
        else:
            await _respond(send, 404, [(b"content-type", b"text/plain")], b"not found\n")


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    length = (b"content-length", str(len(body)).encode("ascii"))
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


def physical_limit_ms(
    *, rtt_ms: float, think_ms: float, total_bytes: int, bandwidth_mbit: float | None
) -> float:
    """The fastest any strategy can complete the page, in milliseconds.

    ``HANDSHAKE_RTTS`` round trips (TCP, TLS 1.3) + one request round trip + the think time +
    every body byte through the bandwidth cap (none when ``bandwidth_mbit`` is None). Header and
    framing bytes, and the client's own work (parsing, layout), are left out: the limit is a
    floor, not an estimate.

    Args:
        rtt_ms: The emulated round trip, in milliseconds.
        think_ms: The server's think time, in milliseconds.
        total_bytes: Body bytes of the page and its resources.
        bandwidth_mbit: The link's rate in Mbit/s (10**6 bit/s), or None.
    """
    transfer_ms = 0.0 if bandwidth_mbit is None else total_bytes * 8 / (bandwidth_mbit * 1e3)
    return (HANDSHAKE_RTTS + 1) * rtt_ms + think_ms + transfer_ms


# --------------------------------------------------------------------------- the server


class _Switch:
    """Dispatch every request to the application of the current strategy."""

    def __init__(self, apps: Mapping[Strategy, ASGIApp], site: BenchSite | ASGIApp) -> None:
        self.apps = apps
        self.site = site
        self.current: Strategy = "nothing"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.site(scope, receive, send)
            return
        await self.apps[self.current](scope, receive, send)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchServer:
    """Hypercorn serving a :class:`BenchSite` in a background event loop; a context manager.

    Two Hypercorn listeners share one application and one event loop (in a daemon thread): one
    offering ALPN ``h2`` and ``http/1.1``, one offering ``http/1.1`` only. The application is
    the site wrapped in :class:`~h2push.asgi.H2PushMiddleware` as :data:`STRATEGIES` says (by
    :func:`h2push._tools.serve.server.build_app`, as ``h2push serve`` does); set :attr:`strategy`
    between
    loads. Clients connect through :meth:`endpoint`, a new
    :class:`~h2push._tools.serve.netem.LatencyRelay`
    for each load, running in the same event loop.

    Args:
        site: What to serve: the bench site, or any ASGI app (which gets the lifespan events)
            with ``apps``.
        certfile: Certificate chain (PEM) for TLS.
        keyfile: Its private key (PEM).
        rtt_ms: Round trip the relays add, in milliseconds.
        bandwidth_mbit: Rate of each direction of the relays in Mbit/s, or None.
        apps: The application of each strategy; by default the bench site wrapped as
            :data:`STRATEGIES` says.

    Raises:
        TimeoutError: From entering: Hypercorn did not listen within 20 s.
        TypeError: ``site`` is not a :class:`BenchSite` and ``apps`` is None.
    """

    def __init__(
        self,
        site: BenchSite | ASGIApp,
        *,
        certfile: str,
        keyfile: str,
        rtt_ms: float,
        bandwidth_mbit: float | None = None,
        apps: Mapping[Strategy, ASGIApp] | None = None,
    ) -> None:
        self.site = site
        self.rtt_ms = rtt_ms
        self.bandwidth_mbit = bandwidth_mbit
        if apps is None:
            if not isinstance(site, BenchSite):
                raise TypeError("give the apps of each strategy for a site other than BenchSite")
            built: dict[Strategy, ASGIApp] = {}
            for strategy, setting in _MIDDLEWARE.items():
                if setting is None:
                    built[strategy] = site
                else:
                    early_hints, push = setting
                    built[strategy] = build_app(
                        site, "asgi", manifest=site.manifest, early_hints=early_hints, push=push
                    )
            apps = built
        self._switch = _Switch(apps, site)
        self._configs: dict[Protocol, Config] = {}
        for protocol, alpn in (("h2", ["h2", "http/1.1"]), ("http/1.1", ["http/1.1"])):
            config = Config()
            config.bind = [f"127.0.0.1:{_free_port()}"]
            config.certfile = certfile
            config.keyfile = keyfile
            config.alpn_protocols = alpn
            config.accesslog = None
            config.loglevel = "WARNING"
            self._configs[cast(Protocol, protocol)] = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._served: list[Future[None]] = []

    @property
    def strategy(self) -> Strategy:
        """The strategy the next requests are served with."""
        return self._switch.current

    @strategy.setter
    def strategy(self, strategy: Strategy) -> None:
        if strategy not in _MIDDLEWARE:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        self._switch.current = strategy

    def upstream_port(self, protocol: Protocol) -> int:
        """The port Hypercorn listens on for ``protocol``, without the relay."""
        return int(self._configs[protocol].bind[0].rsplit(":", 1)[1])

    def __enter__(self) -> BenchServer:
        from hypercorn.asyncio import serve  # noqa: PLC0415 - loaded with the server

        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="h2push-bench", daemon=True)
        self._thread.start()
        try:
            stop = self._run(self._make_event())
            self._stop = stop
            self._served = [
                asyncio.run_coroutine_threadsafe(
                    serve(cast(Any, self._switch), config, shutdown_trigger=stop.wait, mode="asgi"),
                    loop,
                )
                for config in self._configs.values()
            ]
            for protocol in self._configs:
                self._wait_listening(self.upstream_port(protocol))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop Hypercorn gracefully and end the event loop's thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)
        for served in self._served:
            with contextlib.suppress(Exception):
                served.result(_STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = self._stop = None
        self._served = []

    @contextlib.contextmanager
    def endpoint(self, protocol: Protocol) -> Iterator[str]:
        """A fresh latency relay in front of the ``protocol`` listener; yields its base URL.

        A new port for every load means a new connection (and, for a browser, a new origin):
        each load pays for its own handshakes, as a first visit does. Leaving closes the relay
        and every connection through it.

        Yields:
            str: ``https://127.0.0.1:PORT/``.
        """
        relay = LatencyRelay(
            self.upstream_port(protocol), rtt_ms=self.rtt_ms, bandwidth_mbit=self.bandwidth_mbit
        )
        self._run(relay.start())
        try:
            yield f"https://127.0.0.1:{relay.port}/"
        finally:
            self._run(relay.aclose())

    async def _make_event(self) -> asyncio.Event:
        return asyncio.Event()

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        if self._loop is None:
            raise RuntimeError("the bench server is not running")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coroutine), self._loop)
        return future.result(_START_TIMEOUT_S)

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            for served in self._served:
                if served.done():
                    served.result()  # raises what stopped Hypercorn
                    raise RuntimeError("Hypercorn stopped while starting")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"Hypercorn did not listen on 127.0.0.1:{port} within {_START_TIMEOUT_S} s"
                    ) from None
                time.sleep(0.02)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# --------------------------------------------------------------------------- results

Client = Literal["nghttp", "chromium"]

CLIENTS: Final[tuple[Client, ...]] = ("nghttp", "chromium")
"""Clients, in table order. nghttp speaks HTTP/2 only."""

_SUBRESOURCES: Final = 6
"""Resources the page needs besides itself: stylesheet, font, image, script, two modules."""


class BenchError(H2PushError):
    """The benchmark cannot run (a client is missing) or a page load failed twice in a row."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One page load.

    Attributes:
        page_complete_ms: Chromium: ``loadEventEnd``, ms since navigation start. nghttp: the
            last byte of the last stream, ms since its TCP connection was established.
        first_contentful_paint_ms: Chromium's first contentful paint, ms; None for nghttp.
        early_hint_ms: When the 103 arrived, ms (same origin); None when none did.
        main_headers_ms: When the page's final HEADERS arrived, ms.
        page_end_ms: When the page's last byte arrived, ms.
        resources: Subresources the client received (the page itself not counted).
        pushed: Of those, how many were pushed.
        hinted: Of those, how many came through the cache a 103 filled (Chromium).
        waterfall: Every stream of the load.
    """

    page_complete_ms: float
    first_contentful_paint_ms: float | None
    early_hint_ms: float | None
    main_headers_ms: float | None
    page_end_ms: float
    resources: int
    pushed: int
    hinted: int
    waterfall: Waterfall

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "page_complete_ms": round(self.page_complete_ms, 3),
            "first_contentful_paint_ms": _round(self.first_contentful_paint_ms),
            "early_hint_ms": _round(self.early_hint_ms),
            "main_headers_ms": _round(self.main_headers_ms),
            "page_end_ms": round(self.page_end_ms, 3),
            "resources": self.resources,
            "pushed": self.pushed,
            "hinted": self.hinted,
            "streams": [row.to_dict() for row in self.waterfall.rows],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """Every run of one client, protocol and strategy.

    Attributes:
        client: ``"nghttp"`` or ``"chromium"``.
        protocol: ``"h2"`` or ``"http/1.1"``.
        strategy: One of :data:`STRATEGIES`.
        runs: The runs, in the order they ran.
    """

    client: Client
    protocol: Protocol
    strategy: Strategy
    runs: tuple[RunResult, ...]

    @property
    def times_ms(self) -> list[float]:
        """Page-complete time of every run, in ms."""
        return [run.page_complete_ms for run in self.runs]

    @property
    def median_ms(self) -> float:
        """Median page-complete time, in ms."""
        return float(statistics.median(self.times_ms))

    @property
    def min_ms(self) -> float:
        """Fastest page-complete time, in ms."""
        return min(self.times_ms)

    @property
    def max_ms(self) -> float:
        """Slowest page-complete time, in ms."""
        return max(self.times_ms)

    @property
    def after_page_median_ms(self) -> float:
        """Median time from the page's last byte to page complete, in ms.

        The client's own work (parsing, styles, scripts, layout) plus whatever it still had to
        fetch: where the time beyond the physical limit goes.
        """
        return float(statistics.median(r.page_complete_ms - r.page_end_ms for r in self.runs))

    @property
    def fcp_median_ms(self) -> float | None:
        """Median first contentful paint, in ms; None when the client does not paint."""
        values = [r.first_contentful_paint_ms for r in self.runs]
        painted = [v for v in values if v is not None]
        return float(statistics.median(painted)) if painted else None

    def median_run(self) -> RunResult:
        """The run whose page-complete time is nearest the median (the first of equals)."""
        median = self.median_ms
        return min(self.runs, key=lambda run: abs(run.page_complete_ms - median))

    @property
    def name(self) -> str:
        """``"client protocol strategy"``."""
        return f"{self.client} {self.protocol} {self.strategy}"


@dataclass(frozen=True, kw_only=True)
class PageBenchOptions:
    """What ``h2push bench page`` runs.

    Attributes:
        rtt_ms: Emulated round trip, in ms (> 0).
        think_ms: How long the page's view thinks, in ms.
        bandwidth_mbit: Rate of the emulated link in Mbit/s, or None for no cap.
        runs: Measured loads per client, protocol and strategy.
        strategies: Which of :data:`STRATEGIES`, in table order.
        clients: Which of :data:`CLIENTS`.
        protocols: Which of :data:`PROTOCOLS`; nghttp skips ``http/1.1``.
        timeout_s: Limit for one page load, in seconds.
        warmup: Load the page once per client and protocol before measuring, unrecorded.
    """

    rtt_ms: float = 100.0
    think_ms: float = 200.0
    bandwidth_mbit: float | None = None
    runs: int = 10
    strategies: tuple[Strategy, ...] = STRATEGIES
    clients: tuple[Client, ...] = CLIENTS
    protocols: tuple[Protocol, ...] = PROTOCOLS
    timeout_s: float = 30.0
    warmup: bool = True

    def __post_init__(self) -> None:
        if self.rtt_ms <= 0:
            raise ValueError(f"rtt_ms must be > 0, got {self.rtt_ms!r}")
        if self.think_ms < 0:
            raise ValueError(f"think_ms must be >= 0, got {self.think_ms!r}")
        if self.bandwidth_mbit is not None and self.bandwidth_mbit <= 0:
            raise ValueError(f"bandwidth_mbit must be > 0, got {self.bandwidth_mbit!r}")
        if self.runs < 1:
            raise ValueError(f"runs must be >= 1, got {self.runs!r}")
        for name, values, allowed in (
            ("strategies", self.strategies, STRATEGIES),
            ("clients", self.clients, CLIENTS),
            ("protocols", self.protocols, PROTOCOLS),
        ):
            unknown = [value for value in values if value not in allowed]
            if unknown or not values:
                raise ValueError(f"{name} must be some of {allowed}, got {values!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rtt_ms": self.rtt_ms,
            "think_ms": self.think_ms,
            "bandwidth_mbit": self.bandwidth_mbit,
            "runs": self.runs,
            "strategies": list(self.strategies),
            "clients": list(self.clients),
            "protocols": list(self.protocols),
        }


@dataclass(frozen=True, kw_only=True)
class PageBenchResult:
    """Everything one ``h2push bench page`` measured.

    Attributes:
        options: What was run.
        sizes: Body bytes per path of the site.
        limit_ms: The physical limit (:func:`physical_limit_ms`), in ms.
        cases: One per client, protocol and strategy, in table order.
        skipped: Why combinations were left out (``"nghttp over http/1.1: ..."``).
        environment: Machine, versions and load average, for the record.
        page: The user's page that was measured (``h2push bench URL``), None for the bench
            site.
        server_ms: The user's page's median server time, in ms (the limit's think time).
        subresources: Resources the page needs besides itself, when known (the bench site's
            six), else None.
    """

    options: PageBenchOptions
    sizes: Mapping[str, int]
    limit_ms: float
    cases: tuple[CaseResult, ...]
    skipped: tuple[str, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    page: str | None = None
    server_ms: float | None = None
    subresources: int | None = _SUBRESOURCES

    def case(self, client: str, protocol: str, strategy: str) -> CaseResult | None:
        """The case of that client, protocol and strategy, or None when it was not run."""
        for case in self.cases:
            if (case.client, case.protocol, case.strategy) == (client, protocol, strategy):
                return case
        return None

    def speedup(self, case: CaseResult) -> float | None:
        """How many times faster than ``nothing`` (same client and protocol) the median is."""
        baseline = self.case(case.client, case.protocol, "nothing")
        if baseline is None or case.median_ms <= 0:
            return None
        return baseline.median_ms / case.median_ms

    def to_dict(self) -> dict[str, Any]:
        """Return the whole result as a JSON-ready dict."""
        return {
            "benchmark": "h2push bench page" if self.page is None else "h2push bench",
            "page": self.page,
            "server_ms": _round(self.server_ms),
            "settings": self.options.to_dict(),
            "site": {"bytes": dict(self.sizes), "total_bytes": sum(self.sizes.values())},
            "physical_limit_ms": round(self.limit_ms, 3),
            "physical_limit": (
                f"{HANDSHAKE_RTTS} handshake RTTs + 1 request RTT + think time"
                " + total bytes / bandwidth"
            ),
            "environment": dict(self.environment),
            "skipped": list(self.skipped),
            "results": [
                {
                    "client": case.client,
                    "protocol": case.protocol,
                    "strategy": case.strategy,
                    "median_ms": round(case.median_ms, 3),
                    "min_ms": round(case.min_ms, 3),
                    "max_ms": round(case.max_ms, 3),
                    "ratio_to_limit": round(case.median_ms / self.limit_ms, 4),
                    "speedup_vs_nothing": _round(self.speedup(case)),
                    "after_page_median_ms": round(case.after_page_median_ms, 3),
                    "fcp_median_ms": _round(case.fcp_median_ms),
                    "runs": [run.to_dict() for run in case.runs],
                }
                for case in self.cases
            ],
            "targets": (
                [check.to_dict() for check in check_targets(self)] if self.page is None else []
            ),
        }


# --------------------------------------------------------------------------- nghttp

_NG_CONNECTED: Final = re.compile(r"^\[\s*([\d.]+)\] Connected")
_NG_FRAME: Final = re.compile(
    r"^\[\s*([\d.]+)\] (send|recv) (\w+) frame <length=(\d+), flags=0x([0-9a-f]+),"
    r" stream_id=(\d+)>"
)
_NG_HEADER: Final = re.compile(r"^\[\s*[\d.]+\] recv \(stream_id=(\d+)\) (:?[^:]+): (.*)$")
_NG_SENT_PATH: Final = re.compile(r"^\s+:path: (.*)$")
_NG_PROMISED: Final = re.compile(r"promised_stream_id=(\d+)")
_END_STREAM: Final = 0x1


@dataclass
class _NgStream:
    stream_id: int
    start_s: float
    path: str = ""
    pushed: bool = False
    status: int | None = None
    end_s: float | None = None
    body_bytes: int = 0
    reset: bool = False


def parse_nghttp(output: str, *, title: str = "nghttp") -> RunResult:
    """Read the page load that ``nghttp -nv[a]`` printed into a :class:`RunResult`.

    Times are ms since nghttp's ``Connected`` line (the TCP connection established; over the
    relay, the emulated handshake round trip still lies ahead). nghttp prints the header fields
    it receives before the frame that carried them, and the promised stream id of a
    PUSH_PROMISE on a line after it.

    Args:
        output: nghttp's standard output.
        title: The waterfall's title.

    Raises:
        BenchError: The output has no ``Connected`` line or the first request never ended.
    """
    connected_s: float | None = None
    streams: dict[int, _NgStream] = {}
    pending: dict[int, list[tuple[str, str]]] = {}
    main_id: int | None = None
    hint_s: float | None = None
    headers_s: float | None = None
    last: tuple[str, str, int, float, str] | None = None  # direction, type, stream, time, path
    for line in output.splitlines():
        if match := _NG_CONNECTED.match(line):
            connected_s = float(match[1])
        elif match := _NG_HEADER.match(line):
            pending.setdefault(int(match[1]), []).append((match[2], match[3]))
        elif match := _NG_FRAME.match(line):
            t_s, direction, kind = float(match[1]), match[2], match[3]
            length, flags, stream_id = int(match[4]), int(match[5], 16), int(match[6])
            fields = dict(pending.pop(stream_id, [])) if direction == "recv" else {}
            last = (direction, kind, stream_id, t_s, fields.get(":path", ""))
            stream = streams.get(stream_id)
            if direction == "send" and kind == "HEADERS":
                streams[stream_id] = _NgStream(stream_id=stream_id, start_s=t_s)
                main_id = stream_id if main_id is None else main_id
            elif direction == "recv" and kind == "HEADERS":
                status = fields.get(":status", "")
                if status.startswith("1") and stream_id == main_id:
                    hint_s = t_s if hint_s is None else hint_s
                elif status.isdigit() and stream is not None:
                    stream.status = int(status)
                    if stream_id == main_id and headers_s is None:
                        headers_s = t_s
                if stream is not None and flags & _END_STREAM:
                    stream.end_s = t_s
            elif direction == "recv" and kind == "DATA" and stream is not None:
                stream.body_bytes += length
                if flags & _END_STREAM:
                    stream.end_s = t_s
            elif direction == "recv" and kind == "RST_STREAM" and stream is not None:
                stream.reset = True
        elif last is not None:
            direction, kind, stream_id, t_s, path = last
            if kind == "PUSH_PROMISE" and (match := _NG_PROMISED.search(line)):
                promised = int(match[1])
                streams[promised] = _NgStream(
                    stream_id=promised, start_s=t_s, path=path, pushed=True
                )
            elif direction == "send" and kind == "HEADERS" and (match := _NG_SENT_PATH.match(line)):
                streams[stream_id].path = match[1]
    if connected_s is None:
        raise BenchError("nghttp printed no 'Connected' line")
    main = streams.get(main_id) if main_id is not None else None
    if main is None or main.end_s is None:
        raise BenchError("nghttp: the page's stream never ended")

    def ms(t_s: float) -> float:
        return (t_s - connected_s) * 1000

    ordered = sorted(streams.values(), key=lambda s: (s.stream_id != main_id, s.start_s))
    rows = tuple(
        Row(
            label=s.path or f"stream {s.stream_id}",
            start_ms=ms(s.start_s),
            end_ms=None if s.end_s is None else ms(s.end_s),
            delivery="pushed" if s.pushed else "normal",
            stream_id=s.stream_id,
            body_bytes=s.body_bytes,
            note="reset" if s.reset else ("" if s.status is None else f"status {s.status}"),
        )
        for s in ordered
    )
    complete_ms = max(ms(s.end_s) for s in streams.values() if s.end_s is not None)
    received = [
        s for s in streams.values() if s is not main and s.end_s is not None and s.status == 200
    ]
    marks = [Mark(kind="early-hint", t_ms=ms(hint_s))] if hint_s is not None else []
    if headers_s is not None:
        marks.append(Mark(kind="headers", t_ms=ms(headers_s)))
    marks.append(Mark(kind="complete", t_ms=complete_ms))
    return RunResult(
        page_complete_ms=complete_ms,
        first_contentful_paint_ms=None,
        early_hint_ms=None if hint_s is None else ms(hint_s),
        main_headers_ms=None if headers_s is None else ms(headers_s),
        page_end_ms=ms(main.end_s),
        resources=len(received),
        pushed=sum(1 for s in received if s.pushed),
        hinted=0,
        waterfall=Waterfall(
            title=title,
            subtitle="ms since the TCP connection was established (nghttp -nav)",
            rows=rows,
            marks=tuple(marks),
        ),
    )


def _run_nghttp(program: str, url: str, *, timeout_s: float, title: str) -> RunResult:
    command = [program, "-nav", "-H", f"accept: {DEFAULT_ACCEPT}", url]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"nghttp did not finish loading {url} within {timeout_s:g} s") from None
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip()[-500:]
        raise BenchError(f"nghttp exited with {completed.returncode}: {tail}")
    return parse_nghttp(completed.stdout, title=title)


# --------------------------------------------------------------------------- Chromium


# Chromium may paint for the first time after the load event: wait for it (at most 2 s).
_FIRST_PAINT_JS: Final = """new Promise((resolve) => {
  const name = "first-contentful-paint";
  const now = performance.getEntriesByName(name)[0];
  if (now) { resolve(now.startTime); return; }
  const timer = setTimeout(() => resolve(null), 2000);
  new PerformanceObserver((list) => {
    const entry = list.getEntriesByName(name)[0];
    if (entry) { clearTimeout(timer); resolve(entry.startTime); }
  }).observe({type: "paint", buffered: true});
})"""


def _run_chromium(browser: Chromium, url: str, *, timeout_s: float, title: str) -> RunResult:
    """One first visit: empty cache and no cookies, then load and read the timings."""
    browser.clear_cache()
    browser.call("Network.clearBrowserCookies")
    load: PageLoad = browser.load(url, timeout_s=timeout_s, settle_s=0.05)
    nav = load.navigation
    if nav.response_status not in (0, 200):
        raise BenchError(f"Chromium got status {nav.response_status} for {url}")
    first_paint = load.first_contentful_paint_ms
    if first_paint is None:
        painted = browser.evaluate(_FIRST_PAINT_JS, timeout_s=5)
        first_paint = None if painted is None else float(painted)
    return RunResult(
        page_complete_ms=nav.load_event_end_ms,
        first_contentful_paint_ms=first_paint,
        early_hint_ms=nav.first_interim_response_start_ms or None,
        main_headers_ms=nav.final_response_headers_start_ms,
        page_end_ms=nav.response_end_ms,
        resources=len(load.by_path()),
        pushed=0,
        hinted=len(load.hinted_paths()),
        waterfall=from_page_load(load, title=title),
    )


# --------------------------------------------------------------------------- the run


def _versions(nghttp: str | None, browser: Chromium | None) -> dict[str, Any]:
    environment: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    for package in ("hypercorn", "h2"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            environment[package] = metadata.version(package)
    if nghttp is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            environment["nghttp"] = subprocess.run(
                [nghttp, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
    if browser is not None:
        with contextlib.suppress(BrowserError):
            environment["chromium"] = browser.call("Browser.getVersion").get("product")
    return environment


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # pragma: no cover - not on this platform
        return None


def run_page_bench(
    options: PageBenchOptions, *, progress: Callable[[str], None] | None = None
) -> PageBenchResult:
    """Serve the bench site and load it with every client, protocol and strategy asked for.

    Runs are interleaved (run 1 of every strategy, then run 2, ...) so that a machine that gets
    busier during the benchmark slows every strategy alike. A failed load is tried once more.

    Args:
        options: What to run.
        progress: Called with one line per load (and a few more), for a progress display.

    Returns:
        PageBenchResult: Every run, in table order.

    Raises:
        BenchError: A client's program is not installed, or a load failed twice.
    """
    say = progress or (lambda _line: None)
    site = BenchSite(options.think_ms)
    limit = physical_limit_ms(
        rtt_ms=options.rtt_ms,
        think_ms=options.think_ms,
        total_bytes=site.total_bytes,
        bandwidth_mbit=options.bandwidth_mbit,
    )
    bandwidth = "" if options.bandwidth_mbit is None else f", {options.bandwidth_mbit:g} Mbit/s"
    say(
        f"bench site: {site.total_bytes} bytes in 7 files, think {options.think_ms:g} ms,"
        f" rtt {options.rtt_ms:g} ms{bandwidth}; physical limit {limit:.0f} ms"
    )
    result = _measure(
        options,
        lambda certfile, keyfile: BenchServer(
            site,
            certfile=certfile,
            keyfile=keyfile,
            rtt_ms=options.rtt_ms,
            bandwidth_mbit=options.bandwidth_mbit,
        ),
        "/",
        say,
    )
    return replace(result, sizes=site.sizes, limit_ms=limit)


def _measure(
    options: PageBenchOptions,
    make_server: Callable[[str, str], BenchServer],
    path: str,
    say: Callable[[str], None],
) -> PageBenchResult:
    """Start the clients and the server, load ``path`` as ``options`` say; sizes and limit unset."""
    nghttp = shutil.which("nghttp") if "nghttp" in options.clients else None
    if "nghttp" in options.clients and nghttp is None:
        raise BenchError("nghttp is not installed (apt-get install nghttp2-client)")
    if "chromium" in options.clients and find_chromium() is None:
        raise BenchError("Chromium is not installed (apt-get install chromium)")
    plan: list[tuple[Client, Protocol]] = []
    skipped: list[str] = []
    for client in options.clients:
        for protocol in options.protocols:
            if client == "nghttp" and protocol != "h2":
                skipped.append(f"nghttp over {protocol}: nghttp speaks HTTP/2 only")
            else:
                plan.append((client, protocol))
    runs: dict[tuple[Client, Protocol, Strategy], list[RunResult]] = {
        (client, protocol, strategy): []
        for client, protocol in plan
        for strategy in options.strategies
    }
    total = len(runs) * options.runs
    done = 0
    load_before = _load_average()
    with contextlib.ExitStack() as stack:
        certificate_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dev = ensure_dev_certificate(certificate_dir / "cert")
        browser: Chromium | None = None
        if any(client == "chromium" for client, _ in plan):
            browser = stack.enter_context(Chromium(spki=[dev.spki_sha256], log_domain=False))
        server = stack.enter_context(make_server(str(dev.cert_file), str(dev.key_file)))

        def load(client: Client, protocol: Protocol, strategy: Strategy, label: str) -> RunResult:
            server.strategy = strategy
            title = f"{client} {protocol} {strategy} ({label})"
            failure: Exception | None = None
            for _attempt in range(2):
                try:
                    with server.endpoint(protocol) as base:
                        url = base + path.lstrip("/")
                        if client == "nghttp":
                            assert nghttp is not None
                            return _run_nghttp(
                                nghttp, url, timeout_s=options.timeout_s, title=title
                            )
                        assert browser is not None
                        return _run_chromium(browser, url, timeout_s=options.timeout_s, title=title)
                except (BenchError, BrowserError) as error:
                    failure = error
                    say(f"  {title}: failed ({error}); trying again")
            raise BenchError(f"{title}: {failure}")

        if options.warmup:
            for client, protocol in plan:
                load(client, protocol, options.strategies[0], "warm-up")
        for number in range(1, options.runs + 1):
            for client, protocol in plan:
                for strategy in options.strategies:
                    result = load(client, protocol, strategy, f"run {number}")
                    runs[client, protocol, strategy].append(result)
                    done += 1
                    say(
                        f"[{done}/{total}] {client} {protocol} {strategy} run {number}:"
                        f" {result.page_complete_ms:.0f} ms"
                    )
        environment = _versions(nghttp, browser)
    environment["load_average_before"] = load_before
    environment["load_average_after"] = _load_average()
    cases = tuple(
        CaseResult(client=client, protocol=protocol, strategy=strategy, runs=tuple(results))
        for (client, protocol, strategy), results in runs.items()
    )
    return PageBenchResult(
        options=options,
        sizes={},
        limit_ms=0.0,
        cases=cases,
        skipped=tuple(skipped),
        environment=environment,
    )


# --------------------------------------------------------------------------- your own page

PAGE_RTT_MS: Final = 50.0
"""Default round trip of ``h2push bench URL`` and ``--app``, in milliseconds."""

PAGE_RUNS: Final = 5
"""Default measured loads per case of ``h2push bench URL`` and ``--app``."""

_PUSH: Final = "http.response.push"
_EARLY_HINT: Final = "http.response.early_hint"
_PRELOAD_RELS: Final = frozenset({"preload", "modulepreload"})
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "content-length",
        "alt-svc",
    }
)


@dataclass(frozen=True, kw_only=True)
class PageUnderTest:
    """A page of the user's own application, ready to be benched.

    Attributes:
        name: What is measured, for the heading (``flaskr:create_app() /``, a URL).
        path: The page's request path, with its query string.
        app: The application as ``h2push serve`` builds it
        (:func:`h2push._tools.serve.server.build_app`).
        sizes: Body bytes per path, the page first, then each hinted resource.
        declared: Where the hinted resources come from: ``the app's own declarations``,
            ``the manifest FILE`` or ``found in the page`` (:mod:`h2push._tools.discover.discover`).
    """

    name: str
    path: str
    app: ASGIApp
    sizes: Mapping[str, int]
    declared: str


def _preload_links(value: str, origin: str) -> list[LinkValue]:
    """The same-origin ``rel=preload``/``modulepreload`` values of a Link header field."""
    found = []
    for link in parse_link_header(value):
        target = link.target
        if target.startswith(origin + "/"):
            target = target[len(origin) :]
        if link.rels & _PRELOAD_RELS and target.startswith("/") and not target.startswith("//"):
            found.append(LinkValue(target, link.params))
    return found


def _without_preloads(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers with every ``rel=preload``/``modulepreload`` Link value taken out."""
    kept = []
    for name, value in headers:
        if bytes(name).lower() != b"link":
            kept.append((name, value))
            continue
        others = [
            str(link)
            for link in parse_link_header(bytes(value).decode("latin-1"))
            if not link.rels & _PRELOAD_RELS
        ]
        if others:
            kept.append((name, ", ".join(others).encode("latin-1")))
    return kept


class _Deliver:
    """Serve the built application with one strategy's mechanisms only.

    The ASGI extensions a strategy does not use are taken out of the scope (no 103 for ``link``
    and ``push``, no push for ``link`` and ``hints``); ``nothing`` also loses every preload Link
    value, whoever set it, so that the page goes out as it would without h2push. With
    ``timings``, the time from the request to the page's response headers is recorded (ms).
    """

    def __init__(
        self, app: ASGIApp, strategy: Strategy, *, path: str, timings: list[float] | None
    ) -> None:
        self.app = app
        setting = _MIDDLEWARE[strategy]
        self.strip_links = setting is None
        early_hints, push = setting or (False, False)
        self.withheld = {n for n, on in ((_EARLY_HINT, early_hints), (_PUSH, push)) if not on}
        self.path = path.split("?", 1)[0]
        self.timings = timings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extensions = scope.get("extensions") or {}
        scope = {
            **scope,
            "extensions": {k: v for k, v in extensions.items() if k not in self.withheld},
        }
        timings = self.timings if scope["path"] == self.path else None
        if timings is None and not self.strip_links:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def deliver(message: Message) -> None:
            if message["type"] == "http.response.start":
                if timings is not None:
                    timings.append((time.perf_counter() - started) * 1000)
                if self.strip_links:
                    message = {**message, "headers": _without_preloads(message["headers"])}
            await send(message)

        await self.app(scope, receive, deliver)


class _SkipInformational(http.client.HTTPResponse):
    """An HTTP/1.1 response that passes over interim 1xx responses (a 103 from Gunicorn).

    ``http.client`` skips ``100 Continue`` only and would take a 103 for the final response.
    """

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim response's header block


class _Upstream:
    """An ASGI reverse proxy to one origin: each request fetched there over HTTP/1.1 (ASGI 3).

    The bench serves the user's page through it, so that h2push can deliver it with each
    strategy; hop-by-hop headers are dropped and the body is buffered.

    Args:
        origin: ``https://host:port`` or ``http://host:port``.
        context: The TLS settings for an https origin.
        timeout_s: Limit for one request, in seconds.
    """

    def __init__(self, origin: str, *, context: ssl.SSLContext, timeout_s: float) -> None:
        parts = urlsplit(origin)
        self.origin = origin
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.netloc = parts.netloc
        self.context = context
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        target = scope.get("raw_path") or scope["path"].encode("utf-8")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
            for k, v in scope["headers"]
            if bytes(k).lower() not in (b"host", b":authority") and not bytes(k).startswith(b":")
        ]
        try:
            status, response_headers, data = await asyncio.to_thread(
                self._fetch, scope["method"], bytes(target).decode("latin-1"), headers, body
            )
        except (OSError, http.client.HTTPException) as error:
            status, response_headers = 502, [("content-type", "text/plain")]
            data = f"h2push bench: {self.origin} did not answer: {error}\n".encode()
        out = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response_headers
            if name.lower() not in _HOP_BY_HOP
        ]
        out.append((b"content-length", str(len(data)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": data})

    def _fetch(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection: http.client.HTTPConnection
        if self.https:
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout_s, context=self.context
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        connection.response_class = _SkipInformational
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", self.netloc)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _origin_of(url: str) -> tuple[str, str]:
    """Split a page URL into its origin and its path with query.

    Raises:
        BenchError: Not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BenchError(f"{url!r} is not an http(s) URL, e.g. https://127.0.0.1:8443/")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", path


def prepare_page(
    *,
    url: str | None = None,
    app: str | None = None,
    path: str = "/",
    manifest: str | None = None,
    cacert: str | None = None,
    insecure: bool = False,
    timeout_s: float = 30.0,
) -> PageUnderTest:
    """Load the user's application (or put a proxy in front of a URL) and find what to hint.

    What is hinted, pushed and linked: ``manifest`` when given; else what the application
    declares itself (a Flask app's ``H2Push`` manifest, Django's ``H2PUSH_MANIFEST``: the
    preload Link values of its answer to the page); else the resources found in the page
    (:func:`h2push._tools.discover.discover.read_page`, as ``h2push manifest`` finds them). A URL's
    page is
    served through a proxy to its origin (:class:`_Upstream`), its own preloads taken out.

    Args:
        url: The page's URL (http or https); or None with ``app``.
        app: ``module:attribute`` or ``module:factory()``
        (:func:`h2push._tools.serve.server.import_app`).
        path: The page's path under ``app``.
        manifest: A push manifest file to deliver instead.
        cacert: A CA file (PEM) to trust for an https ``url``.
        insecure: Do not verify an https ``url``'s certificate.
        timeout_s: Limit for one request to the application or the origin, in seconds.

    Raises:
        BenchError: The application cannot be loaded, the page cannot be read, or the
            manifest is invalid; one line each.
    """
    from h2push._tools.serve.server import AppLoadError, detect_interface, import_app  # noqa: PLC0415

    if (url is None) == (app is None):
        raise BenchError("give the page's URL or --app MODULE:APP, not both")
    target: object
    interface: Literal["asgi", "wsgi"]
    if url is not None:
        origin, path = _origin_of(url)
        context = ssl.create_default_context(cafile=cacert)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        target, interface = _Upstream(origin, context=context, timeout_s=timeout_s), "asgi"
        name = url
    else:
        assert app is not None
        if not path.startswith("/"):
            raise BenchError(f"--path {path!r} must start with /")
        try:
            target = import_app(app)
            interface = detect_interface(target)
        except AppLoadError as error:
            raise BenchError(str(error)) from None
        origin, name = DEFAULT_ORIGIN, f"{app} {path}"
    try:
        loaded = None if manifest is None else Manifest.load(manifest)
    except ManifestError as error:
        raise BenchError(str(error)) from None
    with AppSite(target, interface, origin=origin, timeout_s=timeout_s) as site:
        try:
            page = site.get(path, dest="document")
        except FetchError as error:
            raise BenchError(f"the page cannot be read: {error}") from None
        if not 200 <= page.status < 300:
            raise BenchError(f"the page answered {page.status}, not 2xx: give a page that loads")
        own = [] if url is not None else _preload_links(page.header("link") or "", origin)
        if loaded is not None:
            declared = f"the manifest {manifest}"
            urls = [p.url for p in loaded.preloads_for(path.split("?", 1)[0])]
        elif own:
            declared, urls = "the app's own declarations", [link.target for link in own]
        else:
            result = read_page(site, path, Stylesheets(site), DiscoverOptions(origin=origin))
            if result.failures:
                raise BenchError(
                    f"the page uses resources that cannot be read: {result.failures[0]}"
                )
            declared = "found in the page"
            found = [p for p in result.preloads if p.rel != "preconnect"]
            urls = [p.url for p in found]
            data = build_manifest({page_key(path): result.preloads}, multi=True)
            loaded = Manifest.from_dict(data, source="<found in the page>")
        sizes = {path: len(page.body)}
        for resource in urls:
            with contextlib.suppress(FetchError):
                response = site.get(resource, dest="empty")
                if 200 <= response.status < 300:
                    sizes[resource] = len(response.body)
    built = build_app(target, interface, manifest=loaded)
    return PageUnderTest(name=name, path=path, app=built, sizes=sizes, declared=declared)


def run_app_bench(
    page: PageUnderTest,
    options: PageBenchOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> PageBenchResult:
    """Load the user's page with every client, protocol and strategy asked for.

    As :func:`run_page_bench` does for the bench site; the physical limit takes the page's
    measured server time (median time to its response headers under ``nothing``) for the
    think time, and the bytes of the page and of the resources h2push hints.

    Raises:
        BenchError: A client's program is not installed, or a load failed twice.
    """
    timings: list[float] = []
    apps: dict[Strategy, ASGIApp] = {
        strategy: _Deliver(
            page.app,
            strategy,
            path=page.path,
            timings=timings if strategy == "nothing" else None,
        )
        for strategy in STRATEGIES
    }
    say = progress or (lambda _line: None)
    say(
        f"{page.name}: {sum(page.sizes.values())} bytes in {len(page.sizes)} files"
        f" (hinted: {page.declared}), rtt {options.rtt_ms:g} ms"
    )
    measured = _measure(
        options,
        lambda certfile, keyfile: BenchServer(
            page.app,
            apps=apps,
            certfile=certfile,
            keyfile=keyfile,
            rtt_ms=options.rtt_ms,
            bandwidth_mbit=options.bandwidth_mbit,
        ),
        page.path,
        say,
    )
    server_ms = float(statistics.median(timings)) if timings else 0.0
    limit = physical_limit_ms(
        rtt_ms=options.rtt_ms,
        think_ms=server_ms,
        total_bytes=sum(page.sizes.values()),
        bandwidth_mbit=options.bandwidth_mbit,
    )
    return replace(
        measured,
        sizes=dict(page.sizes),
        limit_ms=limit,
        page=page.name,
        server_ms=server_ms,
        subresources=None,
    )


# --------------------------------------------------------------------------- reporting


def _range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _early(case: CaseResult) -> str:
    pushed = [run.pushed for run in case.runs]
    hinted = [run.hinted for run in case.runs]
    parts = []
    if any(pushed):
        parts.append(f"{_range(pushed)} pushed")
    if any(hinted):
        parts.append(f"{_range(hinted)} hinted")
    return ", ".join(parts) or "-"


def format_table(result: PageBenchResult) -> str:
    """The results as a Markdown table (readable as plain text), with a heading line.

    Columns: client, protocol, strategy; median, min and max page-complete time (ms); the
    median over the physical limit; how many times faster than ``nothing`` the median is; the
    median time from the page's last byte to page complete ("after page", ms: where the time
    beyond the limit goes); the median first contentful paint (Chromium); subresources received
    (of the six the bench site's page uses); how many came early (pushed, or through the 103's
    cache fill). For the user's page the heading names it and its measured server time.
    """
    options = result.options
    bandwidth = (
        "no bandwidth cap"
        if options.bandwidth_mbit is None
        else f"{options.bandwidth_mbit:g} Mbit/s"
    )
    if result.page is None:
        think = f"think {options.think_ms:g} ms"
    else:
        think = f"server {result.server_ms or 0:.0f} ms (measured)"
    heading = (
        f"Page complete, ms: {result.page + ': ' if result.page else ''}rtt {options.rtt_ms:g}"
        f" ms, {think}, {bandwidth}, {options.runs} run(s) each; physical limit"
        f" {result.limit_ms:.0f} ms ({sum(result.sizes.values())} bytes)"
    )
    columns = (
        "| client | protocol | strategy | median | min | max | x limit | vs nothing"
        " | after page | FCP | resources | early |"
    )
    lines = [heading, "", columns, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for case in result.cases:
        speedup = result.speedup(case)
        fcp = case.fcp_median_ms
        resources = _range([run.resources for run in case.runs])
        lines.append(
            f"| {case.client} | {case.protocol} | {case.strategy} | {case.median_ms:.0f}"
            f" | {case.min_ms:.0f} | {case.max_ms:.0f} | {case.median_ms / result.limit_ms:.2f}"
            f" | {'-' if speedup is None else f'{speedup:.2f}'}"
            f" | {case.after_page_median_ms:.0f}"
            f" | {'-' if fcp is None else f'{fcp:.0f}'}"
            f" | {resources}{'' if result.subresources is None else f'/{result.subresources}'}"
            f" | {_early(case)} |"
        )
    lines.extend(f"skipped: {reason}" for reason in result.skipped)
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class TargetCheck:
    """One page-load target against what was measured.

    Attributes:
        case: The case it is about (``"chromium h2 hints"``).
        measure: ``"x limit"`` (median over the physical limit) or ``"vs nothing"``
            (nothing's median over this median).
        value: What was measured.
        bound: The target: at most this for ``x limit``, at least this for ``vs nothing``.
        met: Whether the value is on the right side of the bound.
        gap_ms: By how many ms of median page-complete time it was missed (0 when met).
    """

    case: str
    measure: Literal["x limit", "vs nothing"]
    value: float
    bound: float
    met: bool
    gap_ms: float

    def describe(self) -> str:
        """One line: the case, the value against the bound, met or missed and by how much."""
        relation = "<=" if self.measure == "x limit" else ">="
        verdict = "met" if self.met else f"MISSED by {self.gap_ms:.0f} ms"
        return (
            f"{self.case}: {self.value:.2f} {self.measure} (target {relation}"
            f" {self.bound:.2f}): {verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "case": self.case,
            "measure": self.measure,
            "value": round(self.value, 4),
            "bound": self.bound,
            "met": self.met,
            "gap_ms": round(self.gap_ms, 1),
        }


LIMIT_TARGET: Final = 1.10
"""Target: with 103 or push, page-complete at most this times the physical limit."""

SPEEDUP_TARGET: Final = 1.5
"""Target: with 103 or push, Chromium over HTTP/2 at least this times faster than nothing."""

# Which clients act on which mechanism: Chromium on 103 (it refuses push), nghttp on push (it
# ignores 103 and Link).
_APPLIES: Final[Mapping[Strategy, tuple[Client, ...]]] = {
    "hints": ("chromium",),
    "push": ("nghttp",),
    "push+103": ("chromium", "nghttp"),
}


def check_targets(result: PageBenchResult) -> list[TargetCheck]:
    """Check the page-load targets for every case they apply to.

    ``hints``, ``push`` and ``push+103`` over HTTP/2, for each client that acts on the mechanism
    (Chromium on the 103, nghttp on push): the median at most :data:`LIMIT_TARGET` times the
    physical limit; for Chromium also at least :data:`SPEEDUP_TARGET` times faster than
    ``nothing``.
    """
    checks = []
    for case in result.cases:
        if case.protocol != "h2" or case.client not in _APPLIES.get(case.strategy, ()):
            continue
        ratio = case.median_ms / result.limit_ms
        checks.append(
            TargetCheck(
                case=case.name,
                measure="x limit",
                value=ratio,
                bound=LIMIT_TARGET,
                met=ratio <= LIMIT_TARGET,
                gap_ms=max(case.median_ms - LIMIT_TARGET * result.limit_ms, 0.0),
            )
        )
        speedup = result.speedup(case)
        if case.client == "chromium" and speedup is not None:
            baseline = result.case(case.client, case.protocol, "nothing")
            assert baseline is not None
            checks.append(
                TargetCheck(
                    case=case.name,
                    measure="vs nothing",
                    value=speedup,
                    bound=SPEEDUP_TARGET,
                    met=speedup >= SPEEDUP_TARGET,
                    gap_ms=max(case.median_ms - baseline.median_ms / SPEEDUP_TARGET, 0.0),
                )
            )
    return checks


def format_comparison(result: PageBenchResult) -> str:
    """For each client and protocol, each strategy's median page-complete time over nothing's.

    The user's page's summary: below 1.00 h2push made the page faster, above it slower.
    """
    lines = ["Page complete with h2push / without (median over nothing's median):"]
    for case in result.cases:
        baseline = result.case(case.client, case.protocol, "nothing")
        if case.strategy == "nothing" or baseline is None or baseline.median_ms <= 0:
            continue
        ratio = case.median_ms / baseline.median_ms
        lines.append(
            f"  {case.name}: {ratio:.2f} x ({case.median_ms:.0f} ms against"
            f" {baseline.median_ms:.0f} ms; early: {_early(case)})"
        )
    if len(lines) == 1:
        lines.append("  run the strategy nothing and another to compare them")
    if result.case("chromium", "h2", "push") is not None:
        lines.append("  chromium refuses push (SETTINGS_ENABLE_PUSH=0): its push row measures Link")
    return "\n".join(lines)


def format_targets(result: PageBenchResult) -> str:
    """The target checks, one line each, after a heading; notes on cases they skip."""
    options = result.options
    lines = [
        (
            f"Targets (set for rtt 100 ms, think 200 ms; this run: rtt"
            f" {options.rtt_ms:g} ms, think {options.think_ms:g} ms):"
        )
    ]
    checks = check_targets(result)
    lines.extend(f"  {check.describe()}" for check in checks)
    if not checks:
        lines.append("  none apply to the cases run")
    if result.case("chromium", "h2", "push") is not None:
        lines.append(
            "  chromium h2 push: not a target (Chromium refuses push, SETTINGS_ENABLE_PUSH=0;"
            " the row measures the Link header)"
        )
    if result.case("nghttp", "h2", "hints") is not None:
        lines.append(
            "  nghttp h2 hints: not a target (nghttp does not act on 103 or Link; the row"
            " measures nothing)"
        )
    return "\n".join(lines)


_STRATEGY_COLOURS: Final[Mapping[Strategy, str]] = {
    "nothing": "#9aa0a6",
    "link": "#d68910",
    "hints": "#138d75",
    "push": "#8e44ad",
    "push+103": "#2e86c1",
}


def chart_svg(result: PageBenchResult) -> str:
    """A bar chart (SVG) of the median page-complete times, with min-max whiskers and the limit."""
    options = result.options
    bars = [
        ChartBar(
            label=case.strategy,
            median_ms=case.median_ms,
            min_ms=case.min_ms,
            max_ms=case.max_ms,
            colour=_STRATEGY_COLOURS[case.strategy],
            group=f"{case.client}, {case.protocol}",
        )
        for case in result.cases
    ]
    bandwidth = "" if options.bandwidth_mbit is None else f", {options.bandwidth_mbit:g} Mbit/s"
    return render_chart_svg(
        bars,
        title="h2push bench page: page-complete time by delivery strategy",
        subtitle=f"median of {options.runs} first visits (whiskers: min to max), ms;"
        f" rtt {options.rtt_ms:g} ms, think {options.think_ms:g} ms{bandwidth}",
        limit_ms=result.limit_ms,
    )


def _summary(result: PageBenchResult) -> str:
    return format_targets(result) if result.page is None else format_comparison(result)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def write_results(result: PageBenchResult, directory: Path) -> list[Path]:
    """Write ``page.json`` (everything), ``page.svg`` (the chart) and ``page.md`` (the tables).

    Returns:
        list[Path]: The files written.

    Raises:
        OSError: The directory cannot be created or written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "page.json": json.dumps(result.to_dict(), indent=2) + "\n",
        "page.svg": chart_svg(result),
        "page.md": format_table(result) + "\n\n" + _summary(result) + "\n",
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_waterfalls(result: PageBenchResult, directory: Path) -> list[Path]:
    """Write one waterfall SVG per case, of its median run.

    Files are named ``waterfall-CLIENT-PROTOCOL-STRATEGY.svg`` (``http1.1``, ``push-103``).

    Returns:
        list[Path]: The files written.

    Raises:
        OSError: The directory cannot be created or written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for case in result.cases:
        path = directory / (
            f"waterfall-{case.client}-{_slug(case.protocol.replace('/', ''))}"
            f"-{_slug(case.strategy)}.svg"
        )
        path.write_text(render_waterfall_svg(case.median_run().waterfall), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- command

_DIR = click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path)


class _BenchGroup(click.Group):
    """``bench page`` and ``bench --waterfall DIR`` as before; anything else is your own page.

    ``h2push bench URL`` and ``h2push bench --app MODULE:APP ...`` go to the hidden ``url``
    command, as if it had been named.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = {"--waterfall", "--help", "-h"}
        if args and args[0] not in self.commands and args[0] not in own:
            args = ["url", *args]
        return super().parse_args(ctx, args)


@click.group("bench", cls=_BenchGroup, invoke_without_command=True)
@click.option(
    "--waterfall",
    "waterfall_dir",
    type=_DIR,
    help="Run the page benchmark with its defaults and write a waterfall SVG per case here.",
)
@click.pass_context
def bench_command(ctx: click.Context, waterfall_dir: Path | None) -> None:
    """Page-load time of each delivery strategy under an emulated network.

    \b
    h2push bench URL                  your own page, served by a proxy that applies each strategy
    h2push bench --app MODULE:APP     your own app, in process (module:create_app() too)
    h2push bench page                 the bench site (see its --help)
    h2push bench --waterfall DIR      the bench site with its defaults, a waterfall per case

    For your own page see `h2push bench URL --help`.
    """  # noqa: D301 - click's \b keeps the lines as they are
    ctx.ensure_object(dict)["waterfall_dir"] = waterfall_dir
    if ctx.invoked_subcommand is None:
        if waterfall_dir is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(page_command, waterfall_dir=waterfall_dir)


@bench_command.command("page")
@click.option(
    "--rtt-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Round trip emulated between the clients and the server, in ms.",
)
@click.option(
    "--think-ms",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="How long the page's view thinks before it answers, in ms.",
)
@click.option(
    "--bandwidth-mbit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cap each direction of the emulated link at this rate, in Mbit/s (default: none).",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="First visits measured per client, protocol and strategy.",
)
@click.option(
    "--strategy",
    "strategies",
    type=click.Choice(STRATEGIES),
    multiple=True,
    help="Only this strategy (repeatable; default: all).",
)
@click.option(
    "--client",
    "clients",
    type=click.Choice(CLIENTS),
    multiple=True,
    help="Only this client (repeatable; default: every installed one).",
)
@click.option(
    "--protocol",
    "protocols",
    type=click.Choice(PROTOCOLS),
    multiple=True,
    help="Only this protocol (repeatable; default: both).",
)
@click.option("--out", "out_dir", type=_DIR, help="Write page.json, page.svg and page.md here.")
@click.option(
    "--waterfall", "waterfall_dir", type=_DIR, help="Write a waterfall SVG per case here."
)
@click.pass_context
def page_command(
    ctx: click.Context,
    *,
    rtt_ms: float,
    think_ms: float,
    bandwidth_mbit: float | None,
    runs: int,
    strategies: tuple[Strategy, ...],
    clients: tuple[Client, ...],
    protocols: tuple[Protocol, ...],
    out_dir: Path | None,
    waterfall_dir: Path | None,
) -> None:
    """Load a benchmark page with every delivery strategy, client and protocol; print a table.

    The page (HTML that thinks --think-ms; a stylesheet pulling a web font and a background
    image; a script; a module importing another) is served by Hypercorn with H2PushMiddleware
    set up per strategy (nothing, link, hints, push, push+103), behind a relay that emulates
    --rtt-ms (and --bandwidth-mbit) on loopback. nghttp -a and headless Chromium load it, each
    run a first visit. Progress goes to stderr; the table and the target checks to stdout.
    """
    parent = ctx.find_object(dict) or {}
    waterfall_dir = waterfall_dir or parent.get("waterfall_dir")
    chosen = clients
    if not chosen:
        installed = {"nghttp": shutil.which("nghttp") is not None, "chromium": find_chromium()}
        chosen = tuple(client for client in CLIENTS if installed[client])
        for client in CLIENTS:
            if not installed[client]:
                click.echo(f"h2push bench: {client} is not installed; skipping it", err=True)
        if not chosen:
            raise click.ClickException("neither nghttp nor Chromium is installed")
    options = PageBenchOptions(
        rtt_ms=rtt_ms,
        think_ms=think_ms,
        bandwidth_mbit=bandwidth_mbit,
        runs=runs,
        strategies=strategies or STRATEGIES,
        clients=chosen,
        protocols=protocols or PROTOCOLS,
    )
    started = time.perf_counter()
    try:
        result = run_page_bench(options, progress=lambda line: click.echo(line, err=True))
    except (BenchError, BrowserError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_table(result))
    click.echo("")
    click.echo(format_targets(result))
    written: list[Path] = []
    if out_dir is not None:
        written += write_results(result, out_dir)
    if waterfall_dir is not None:
        written += write_waterfalls(result, waterfall_dir)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    click.echo(f"h2push bench page: {time.perf_counter() - started:.0f} s", err=True)
    sys.stdout.flush()


@bench_command.command("url", hidden=True)
@click.argument("url", required=False)
@click.option(
    "--app",
    "app_spec",
    metavar="MODULE:APP",
    help="Load this WSGI or ASGI app in process instead of a URL (module:create_app() too).",
)
@click.option(
    "--path",
    default="/",
    show_default=True,
    help="The page's path under --app (with its query string).",
)
@click.option(
    "--manifest",
    "-m",
    type=click.Path(dir_okay=False, exists=True),
    help="Deliver this push_manifest.json (default: the app's own, else what the page uses).",
)
@click.option(
    "--rtt-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=PAGE_RTT_MS,
    show_default=True,
    help="Round trip emulated between the clients and the server, in ms.",
)
@click.option(
    "--bandwidth-mbit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cap each direction of the emulated link at this rate, in Mbit/s (default: none).",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=PAGE_RUNS,
    show_default=True,
    help="First visits measured per client, protocol and strategy.",
)
@click.option(
    "--strategy",
    "strategies",
    type=click.Choice(STRATEGIES),
    multiple=True,
    help="Only this strategy (repeatable; default: all).",
)
@click.option(
    "--client",
    "clients",
    type=click.Choice(CLIENTS),
    multiple=True,
    help="Only this client (repeatable; default: every installed one).",
)
@click.option(
    "--protocol",
    "protocols",
    type=click.Choice(PROTOCOLS),
    multiple=True,
    help="Only this protocol (repeatable; default: both).",
)
@click.option("--cacert", type=click.Path(dir_okay=False, exists=True), help="Trust this CA (PEM).")
@click.option("--insecure", "-k", is_flag=True, help="Do not verify the URL's certificate.")
@click.option("--out", "out_dir", type=_DIR, help="Write page.json, page.svg and page.md here.")
@click.option(
    "--waterfall", "waterfall_dir", type=_DIR, help="Write a waterfall SVG per case here."
)
@click.pass_context
def url_command(
    ctx: click.Context,
    *,
    url: str | None,
    app_spec: str | None,
    path: str,
    manifest: str | None,
    rtt_ms: float,
    bandwidth_mbit: float | None,
    runs: int,
    strategies: tuple[Strategy, ...],
    clients: tuple[Client, ...],
    protocols: tuple[Protocol, ...],
    cacert: str | None,
    insecure: bool,
    out_dir: Path | None,
    waterfall_dir: Path | None,
) -> None:
    """Benchmark your own page: h2push bench URL, or h2push bench --app MODULE:APP [--path P].

    The page is served by Hypercorn over TLS with h2push as `h2push serve` sets it up, once per
    strategy: nothing (no 103, no push, no preload Link), link (the Link header only), hints
    (103 Early Hints), push (HTTP/2 push), push+103. What is hinted: --manifest, else what the
    app declares itself (H2Push, H2PUSH_MANIFEST), else the stylesheets, fonts, scripts and
    images found in the page. A URL is fetched from its server through a proxy (over
    HTTP/1.1), whose own preloads are taken out; give a server on this machine, as the
    emulated --rtt-ms lies between the clients and the proxy.

    nghttp -a and headless Chromium load the page behind an emulated --rtt-ms, each run a first
    visit (new connection, empty cache, no cookies). Printed: the table of `h2push bench page`,
    then each strategy's median over nothing's. Progress goes to stderr.
    """
    if (url is None) == (app_spec is None):
        raise click.UsageError("give the page's URL or --app MODULE:APP (not both)")
    if url is not None and path != "/":
        raise click.UsageError("--path is for --app; put the path in the URL")
    if app_spec is not None and (cacert is not None or insecure):
        raise click.UsageError("--cacert and --insecure are for a URL")
    parent = ctx.find_object(dict) or {}
    waterfall_dir = waterfall_dir or parent.get("waterfall_dir")
    options = PageBenchOptions(
        rtt_ms=rtt_ms,
        think_ms=0.0,
        bandwidth_mbit=bandwidth_mbit,
        runs=runs,
        strategies=strategies or STRATEGIES,
        clients=_installed_clients(clients),
        protocols=protocols or PROTOCOLS,
    )
    started = time.perf_counter()
    try:
        page = prepare_page(
            url=url,
            app=app_spec,
            path=path,
            manifest=manifest,
            cacert=cacert,
            insecure=insecure,
        )
        result = run_app_bench(page, options, progress=lambda line: click.echo(line, err=True))
    except (BenchError, BrowserError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_table(result))
    click.echo("")
    click.echo(format_comparison(result))
    _write_outputs(result, out_dir, waterfall_dir)
    click.echo(f"h2push bench: {time.perf_counter() - started:.0f} s", err=True)
    sys.stdout.flush()


def _installed_clients(clients: tuple[Client, ...]) -> tuple[Client, ...]:
    """The clients asked for, else every installed one (saying which are missing).

    Raises:
        click.ClickException: Neither client is installed.
    """
    if clients:
        return clients
    installed = {"nghttp": shutil.which("nghttp") is not None, "chromium": find_chromium()}
    for client in CLIENTS:
        if not installed[client]:
            click.echo(f"h2push bench: {client} is not installed; skipping it", err=True)
    chosen = tuple(client for client in CLIENTS if installed[client])
    if not chosen:
        raise click.ClickException("neither nghttp nor Chromium is installed")
    return chosen


def _write_outputs(
    result: PageBenchResult, out_dir: Path | None, waterfall_dir: Path | None
) -> None:
    written: list[Path] = []
    if out_dir is not None:
        written += write_results(result, out_dir)
    if waterfall_dir is not None:
        written += write_waterfalls(result, waterfall_dir)
    for path in written:
        click.echo(f"wrote {path}", err=True)
