"""The I/O of discovery: a site root's files, or pages rendered by an app in this process."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol
from urllib.parse import unquote, urlsplit

from h2push._core.manifest import read_regular_file
from h2push._tools.discover.collect import discover_page
from h2push._tools.discover.css import scan_css
from h2push._tools.discover.html import _mime_essence, decode_html
from h2push._tools.discover.models import (
    _MAX_FILE_BYTES,
    DEFAULT_ORIGIN,
    CssScan,
    DiscoverOptions,
    FetchError,
    PageResult,
)

# --------------------------------------------------------------------------- sites (I/O)


class Site(Protocol):
    """Where pages and stylesheets are read from."""

    origin: str

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """Return the body (bytes) and charset (or None) of a same-origin path.

        Args:
            path: An absolute path with optional query, e.g. ``/static/app.css?v=2``.
            dest: ``document`` for a page, ``style`` for a stylesheet.

        Raises:
            FetchError: It cannot be read (one line, naming it).
        """

    def check(self, path: str) -> str | None:
        """Return why a resource path is unavailable (``missing``, ``404``...), else None."""


class FileSite:
    """A static site in a directory served at ``/``: ``/css/a.css`` is ``ROOT/css/a.css``.

    Args:
        root: The site root directory.
        origin: The origin the site is served from (see :class:`DiscoverOptions`).
    """

    def __init__(self, root: Path, *, origin: str = DEFAULT_ORIGIN) -> None:
        self.root = root.resolve()
        self.origin = origin

    def file(self, path: str) -> Path | None:
        """The file a URL path names, or None when it leaves the root.

        A path ending in ``/`` names its ``index.html``; the query is ignored.
        """
        name = unquote(path.split("?", 1)[0])
        if name.endswith("/"):
            name += "index.html"
        candidate = (self.root / name.lstrip("/")).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            return None
        return candidate

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """See :meth:`Site.read`; ``dest`` is not used."""
        file = self.file(path)
        if file is None:
            raise FetchError(f"{path}: outside the site root {self.root}")
        try:
            # A regular file only: a FIFO would hang the read, /dev/zero never end it.
            return read_regular_file(file, _MAX_FILE_BYTES), None
        except OSError as error:
            raise FetchError(f"{path}: cannot read {file}: {error.strerror or error}") from None

    def check(self, path: str) -> str | None:
        """See :meth:`Site.check`."""
        file = self.file(path)
        if file is None:
            return "outside the site root"
        return None if file.is_file() else f"no file {file}"


@dataclass(frozen=True)
class _Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


# What Chromium sends as Accept for a navigation, a stylesheet, and anything else.
_ACCEPT: Final = {
    "document": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "style": "text/css,*/*;q=0.1",
}


class AppSite:
    """A WSGI (PEP 3333) or ASGI 3 application, called in this process: no server, no network.

    Each request is a ``GET`` with the scheme and ``Host`` of ``origin``, as a browser would
    send it (``Accept``, ``Sec-Fetch-Dest``, ``Sec-Fetch-Mode``). An ASGI application gets the
    lifespan protocol (startup before the first request, shutdown on :meth:`close`) when it
    supports it. Use it as a context manager.

    Args:
        app: The application.
        interface: ``wsgi`` or ``asgi``.
        origin: The origin requests are made to (see :class:`DiscoverOptions`).
        timeout_s: Limit for one ASGI request, and for lifespan startup and shutdown, in
            seconds (a WSGI call is synchronous and cannot be interrupted).
    """

    def __init__(
        self,
        app: Any,
        interface: Literal["wsgi", "asgi"],
        *,
        origin: str = DEFAULT_ORIGIN,
        timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.interface = interface
        self.origin = origin
        self.timeout_s = timeout_s
        parts = urlsplit(origin)
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifespan: _Lifespan | None = None
        self._startup_error: FetchError | None = None

    def __enter__(self) -> AppSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut an ASGI application's lifespan down and close the event loop; idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._lifespan is not None:
                loop.run_until_complete(self._lifespan.shutdown(self.timeout_s))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            self._lifespan = None
            loop.close()

    def get(self, path: str, *, dest: str) -> _Response:
        """Send one ``GET`` to the application.

        Raises:
            FetchError: The application raised, sent no response, or took too long.
        """
        target, _, query = path.partition("?")
        headers = {
            "accept": _ACCEPT.get(dest, "*/*"),
            "sec-fetch-dest": dest,
            "sec-fetch-mode": "navigate" if dest == "document" else "no-cors",
            "sec-fetch-site": "none" if dest == "document" else "same-origin",
            "user-agent": "h2push-manifest",
        }
        try:
            if self.interface == "wsgi":
                return self._wsgi(unquote(target), query, headers)
            return self._asgi(target, query, headers)
        except FetchError:
            raise
        except Exception as error:  # the application's failure is a warning
            raise FetchError(
                f"GET {path}: the application raised {type(error).__name__}: {error}"
            ) from None

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """See :meth:`Site.read`: a 2xx response with the right ``Content-Type``."""
        response = self.get(path, dest=dest)
        if 300 <= response.status < 400:
            location = response.header("location") or "?"
            raise FetchError(f"GET {path}: {response.status} redirect to {location}")
        if response.status >= 400 or response.status < 200:
            raise FetchError(f"GET {path}: {response.status}")
        content_type = response.header("content-type")
        essence = _mime_essence(content_type)
        wanted = {"document": ("text/html", "application/xhtml+xml"), "style": ("text/css",)}
        if essence and dest in wanted and essence not in wanted[dest]:
            raise FetchError(f"GET {path}: Content-Type {essence}, not {' or '.join(wanted[dest])}")
        return response.body, _charset(content_type)

    def check(self, path: str) -> str | None:
        """See :meth:`Site.check`: the status when it is not 2xx, or why the request failed."""
        try:
            response = self.get(path, dest="empty")
        except FetchError as error:
            return str(error)
        if 200 <= response.status < 300:
            return None
        return f"GET returned {response.status}"

    # -- WSGI ---------------------------------------------------------------------------------

    def _wsgi(self, path: str, query: str, headers: Mapping[str, str]) -> _Response:
        errors = io.StringIO()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self._host,
            "SERVER_PORT": str(self._port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self._netloc,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self._scheme,
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": errors,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        started: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            started.append((status, response_headers))
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise FetchError(f"GET {path}: the application did not start a response")
        status, response_headers = started[-1]
        code = int(status.split(None, 1)[0])
        if code >= 500:
            logged = [line for line in errors.getvalue().splitlines() if line.strip()]
            if logged:
                raise FetchError(f"GET {path}: {code}: {logged[-1].strip()}")
        return _Response(code, tuple(response_headers), b"".join(chunks))

    # -- ASGI ---------------------------------------------------------------------------------

    def _run(self, call: Callable[[], Awaitable[_Response]]) -> _Response:
        """Run one request on this site's event loop, starting the lifespan first."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._lifespan = _Lifespan(self.app)
            try:
                self._loop.run_until_complete(self._lifespan.startup(self.timeout_s))
            except FetchError as error:
                self._startup_error = error
        if self._startup_error is not None:
            raise self._startup_error
        return self._loop.run_until_complete(call())

    def _asgi(self, path: str, query: str, headers: Mapping[str, str]) -> _Response:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": self._scheme,
            "path": unquote(path),
            "raw_path": path.encode("ascii", "replace"),
            "query_string": query.encode("ascii", "replace"),
            "root_path": "",
            "headers": [(b"host", self._netloc.encode("ascii"))]
            + [(k.encode("ascii"), v.encode("latin-1")) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": (self._host, self._port),
            "extensions": {},
        }
        return self._run(lambda: self._asgi_call(scope))

    async def _asgi_call(self, scope: dict[str, Any]) -> _Response:
        if self._lifespan is not None and self._lifespan.supported:
            scope["state"] = dict(self._lifespan.state)  # lifespan spec: a shallow copy
        done = asyncio.Event()
        sent_request = False
        status: list[int] = []
        headers: list[tuple[str, str]] = []
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                headers.extend(
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", ())
                )
            elif message["type"] == "http.response.body":
                body.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            await asyncio.wait_for(self.app(scope, receive, send), self.timeout_s)
        except asyncio.TimeoutError:
            if not done.is_set():
                raise FetchError(
                    f"GET {scope['path']}: no response within {self.timeout_s:g} s"
                ) from None
        finally:
            done.set()
        if not status:
            raise FetchError(f"GET {scope['path']}: the application sent no response")
        return _Response(status[0], tuple(headers), b"".join(body))


class _Lifespan:
    """The ASGI lifespan protocol (startup, shutdown) for :class:`AppSite`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = False
        self.task: asyncio.Task[Any] | None = None
        self.to_app: asyncio.Queue[dict[str, Any]] | None = None
        self.from_app: asyncio.Queue[Mapping[str, Any]] | None = None

    async def startup(self, timeout_s: float) -> None:
        """Start the app's lifespan; :attr:`supported` says whether it speaks the protocol.

        Raises:
            FetchError: The application reported ``lifespan.startup.failed``.
        """
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self.to_app, self.from_app = to_app, from_app
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self.task = asyncio.ensure_future(self.app(scope, to_app.get, from_app.put))
        await to_app.put({"type": "lifespan.startup"})
        message = await self._reply(timeout_s)
        if message is None:
            return
        if message.get("type") == "lifespan.startup.failed":
            raise FetchError(f"the application failed to start: {message.get('message', '')}")
        self.supported = True

    async def shutdown(self, timeout_s: float) -> None:
        """Ask the app to shut down and wait for it, at most ``timeout_s``."""
        if self.supported and self.to_app is not None:
            await self.to_app.put({"type": "lifespan.shutdown"})
            await self._reply(timeout_s)
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task

    async def _reply(self, timeout_s: float) -> Mapping[str, Any] | None:
        """The app's next lifespan message, or None when it ended (no lifespan support)."""
        assert self.task is not None
        assert self.from_app is not None
        getter = asyncio.ensure_future(self.from_app.get())
        finished, _ = await asyncio.wait(
            {getter, self.task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in finished:
            return getter.result()
        getter.cancel()
        with contextlib.suppress(BaseException):
            await getter
        if self.task in finished:
            with contextlib.suppress(BaseException):
                self.task.result()  # an app without lifespan raises here: not an error
        return None


class Stylesheets:
    """Reads and parses each stylesheet of a site once, for all its pages.

    Call it with a same-origin target (``/static/app.css``) to get its :class:`CssScan`; a
    stylesheet that cannot be read gives a scan with ``error`` set (also read only once).

    Args:
        site: Where to read stylesheets.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self._cache: dict[str, CssScan] = {}

    def __call__(self, target: str) -> CssScan:
        """Return the parsed stylesheet at ``target``."""
        scan = self._cache.get(target)
        if scan is None:
            try:
                data, charset = self.site.read(target, dest="style")
            except FetchError as error:
                scan = CssScan(error=f"stylesheet {error}")
            else:
                scan = scan_css(data, self.site.origin + target, charset=charset)
            self._cache[target] = scan
        return scan

    def __len__(self) -> int:
        return len(self._cache)


def read_page(
    site: Site,
    path: str,
    stylesheets: Callable[[str], CssScan],
    options: DiscoverOptions | None = None,
) -> PageResult:
    """Read one page of a site and discover its resources.

    Args:
        site: Where the page is.
        path: Its URL path with optional query (``/``, ``/about/index.html``), percent-encoded.
        stylesheets: A :class:`Stylesheets` of the same site.
        options: What to keep.

    Raises:
        FetchError: The page cannot be read.
    """
    data, charset = site.read(path, dest="document")
    text, warnings = decode_html(data, charset)
    result = discover_page(text, site.origin + path, stylesheets, options)
    if warnings:
        page = path.split("?", 1)[0]
        result = replace(result, warnings=tuple(f"{page}: {w}" for w in warnings) + result.warnings)
    return result
