"""pytest helpers: serve an app over HTTP/2 with TLS, load a page, assert what arrived early.

For your own test suite. :func:`serve` runs any WSGI or ASGI application (Flask, Quart,
Starlette, FastAPI, Django) the way ``h2push serve`` does — wrapped by
:func:`h2push._tools.serve.server.build_app`, on Hypercorn, over TLS with ALPN ``h2`` and
``http/1.1`` —
in a background thread, on a free loopback port, with a throwaway certificate authority made by
``trustme``. :func:`fetch` loads one URL over HTTP/2 with :func:`h2push._tools.trace.session.trace`
and
returns what came back: the ``103 Early Hints`` links (RFC 8297), the pushed paths (RFC 9113
§8.4), the final status and headers. The ``assert_*`` helpers fail with a message that shows
what did arrive.

Enable the fixture in your ``conftest.py``::

    pytest_plugins = ["h2push.testing"]

and write tests like this one::

    from h2push.testing import assert_hinted, assert_linked, assert_pushed

    from myapp import app


    def test_home_page_sends_its_css_early(h2push_serve):
        server = h2push_serve(app)
        result = server.fetch("/")
        assert result.status == 200
        assert_hinted(result, ["/static/app.css", "/static/app.js"])
        assert_pushed(result, ["/static/app.css"])
        assert_linked(result, ["/static/app.css"])

Without the fixture, :func:`serve` is a context manager::

    with serve(app) as server:
        result = fetch(server.url("/"), cacert=server.ca_file)

``fetch`` asks like a browser navigation (an ``Accept`` naming ``text/html``) unless told
``navigation=False``: h2push hints and pushes a single-page manifest for navigations only.

The helpers raise :class:`AssertionError` with their own messages and need no assertion
rewriting (PYTEST_DONT_REWRITE), so a test module may import them before pytest loads this
module as a plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from h2push._extras import missing

try:
    import pytest
    import trustme
except ModuleNotFoundError as error:  # pragma: no cover - depends on the installation
    raise missing(error, "testing", "h2push.testing") from error

from h2push._core.links import parse_link_header
from h2push._core.manifest import Manifest
from h2push._tools.serve.devcert import spki_sha256_base64
from h2push._tools.serve.netem import LatencyRelay
from h2push._tools.trace.models import DEFAULT_ACCEPT, Trace
from h2push._tools.trace.session import trace

__all__ = [
    "Result",
    "ServeFactory",
    "Served",
    "assert_hinted",
    "assert_linked",
    "assert_pushed",
    "fetch",
    "h2push_serve",
    "serve",
]

STARTUP_TIMEOUT_S: Final = 15.0
"""How long :func:`serve` waits for the server to complete a TLS handshake, in seconds."""

STOP_TIMEOUT_S: Final = 10.0
"""How long :func:`serve` waits for the server thread to end, in seconds."""

_ALPN: Final = ["h2", "http/1.1"]


@dataclass(frozen=True, kw_only=True)
class Result:
    """What one :func:`fetch` received.

    Attributes:
        status: The final response's status (int), or None when none arrived.
        headers: The final response's header fields as ``(name, value)`` str pairs, names in
            lower case, ``:status`` included.
        early_hint_links: The Link values of the first ``103 Early Hints`` (str, one per
            link, e.g. ``"</app.css>; rel=preload; as=style"``): browsers act on the first 103
            only. Empty when no 103 arrived.
        early_hint_count: How many 103 responses arrived (int).
        pushed_paths: The ``:path`` of each PUSH_PROMISE, in promise order (str).
        pushed_statuses: The final status of each pushed response, by path.
        trace: The whole frame trace (:class:`h2push._tools.trace.models.Trace`), for anything else.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...]
    early_hint_links: tuple[str, ...]
    early_hint_count: int
    pushed_paths: tuple[str, ...]
    pushed_statuses: dict[str, int | None]
    trace: Trace

    def header(self, name: str) -> str | None:
        """The final response's field ``name`` (case-insensitive); repeated ones joined by ", "."""
        name = name.lower()
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    @property
    def link_header(self) -> str | None:
        """The final response's Link field value (str), or None."""
        return self.header("link")

    @property
    def hinted_paths(self) -> tuple[str, ...]:
        """The targets of :attr:`early_hint_links`, in order (``"/app.css"``)."""
        return _targets(", ".join(self.early_hint_links))

    @property
    def linked_paths(self) -> tuple[str, ...]:
        """The targets of the final response's Link header, in order."""
        return _targets(self.link_header)


def _targets(link_header: str | None) -> tuple[str, ...]:
    if not link_header:
        return ()
    return tuple(value.target for value in parse_link_header(link_header))


def fetch(
    url: str,
    *,
    cacert: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    navigation: bool = True,
    push: bool = True,
    headers: Sequence[tuple[str, str]] = (),
    timeout_s: float = 10.0,
) -> Result:
    """GET ``url`` over HTTP/2 and return the 103 links, pushed paths, status and headers.

    Built on :func:`h2push._tools.trace.session.trace`: one TLS connection with ALPN ``h2``, one
    request, and
    a wait until the response and every pushed response have ended.

    Args:
        url: An ``https://`` URL.
        cacert: A PEM file of the CA to trust (:attr:`Served.ca_file`); the system's when None.
        insecure: Verify no certificate at all.
        navigation: Ask as a browser navigation does (``Accept`` naming ``text/html``);
            False sends ``Accept: */*``, as a subresource fetch would.
        push: Accept server push (``SETTINGS_ENABLE_PUSH``, RFC 9113 §6.5.2).
        headers: More request fields as ``(name, value)``; an ``accept`` here wins.
        timeout_s: Seconds for everything: connect, handshake and every response.

    Returns:
        The :class:`Result`.

    Raises:
        h2push._tools.trace.models.TraceError: The connection, TLS, or HTTP/2 failed, or time ran
        out.
        ValueError: ``url`` is not ``https://`` or a header is invalid.
    """
    accept = DEFAULT_ACCEPT if navigation else "*/*"
    traced = trace(
        url,
        insecure=insecure,
        cacert=None if cacert is None else Path(cacert),
        enable_push=push,
        headers=[("accept", accept), *headers],
        timeout_s=timeout_s,
    )
    first = traced.early_hints[0].links if traced.early_hints else ()
    return Result(
        status=traced.main.status,
        headers=tuple((name.lower(), value) for name, value in traced.main.headers),
        early_hint_links=tuple(first),
        early_hint_count=len(traced.early_hints),
        pushed_paths=tuple(pushed.path for pushed in traced.pushes),
        pushed_statuses={pushed.path: pushed.status for pushed in traced.pushes},
        trace=traced,
    )


# --------------------------------------------------------------------------- assertions


def _describe(result: Result) -> str:
    return (
        f"\n  status:  {result.status}"
        f"\n  103:     {list(result.early_hint_links)}"
        f"\n  pushed:  {list(result.pushed_paths)}"
        f"\n  Link:    {result.link_header}"
    )


def _check(
    what: str, got: Sequence[str], expected: Iterable[str], *, exact: bool, result: Result
) -> None:
    wanted = list(expected)
    missing = [path for path in wanted if path not in got]
    extra = [path for path in got if path not in wanted] if exact else []
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"not {what}: {missing}")
        if extra:
            parts.append(f"{what} but not expected: {extra}")
        raise AssertionError("; ".join(parts) + _describe(result))


def assert_hinted(result: Result, paths: Iterable[str], *, exact: bool = False) -> None:
    """Assert that the first 103 Early Hints named each of ``paths`` (e.g. ``"/app.css"``).

    Args:
        result: What :func:`fetch` returned.
        paths: Link targets, as the manifest or ``push()`` wrote them.
        exact: Also fail when the 103 named anything else (``exact=True`` with no paths: no 103
            links at all).

    Raises:
        AssertionError: Naming what is missing or extra, and what did arrive.
    """
    _check("hinted", result.hinted_paths, paths, exact=exact, result=result)


def assert_pushed(result: Result, paths: Iterable[str], *, exact: bool = False) -> None:
    """Assert that the server pushed each of ``paths`` and each pushed response succeeded.

    Args:
        result: What :func:`fetch` returned.
        paths: The ``:path`` values expected in PUSH_PROMISE frames.
        exact: Also fail when anything else was pushed (``exact=True`` with no paths: no push).

    Raises:
        AssertionError: Naming what is missing or extra, a pushed response that did not end
            with a 2xx status, and what did arrive.
    """
    wanted = list(paths)
    _check("pushed", result.pushed_paths, wanted, exact=exact, result=result)
    failed = {
        path: status
        for path, status in result.pushed_statuses.items()
        if path in wanted and not (status is not None and 200 <= status < 300)
    }
    if failed:
        raise AssertionError(f"pushed responses without a 2xx status: {failed}" + _describe(result))


def assert_linked(result: Result, paths: Iterable[str], *, exact: bool = False) -> None:
    """Assert that the final response's Link header names each of ``paths``.

    Args:
        result: What :func:`fetch` returned.
        paths: Link targets.
        exact: Also fail when the Link header names anything else.

    Raises:
        AssertionError: Naming what is missing or extra, and what did arrive.
    """
    _check("linked", result.linked_paths, paths, exact=exact, result=result)


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True, kw_only=True)
class Served:
    """An application :func:`serve` is serving.

    Attributes:
        base_url: ``https://127.0.0.1:PORT``, without a trailing slash.
        port: The TCP port clients connect to (the relay's with ``rtt_ms``).
        ca_file: PEM file of the throwaway CA that issued the server's certificate: give it
            to clients (``fetch(..., cacert=)``, ``curl --cacert``, ``nghttp`` has ``-k``).
        cert_file: PEM file of the server's certificate chain.
        spki: The base64 SHA-256 of the certificate's public key, for Chromium's
            ``--ignore-certificate-errors-spki-list`` (:class:`h2push._tools.browser.Chromium`'s
            ``spki=``): Chromium acts on 103 responses only for a trusted certificate.
    """

    base_url: str
    port: int
    ca_file: Path
    cert_file: Path
    spki: str

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` (str starting with ``/``) on this server."""
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with /")
        return self.base_url + path

    def fetch(self, path: str = "/", **options: Any) -> Result:
        """:func:`fetch` ``path`` from this server, trusting its CA; ``options`` as there."""
        options.setdefault("cacert", self.ca_file)
        return fetch(self.url(path), **options)


def _issue_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a leaf for 127.0.0.1 and localhost; return CA, chain, key."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    return ca_file, cert_file, key_file


def _wait_until_serving(
    port: int, ca_file: Path, thread: threading.Thread, timeout_s: float
) -> None:
    """Return once a TLS handshake with the server succeeds.

    Raises:
        RuntimeError: The server thread ended first.
        TimeoutError: No handshake within ``timeout_s``.
    """
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(_ALPN)
    deadline = time.monotonic() + timeout_s
    while True:
        if not thread.is_alive():
            raise RuntimeError("the server thread ended before it served (see the log above)")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the server did not complete a TLS handshake in {timeout_s} s")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=min(remaining, 2.0)) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except (OSError, ssl.SSLError):
            time.sleep(0.05)


@contextlib.contextmanager
def serve(
    app: object,
    *,
    manifest: Manifest | str | os.PathLike[str] | None = None,
    push: bool = True,
    early_hints: bool = True,
    rtt_ms: float = 0.0,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> Iterator[Served]:
    """Serve ``app`` as ``h2push serve`` would, over TLS on a free loopback port; a context manager.

    The application is wrapped by :func:`h2push._tools.serve.server.build_app` (an ASGI app in
    :class:`h2push.asgi.H2PushMiddleware`; a WSGI app through ``a2wsgi`` first, with a Flask
    app's ``H2Push`` and ``@http2push`` declarations planned before the view runs) and served by
    Hypercorn in a background thread with its own event loop. HTTP/2 (ALPN ``h2``) and HTTP/1.1
    are offered; the certificate comes from a throwaway ``trustme`` CA written to a temporary
    directory that is deleted on exit.

    Args:
        app: A WSGI or ASGI application object.
        manifest: A ``push_manifest.json`` path or :class:`~h2push.Manifest` applied
            to every request, as ``h2push serve --manifest``; None for none.
        push: Send HTTP/2 server push.
        early_hints: Send 103 Early Hints.
        rtt_ms: Put a :class:`h2push._tools.serve.netem.LatencyRelay` with this round trip
        (milliseconds)
            in front of the server; 0 for none. Chromium on the same machine needs one (20 ms
            is enough) to act on a 103 reliably: over a bare loopback it can drop a 103 that
            arrives before it has finished sending its request.
        startup_timeout_s: How long to wait for the server to serve, in seconds.

    Yields:
        The :class:`Served` server.

    Raises:
        h2push._tools.serve.server.AppLoadError: ``app`` is neither a WSGI nor an ASGI application.
        h2push.ManifestError: ``manifest`` is missing or invalid.
        RuntimeError: The server stopped before it served.
        TimeoutError: It did not serve within ``startup_timeout_s``.
    """
    from hypercorn.asyncio import serve as hypercorn_serve  # noqa: PLC0415
    from hypercorn.config import Config  # noqa: PLC0415

    from h2push._tools.serve.server import build_app, detect_interface  # noqa: PLC0415

    loaded = (
        manifest if isinstance(manifest, Manifest) or manifest is None else Manifest.load(manifest)
    )
    wrapped = build_app(
        app, detect_interface(app), manifest=loaded, push=push, early_hints=early_hints
    )

    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="h2push-test-")))
        ca_file, cert_file, key_file = _issue_certificate(directory)
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        server_port = int(listener.getsockname()[1])

        config = Config()
        # Hypercorn takes ownership of (and closes) a duplicate of the listening socket.
        config.bind = [f"fd://{os.dup(listener.fileno())}"]
        config.certfile = str(cert_file)
        config.keyfile = str(key_file)
        config.alpn_protocols = list(_ALPN)
        config.accesslog = None
        config.loglevel = "WARNING"
        config.graceful_timeout = 1.0

        loop = asyncio.new_event_loop()
        stopping = asyncio.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(
                    hypercorn_serve(
                        wrapped,  # type: ignore[arg-type]
                        config,
                        shutdown_trigger=stopping.wait,
                        mode="asgi",
                    )
                )
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=f"h2push-serve-{server_port}", daemon=True)
        thread.start()

        def stop() -> None:
            if not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(stopping.set)
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive():
                raise TimeoutError(f"the server thread did not stop within {STOP_TIMEOUT_S} s")

        stack.callback(stop)
        _wait_until_serving(server_port, ca_file, thread, startup_timeout_s)

        port = server_port
        if rtt_ms > 0:
            relay = LatencyRelay(server_port, rtt_ms=rtt_ms).start_in_thread()
            stack.callback(relay.stop)
            port = relay.port
        yield Served(
            base_url=f"https://127.0.0.1:{port}",
            port=port,
            ca_file=ca_file,
            cert_file=cert_file,
            spki=spki_sha256_base64(cert_file.read_bytes()),
        )


# --------------------------------------------------------------------------- pytest


ServeFactory = Callable[..., Served]
"""``h2push_serve(app, **options) -> Served``: :func:`serve`'s arguments, stopped at teardown."""


@pytest.fixture
def h2push_serve() -> Iterator[ServeFactory]:
    """A fixture: serve apps over HTTP/2 with TLS for one test.

    ``server = h2push_serve(app, **options)`` starts one; ``options`` are :func:`serve`'s.
    Every server the test started is stopped at teardown.
    """
    with contextlib.ExitStack() as stack:

        def start(app: object, **options: Any) -> Served:
            return stack.enter_context(serve(app, **options))

        yield start
