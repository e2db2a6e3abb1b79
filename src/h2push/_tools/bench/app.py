"""``h2push bench page --app`` and ``bench url``: benchmark your own page, not the built-in site."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import ssl
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal
from urllib.parse import urlsplit

from h2push._core.links import LinkValue, parse_link_header
from h2push._core.manifest import Manifest, ManifestError
from h2push._delivery.asgi_types import ASGIApp, Message, Receive, Scope, Send
from h2push._tools._common import http_or_lifespan
from h2push._tools.bench.clients import _measure
from h2push._tools.bench.results import (
    _MIDDLEWARE,
    STRATEGIES,
    BenchError,
    PageBenchOptions,
    PageBenchResult,
    Strategy,
    physical_limit_ms,
)
from h2push._tools.bench.servers import BenchServer
from h2push._tools.discover.collect import build_manifest, page_key
from h2push._tools.discover.models import DEFAULT_ORIGIN, DiscoverOptions, FetchError
from h2push._tools.discover.sites import AppSite, Stylesheets, read_page
from h2push._tools.serve.server import build_app

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
            ``the manifest FILE`` or ``found in the page`` (:mod:`h2push._tools.discover`).
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
        if not await http_or_lifespan(scope, receive, send):
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
    cacert: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    timeout_s: float = 30.0,
) -> PageUnderTest:
    """Load the user's application (or put a proxy in front of a URL) and find what to hint.

    What is hinted, pushed and linked: ``manifest`` when given; else what the application
    declares itself (a Flask app's ``H2Push`` manifest, Django's ``H2PUSH_MANIFEST``: the
    preload Link values of its answer to the page); else the resources found in the page
    (:func:`h2push._tools.discover.sites.read_page`, as ``h2push manifest`` finds them). A URL's
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
