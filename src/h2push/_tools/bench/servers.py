"""The server under test: Hypercorn over TLS with the middleware set per strategy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, cast

from hypercorn.config import Config

from h2push._delivery.asgi_types import ASGIApp, Receive, Scope, Send
from h2push._tools._common import free_port
from h2push._tools.bench.results import (
    _MIDDLEWARE,
    _START_TIMEOUT_S,
    _STOP_TIMEOUT_S,
    STRATEGIES,
    Protocol,
    Strategy,
)
from h2push._tools.bench.site import BenchSite
from h2push._tools.serve.netem import LatencyRelay
from h2push._tools.serve.server import apply_hypercorn_fixes, build_app

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
        apply_hypercorn_fixes()  # the bench's own server, as h2push serve's
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
            config.bind = [f"127.0.0.1:{free_port()}"]
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
