"""httpx transports that accept HTTP/2 server push and answer later requests from it.

httpx (through httpcore) refuses push: it sends ``SETTINGS_ENABLE_PUSH = 0``. These transports
speak HTTP/2 over TLS themselves, with the ``h2`` library, and accept pushed responses (RFC 9113
§8.4) into a small cache per origin, so that a later request for a pushed URL is answered without
a round trip, waiting for the pushed response if it is still arriving::

    import httpx
    from h2push.httpx import PushTransport

    with httpx.Client(transport=PushTransport(verify=True)) as client:
        listing = client.get("https://api.example/items", headers={"Preload": '"/items/*"'})
        for url in listing.json()["items"]:
            client.get(f"https://api.example{url}")   # pushed: no round trip

A ``Preload`` header (draft-dunglas-vulcain) goes to the server as it is; a server running
:class:`h2push.asgi.H2PushMiddleware` pushes what it names.

The cache (RFC 9111 where it applies to a private cache holding one response per URL, used
once):

- A pushed response is kept only when its status is 2xx and its ``Cache-Control`` has neither
  ``no-store`` nor ``no-cache``; otherwise its stream is cancelled (RST_STREAM CANCEL).
- A promise for a URL the ``want_push`` callback refuses, for another authority, for a method
  other than GET, or for a URL already held, is cancelled at once.
- A request is answered from the cache only when it is a GET without ``Cache-Control:
  no-cache``/``no-store``, and each header the response's ``Vary`` names has the same value in
  the request as in the push promise (``Vary: *`` never matches). An entry is used once, and is
  dropped after ``pushed_max_age_s``; an unsafe request (POST, PUT, DELETE, ...) to a URL drops
  its entry (RFC 9111 §4.4).
- The cache is bounded in entries and in bytes; the oldest entries make room for new ones.

What happened is counted in :attr:`AsyncPushTransport.push_stats` (:class:`PushStats`).

A server that negotiates ``http/1.1`` by ALPN, or any ``http://`` URL, is served by httpx's own
transport (``httpx.AsyncHTTPTransport``): answers at httpx's speed, no pushes. One HTTP/2
connection is kept per origin and shared by concurrent requests, within the server's
``SETTINGS_MAX_CONCURRENT_STREAMS``. Request bodies are read whole before they are sent.
Proxies are not supported.

:class:`PushTransport` (for ``httpx.Client``) runs an :class:`AsyncPushTransport` on a private
event loop thread.
"""

from __future__ import annotations

from h2push._extras import missing

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import httpx
    from h2.errors import ErrorCodes
except ModuleNotFoundError as error:  # pragma: no cover - depends on the installation
    raise missing(error, "httpx", "h2push.httpx") from error

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Final, TypeVar

from h2push._core.errors import H2PushError

__all__ = [
    "DEFAULT_MAX_PUSHED_BYTES",
    "DEFAULT_MAX_PUSHED_RESPONSES",
    "DEFAULT_PUSHED_MAX_AGE_S",
    "AsyncPushTransport",
    "PushStats",
    "PushTransport",
]

#: Pushed responses kept per origin unless configured otherwise.
DEFAULT_MAX_PUSHED_RESPONSES: Final = 128
#: Bytes of pushed response bodies kept per origin unless configured otherwise (16 MiB).
DEFAULT_MAX_PUSHED_BYTES: Final = 16 * 1024 * 1024
#: Seconds a pushed response is kept unused unless configured otherwise.
DEFAULT_PUSHED_MAX_AGE_S: Final = 60.0

_MAX_CONCURRENT_PUSHES: Final = 100  # SETTINGS_MAX_CONCURRENT_STREAMS we announce
_STREAM_WINDOW: Final = 1024 * 1024  # SETTINGS_INITIAL_WINDOW_SIZE we announce
_CONNECTION_WINDOW: Final = 16 * 1024 * 1024
_READ_SIZE: Final = 65536
_CLOSE_TIMEOUT_S: Final = 2.0
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Connection-specific fields, never sent over HTTP/2 (RFC 9113 §8.2.2).
_HOP_BY_HOP: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"}
)

Timeouts = dict[str, float | None]
_T = TypeVar("_T")


@dataclasses.dataclass
class PushStats:
    """What a transport did with server pushes; all counts since it was made (int).

    Attributes:
        promised: PUSH_PROMISE frames received.
        accepted: Promises kept in the cache (the rest were cancelled).
        served: Requests answered from the cache, without a round trip.
        cancelled: Pushed streams this client cancelled (RST_STREAM CANCEL), for any reason.
        refused_unwanted: Promises refused for their URL: ``want_push`` said no, another
            authority, a method other than GET, or a URL already held.
        refused_no_store: Pushed responses refused for ``Cache-Control: no-store``.
        refused_no_cache: Pushed responses refused for ``Cache-Control: no-cache`` (they could
            not be used without asking the server again).
        refused_status: Pushed responses refused for a status other than 2xx.
        refused_too_large: Pushed responses cancelled because they outgrew the cache's bytes.
        vary_mismatch: Requests for a pushed URL not answered from the cache because a header
            its ``Vary`` names differed from the push promise's.
        evicted: Pushed responses dropped unused: to make room, too old, or their connection
            failed while they arrived.
        requests_sent: Requests sent to a server (HTTP/2 or HTTP/1.1).
    """

    promised: int = 0
    accepted: int = 0
    served: int = 0
    cancelled: int = 0
    refused_unwanted: int = 0
    refused_no_store: int = 0
    refused_no_cache: int = 0
    refused_status: int = 0
    refused_too_large: int = 0
    vary_mismatch: int = 0
    evicted: int = 0
    requests_sent: int = 0


# --------------------------------------------------------------------------- streams


class _Stream:
    """One HTTP/2 stream's response as it arrives (filled by the connection's reader)."""

    __slots__ = ("changed", "chunks", "ended", "error", "headers", "stream_id")

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.chunks: deque[tuple[bytes, int]] = deque()  # (data, flow-controlled length)
        self.ended = False
        self.error: Exception | None = None
        self.changed = asyncio.Event()

    @property
    def status(self) -> int:
        for name, value in self.headers or ():
            if name == b":status":
                return int(value)
        return 0

    def fields(self) -> list[tuple[bytes, bytes]]:
        """The regular response header fields (no pseudo-headers)."""
        return [(n, v) for n, v in self.headers or () if not n.startswith(b":")]

    async def wait(self, timeout_s: float | None) -> None:
        """Wait for the next change; raise httpx.ReadTimeout after ``timeout_s`` seconds."""
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), timeout_s)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"no response data within {timeout_s} s") from None


class _Pushed:
    """A pushed response: its promise's request headers and its stream."""

    __slots__ = ("done_at", "path", "promise", "size", "stream")

    def __init__(self, path: str, promise: dict[bytes, bytes], stream: _Stream) -> None:
        self.path = path
        self.promise = promise
        self.stream = stream
        self.size = 0
        self.done_at: float | None = None


class _PushCache:
    """The pushed responses of one origin, oldest first, bounded in entries and bytes."""

    __slots__ = ("entries", "max_age_s", "max_bytes", "max_entries", "stats", "total")

    def __init__(
        self, max_entries: int, max_bytes: int, max_age_s: float, stats: PushStats
    ) -> None:
        self.entries: OrderedDict[str, _Pushed] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.stats = stats
        self.total = 0

    def take(self, path: str) -> _Pushed | None:
        entry = self.entries.pop(path, None)
        if entry is not None:
            self.total -= entry.size
            if entry.done_at is not None and time.monotonic() - entry.done_at > self.max_age_s:
                self.stats.evicted += 1
                return None
        return entry

    def remove(self, entry: _Pushed) -> bool:
        if self.entries.get(entry.path) is entry:
            del self.entries[entry.path]
            self.total -= entry.size
            return True
        return False


# --------------------------------------------------------------------------- connection


class _ConnectionGoneError(H2PushError):
    """The connection closed before the server began to answer: the request may be retried."""


class _H2Connection:
    """One HTTP/2 connection to an origin, with a task reading and dispatching its frames."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        authority: str,
        cache: _PushCache,
        want_push: Callable[[str], bool] | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.authority = authority.lower()
        self.cache = cache
        self.stats = cache.stats  # the transport's, which the cache counts in too
        self.want_push = want_push
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams: dict[int, _Stream] = {}
        self.pushes: dict[int, _Pushed] = {}
        self.flow = asyncio.Event()  # a window opened, a setting or a stream slot changed
        self.closed = False
        self.error: Exception | None = None
        self.last_stream_id: int | None = None
        self.reader_task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float | None) -> None:
        self.h2.initiate_connection()
        self.h2.update_settings(
            {
                h2.settings.SettingCodes.ENABLE_PUSH: 1,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_CONCURRENT_PUSHES,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            }
        )
        self.h2.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        await self.flush(timeout_s)
        self.reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def usable(self) -> bool:
        return not self.closed

    def _write_pending(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def flush(self, timeout_s: float | None) -> None:
        self._write_pending()
        try:
            await asyncio.wait_for(self.writer.drain(), timeout_s)
        except asyncio.TimeoutError:
            raise httpx.WriteTimeout(f"could not send within {timeout_s} s") from None
        except (OSError, ssl.SSLError) as error:
            self._fail(error)
            raise httpx.WriteError(str(error)) from error

    # ------------------------------------------------------------------ requests

    async def request(
        self,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
    ) -> _Stream:
        """Send a request; return its stream once the response's headers arrived."""
        await self._wait_for_slot(timeouts.get("pool"))
        if self.closed:
            raise _ConnectionGoneError
        try:
            stream_id = self.h2.get_next_available_stream_id()
            self.h2.send_headers(stream_id, headers, end_stream=not body)
        except (h2.exceptions.NoAvailableStreamIDError, h2.exceptions.ProtocolError):
            self.closed = True  # no new streams on this one
            raise _ConnectionGoneError from None
        stream = self.streams[stream_id] = _Stream(stream_id)
        self.stats.requests_sent += 1
        try:
            try:
                await self.flush(timeouts.get("write"))
            except httpx.WriteError:
                raise _ConnectionGoneError from None  # nothing reached the server
            if body:
                await self._send_body(stream_id, body, timeouts.get("write"))
            while stream.headers is None:
                if stream.error is not None:
                    raise stream.error
                await stream.wait(timeouts.get("read"))
        except BaseException:
            self.cancel(stream_id)
            raise
        return stream

    async def _wait_for_slot(self, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while (
            not self.closed
            and self.h2.open_outbound_streams >= self.h2.remote_settings.max_concurrent_streams
        ):
            self.flow.clear()
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self.flow.wait(), left)
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout(f"no free stream within {timeout_s} s") from None

    async def _send_body(self, stream_id: int, body: bytes, timeout_s: float | None) -> None:
        view = memoryview(body)
        while view:
            if self.closed:
                raise self.error or _ConnectionGoneError()
            window = min(
                self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size
            )
            if window <= 0:
                self.flow.clear()
                try:
                    await asyncio.wait_for(self.flow.wait(), timeout_s)
                except asyncio.TimeoutError:
                    raise httpx.WriteTimeout(f"flow control stalled for {timeout_s} s") from None
                continue
            chunk, view = view[:window], view[window:]
            self.h2.send_data(stream_id, chunk.tobytes(), end_stream=not view)
            await self.flush(timeout_s)

    def consumed(self, stream_id: int, length: int) -> None:
        """Give ``length`` flow-controlled bytes back to the server (WINDOW_UPDATE)."""
        if self.closed or not length:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.acknowledge_received_data(length, stream_id)
            self._write_pending()

    def cancel(self, stream_id: int) -> None:
        """Reset ``stream_id`` with CANCEL (RFC 9113 §8.7) unless it is already closed."""
        self.streams.pop(stream_id, None)
        if self.closed:
            return
        try:
            self.h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        except h2.exceptions.ProtocolError:
            return  # closed already
        self._write_pending()
        self.flow.set()

    # ------------------------------------------------------------------ events

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(_READ_SIZE)
                if not data:
                    raise httpx.RemoteProtocolError("the server closed the connection")
                events = self.h2.receive_data(data)
                for event in events:
                    self._handle(event)
                self._write_pending()
        except asyncio.CancelledError:
            self._fail(httpx.ReadError("the connection was closed"))
            raise
        except h2.exceptions.ProtocolError as error:
            with contextlib.suppress(Exception):
                self._write_pending()
            self._fail(httpx.RemoteProtocolError(f"HTTP/2 protocol error: {error}"))
        except (OSError, ssl.SSLError, httpx.HTTPError) as error:
            self._fail(error if isinstance(error, httpx.HTTPError) else httpx.ReadError(str(error)))

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.headers = list(event.headers)
                stream.changed.set()
                if event.stream_id in self.pushes:
                    self._check_pushed_response(self.pushes[event.stream_id])
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            self._end(event.stream_id, None)
        elif isinstance(event, h2.events.StreamReset):
            code = event.error_code
            self._end(
                event.stream_id, httpx.RemoteProtocolError(f"the server reset the stream: {code}")
            )
        elif isinstance(event, h2.events.PushedStreamReceived):
            self._on_push(event)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True
            self.last_stream_id = event.last_stream_id
            gone = [s for s in self.streams if s % 2 == 1 and s > (event.last_stream_id or 0)]
            for stream_id in gone:
                self._end(stream_id, _ConnectionGoneError())
            self.flow.set()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.flow.set()

    def _on_data(self, event: h2.events.DataReceived) -> None:
        length = event.flow_controlled_length or 0
        stream = self.streams.get(event.stream_id)
        if stream is None:  # cancelled: give the connection window back
            self.consumed(event.stream_id, length)
            return
        stream.chunks.append((event.data or b"", length))
        stream.changed.set()
        entry = self.pushes.get(event.stream_id)
        if entry is None:
            return  # the response's reader acknowledges as it consumes
        self.consumed(event.stream_id, length)
        size = len(event.data or b"")
        entry.size += size
        if self.cache.entries.get(entry.path) is entry:
            self.cache.total += size
        self._make_room(entry)

    def _make_room(self, growing: _Pushed) -> None:
        cache = self.cache
        for other in list(cache.entries.values()):
            if cache.total <= cache.max_bytes:
                return
            if other is not growing and other.done_at is not None:
                cache.remove(other)
                self.stats.evicted += 1
        if cache.total > cache.max_bytes:
            self.stats.refused_too_large += 1
            self._refuse(growing)

    def _end(self, stream_id: int, error: Exception | None) -> None:
        stream = self.streams.pop(stream_id, None)
        self.flow.set()
        if stream is None:
            return
        if error is None:
            stream.ended = True
        else:
            stream.error = error
        stream.changed.set()
        entry = self.pushes.pop(stream_id, None)
        if entry is not None:
            if error is None:
                entry.done_at = time.monotonic()
            elif self.cache.remove(entry):
                self.stats.evicted += 1

    def _on_push(self, event: h2.events.PushedStreamReceived) -> None:
        self.stats.promised += 1
        promised_id = event.pushed_stream_id or 0
        fields = dict(event.headers or ())
        method = fields.get(b":method", b"")
        path = fields.get(b":path", b"").decode("latin-1")
        authority = fields.get(b":authority", self.authority.encode()).decode("latin-1")
        if (
            method != b"GET"
            or authority.lower() != self.authority
            or not path.startswith("/")
            or path in self.cache.entries
            or not self._wanted(path)
        ):
            self.stats.refused_unwanted += 1
            self._cancel_push(promised_id)
            return
        cache = self.cache
        while len(cache.entries) >= cache.max_entries > 0:
            _, oldest = cache.entries.popitem(last=False)
            cache.total -= oldest.size
            self.stats.evicted += 1
            if oldest.done_at is None:
                self.pushes.pop(oldest.stream.stream_id, None)
                self._cancel_push(oldest.stream.stream_id)
        if cache.max_entries <= 0:
            self.stats.refused_unwanted += 1
            self._cancel_push(promised_id)
            return
        promise = {n.lower(): v for n, v in fields.items() if not n.startswith(b":")}
        stream = self.streams[promised_id] = _Stream(promised_id)
        entry = self.pushes[promised_id] = cache.entries[path] = _Pushed(path, promise, stream)
        del entry  # kept by the cache and the connection
        self.stats.accepted += 1

    def _wanted(self, path: str) -> bool:
        if self.want_push is None:
            return True
        try:
            return bool(self.want_push(path))
        except Exception:  # a failing callback refuses the push, not the connection
            return False

    def _check_pushed_response(self, entry: _Pushed) -> None:
        stream = entry.stream
        if not 200 <= stream.status < 300:
            self.stats.refused_status += 1
            self._refuse(entry)
            return
        directives = _directives(dict(stream.fields()).get(b"cache-control"))
        if "no-store" in directives:
            self.stats.refused_no_store += 1
            self._refuse(entry)
        elif "no-cache" in directives:
            self.stats.refused_no_cache += 1
            self._refuse(entry)

    def _refuse(self, entry: _Pushed) -> None:
        self.cache.remove(entry)
        self.pushes.pop(entry.stream.stream_id, None)
        entry.stream.error = _ConnectionGoneError()  # a waiting request goes to the network
        entry.stream.changed.set()
        self._cancel_push(entry.stream.stream_id)

    def _cancel_push(self, stream_id: int) -> None:
        self.stats.cancelled += 1
        self.cancel(stream_id)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self.closed = True
        for stream_id in list(self.streams):
            stream = self.streams[stream_id]
            if stream.headers is None and not stream.ended:
                self._end(stream_id, _ConnectionGoneError())
            else:
                self._end(stream_id, error)
        self.flow.set()
        with contextlib.suppress(Exception):
            self.writer.close()

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.h2.close_connection()
                self._write_pending()
        if self.reader_task is not None:
            self.reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self.reader_task
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), _CLOSE_TIMEOUT_S)


def _directives(value: bytes | None) -> set[str]:
    """The directive names of a ``Cache-Control`` value (RFC 9111 §5.2), lower-cased."""
    if not value:
        return set()
    return {part.split("=", 1)[0].strip().lower() for part in value.decode("latin-1").split(",")}


def _vary_matches(vary: list[bytes], request: httpx.Headers, promise: dict[bytes, bytes]) -> bool:
    """Whether a request matches the push promise on every header ``Vary`` names (RFC 9111 §4.1)."""
    for value in vary:
        for item in value.decode("latin-1").split(","):
            name = item.strip().lower()
            if not name:
                continue
            if name == "*":
                return False
            asked = request.get(name)
            promised = promise.get(name.encode("latin-1"))
            asked_norm = None if asked is None else " ".join(asked.split())
            promised_norm = None if promised is None else " ".join(promised.decode().split())
            if asked_norm != promised_norm:
                return False
    return True


# --------------------------------------------------------------------------- responses


class _ResponseStream(httpx.AsyncByteStream):
    """A response body read from its HTTP/2 stream, giving flow-control credit as it goes."""

    def __init__(self, connection: _H2Connection, stream: _Stream, read_s: float | None) -> None:
        self._connection = connection
        self._stream = stream
        self._read_s = read_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self._stream
        while True:
            while stream.chunks:
                data, length = stream.chunks.popleft()
                self._connection.consumed(stream.stream_id, length)
                if data:
                    yield data
            if stream.ended:
                return
            if stream.error is not None:
                error = stream.error
                if isinstance(error, _ConnectionGoneError):
                    raise httpx.ReadError("the connection closed during the response")
                raise error
            await stream.wait(self._read_s)

    async def aclose(self) -> None:
        stream = self._stream
        if not stream.ended:
            self._connection.cancel(stream.stream_id)
        while stream.chunks:  # unread data still counts against the connection's window
            _, length = stream.chunks.popleft()
            self._connection.consumed(stream.stream_id, length)


class _Origin:
    """An origin's HTTP/2 connection (or the fact that it speaks HTTP/1.1) and push cache."""

    __slots__ = ("cache", "connection", "http1", "lock")

    def __init__(self, cache: _PushCache) -> None:
        self.cache = cache
        self.connection: _H2Connection | None = None
        self.http1 = False
        self.lock = asyncio.Lock()


# --------------------------------------------------------------------------- transports


def _ssl_context(verify: ssl.SSLContext | str | bool, cert: Any, trust_env: bool) -> ssl.SSLContext:
    """An SSL context as httpx's transports build it from ``verify``, ``cert``, ``trust_env``."""
    if isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        else:
            context = ssl.create_default_context(cafile=path)
        if cert:
            context.load_cert_chain(*((cert,) if isinstance(cert, str) else cert))
        return context
    return httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


@dataclasses.dataclass(frozen=True)
class _TransportOptions:
    """What a push transport was made with: its constructor's arguments, checked."""

    verify: ssl.SSLContext | str | bool
    cert: Any
    trust_env: bool
    max_pushed_responses: int
    max_pushed_bytes: int
    pushed_max_age_s: float
    want_push: Callable[[str], bool] | None

    def keywords(self) -> dict[str, Any]:
        """The arguments as keywords, to make another transport with them."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


class _PushTransportBase:
    """The constructor :class:`AsyncPushTransport` and :class:`PushTransport` share.

    It checks the arguments, keeps them in ``self._options`` (:class:`_TransportOptions`) and
    calls :meth:`_setup`, where each transport builds what it runs on.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        max_pushed_responses: int = DEFAULT_MAX_PUSHED_RESPONSES,
        max_pushed_bytes: int = DEFAULT_MAX_PUSHED_BYTES,
        pushed_max_age_s: float = DEFAULT_PUSHED_MAX_AGE_S,
        want_push: Callable[[str], bool] | None = None,
    ) -> None:
        for name, value in (
            ("max_pushed_responses", max_pushed_responses),
            ("max_pushed_bytes", max_pushed_bytes),
            ("pushed_max_age_s", pushed_max_age_s),
        ):
            if value < 0:
                raise ValueError(f"{name} {value} must not be negative")
        # The fields are in the order of the arguments.
        self._options = _TransportOptions(
            verify,
            cert,
            trust_env,
            max_pushed_responses,
            max_pushed_bytes,
            pushed_max_age_s,
            want_push,
        )
        self._setup()

    def _setup(self) -> None:
        """Build the transport's state from ``self._options``."""
        raise NotImplementedError


class AsyncPushTransport(_PushTransportBase, httpx.AsyncBaseTransport):
    """An httpx async transport over HTTP/2 that accepts server push; see the module docstring.

    Args:
        verify: As httpx's transports take it: True (the system's or certifi's CAs), False (no
            verification), the path (str) of a CA bundle file or directory, or an
            :class:`ssl.SSLContext`.
        cert: A client certificate, as httpx takes it (deprecated there; prefer an SSLContext).
        trust_env: Read ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when ``verify`` is True.
        max_pushed_responses: The most pushed responses kept per origin (int >= 0; 0 refuses
            every push).
        max_pushed_bytes: The most bytes of pushed bodies kept per origin (int >= 0).
        pushed_max_age_s: Seconds a complete pushed response stays usable (float).
        want_push: A function from a pushed URL's path (str, with its query) to whether to keep
            it; None keeps every same-origin GET.

    Raises:
        ValueError: A limit is negative.
    """

    def _setup(self) -> None:
        options = self._options
        self._ssl = _ssl_context(options.verify, options.cert, options.trust_env)
        self._ssl.set_alpn_protocols(["h2", "http/1.1"])
        # httpx's own transport, for HTTP/1.1 servers and http:// URLs; its own context, since
        # httpcore sets the ALPN protocols of the context it is given.
        self._http1: httpx.AsyncHTTPTransport | None = None
        self._stats = PushStats()
        self._origins: dict[tuple[str, int], _Origin] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def push_stats(self) -> PushStats:
        """A snapshot of what this transport did with pushes (:class:`PushStats`)."""
        return dataclasses.replace(self._stats)

    def _fallback(self) -> httpx.AsyncHTTPTransport:
        if self._http1 is None:
            options = self._options
            verify = options.verify
            if isinstance(verify, (str, os.PathLike)):
                verify = _ssl_context(verify, options.cert, options.trust_env)
            self._http1 = httpx.AsyncHTTPTransport(
                verify=verify,
                cert=None if isinstance(options.verify, (str, os.PathLike)) else options.cert,
                trust_env=options.trust_env,
            )
        return self._http1

    async def _delegate(self, request: httpx.Request) -> httpx.Response:
        self._stats.requests_sent += 1
        return await self._fallback().handle_async_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over HTTP/2, or answer it from the push cache (httpx's transport API).

        Raises:
            httpx.ConnectError, httpx.ConnectTimeout: The server cannot be reached over TLS.
            httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout: A timeout of
                ``request.extensions["timeout"]`` passed.
            httpx.RemoteProtocolError, httpx.ReadError: The server broke the protocol or the
                connection.
        """
        if request.url.scheme != "https":
            return await self._delegate(request)
        timeouts: Timeouts = dict(request.extensions.get("timeout") or {})
        origin = self._origin(request.url)
        if origin.http1:
            return await self._delegate(request)
        path = request.url.raw_path.decode("ascii")
        if request.method == "GET":
            response = await self._from_cache(origin, path, request, timeouts)
            if response is not None:
                return response
        elif request.method not in _SAFE_METHODS:
            entry = origin.cache.take(path)  # an unsafe request makes it stale (RFC 9111 §4.4)
            if entry is not None and entry.done_at is None:
                self._stats.evicted += 1
        for attempt in range(2):
            connection = await self._connection(origin, request.url, timeouts)
            if connection is None:
                return await self._delegate(request)
            body = await request.aread()
            try:
                stream = await connection.request(self._headers(request), body, timeouts)
            except _ConnectionGoneError:
                if attempt or request.method not in _SAFE_METHODS:
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection before answering"
                    ) from None
                continue
            return httpx.Response(
                stream.status,
                headers=stream.fields(),
                stream=_ResponseStream(connection, stream, timeouts.get("read")),
                extensions={"http_version": b"HTTP/2"},
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _origin(self, url: httpx.URL) -> _Origin:
        key = (url.host, url.port or 443)
        origin = self._origins.get(key)
        if origin is None:
            options = self._options
            cache = _PushCache(
                options.max_pushed_responses,
                options.max_pushed_bytes,
                options.pushed_max_age_s,
                self._stats,
            )
            origin = self._origins[key] = _Origin(cache)
        return origin

    async def _from_cache(
        self, origin: _Origin, path: str, request: httpx.Request, timeouts: Timeouts
    ) -> httpx.Response | None:
        entry = origin.cache.take(path)
        if entry is None:
            return None
        asked = _directives(request.headers.get("cache-control", "").encode("latin-1"))
        if asked & {"no-cache", "no-store"}:
            self._stats.evicted += 1  # the caller wants the server's answer; this one is older
            return None
        stream = entry.stream
        while not stream.ended:  # a promised response still arriving
            if stream.error is not None:
                return None  # refused, reset or lost: ask the server
            await stream.wait(timeouts.get("read"))
        fields = stream.fields()
        vary = [v for n, v in fields if n == b"vary"]
        if vary and not _vary_matches(vary, request.headers, entry.promise):
            self._stats.vary_mismatch += 1
            return None
        self._stats.served += 1
        body = b"".join(data for data, _ in stream.chunks)
        return httpx.Response(
            stream.status,
            headers=fields,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/2", "h2push_pushed": True},
        )

    async def _connection(
        self, origin: _Origin, url: httpx.URL, timeouts: Timeouts
    ) -> _H2Connection | None:
        async with origin.lock:
            if origin.connection is not None and origin.connection.usable:
                return origin.connection
            if origin.connection is not None:
                old, origin.connection = origin.connection, None
                closing = asyncio.get_running_loop().create_task(old.aclose())
                self._closing.add(closing)  # keep a reference until it is done
                closing.add_done_callback(self._closing.discard)
            if origin.http1:
                return None
            host, port = url.host, url.port or 443
            connect_s = timeouts.get("connect")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, port, ssl=self._ssl, server_hostname=host, limit=_READ_SIZE * 4
                    ),
                    connect_s,
                )
            except asyncio.TimeoutError:
                raise httpx.ConnectTimeout(
                    f"no TLS connection to {host}:{port} within {connect_s} s"
                ) from None
            except (OSError, ssl.SSLError) as error:
                raise httpx.ConnectError(f"cannot connect to {host}:{port}: {error}") from error
            ssl_object = writer.get_extra_info("ssl_object")
            if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                origin.http1 = True  # the server does not speak HTTP/2: httpx's own transport
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT_S)
                return None
            authority = host if port == 443 else f"{host}:{port}"
            if ":" in host:
                authority = f"[{host}]" if port == 443 else f"[{host}]:{port}"
            connection = _H2Connection(
                reader,
                writer,
                authority=authority,
                cache=origin.cache,
                want_push=self._options.want_push,
            )
            await connection.start(timeouts.get("write"))
            origin.connection = connection
            return connection

    @staticmethod
    def _headers(request: httpx.Request) -> list[tuple[bytes, bytes]]:
        url = request.url
        authority = request.headers.get("host") or url.netloc.decode("ascii")
        headers = [
            (b":method", request.method.encode("ascii")),
            (b":scheme", b"https"),
            (b":authority", authority.encode("ascii")),
            (b":path", url.raw_path),
        ]
        for name, value in request.headers.raw:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == b"te" and value.lower() != b"trailers"):
                continue
            headers.append((lower, value))
        return headers

    async def aclose(self) -> None:
        """Close every connection, drop every pushed response, close httpx's transport."""
        origins, self._origins = list(self._origins.values()), {}
        for origin in origins:
            if origin.connection is not None:
                await origin.connection.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._http1 is not None:
            await self._http1.aclose()


# --------------------------------------------------------------------------- sync


class _SyncResponseStream(httpx.SyncByteStream):
    """An async response body read from the transport's event loop thread."""

    def __init__(self, transport: PushTransport, stream: httpx.AsyncByteStream) -> None:
        self._transport = transport
        self._stream = stream
        self._iterator: AsyncIterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        iterator = self._stream.__aiter__()
        while True:
            try:
                yield self._transport._run(_next(iterator))
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._transport._run(self._stream.aclose())


async def _next(iterator: AsyncIterator[bytes]) -> bytes:
    return await iterator.__anext__()


class PushTransport(_PushTransportBase, httpx.BaseTransport):
    """:class:`AsyncPushTransport` for ``httpx.Client``, run on a private event loop thread.

    Takes the same arguments as :class:`AsyncPushTransport`. The thread starts with the first
    request and stops at :meth:`close` (``Client.close()`` or the end of its ``with`` block).
    """

    def _setup(self) -> None:
        self._async = AsyncPushTransport(**self._options.keywords())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def push_stats(self) -> PushStats:
        """A snapshot of what this transport did with pushes (:class:`PushStats`)."""
        return self._async.push_stats

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="h2push-httpx", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            loop = self._loop
        future: concurrent.futures.Future[_T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
        return future.result()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (httpx's transport API).

        Raises:
            httpx.HTTPError: What :meth:`AsyncPushTransport.handle_async_request` raises.
        """
        body = request.read()
        headers = [
            (n, v)
            for n, v in request.headers.raw
            if n.lower() not in (b"content-length", b"transfer-encoding")
        ]
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=body,
            extensions=request.extensions,
        )
        response = self._run(self._async.handle_async_request(forwarded))
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw,
            stream=_SyncResponseStream(self, stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every connection and stop the event loop thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._async.aclose(), loop).result(
                timeout=2 * _CLOSE_TIMEOUT_S
            )
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2 * _CLOSE_TIMEOUT_S)
        loop.close()
        self._async = AsyncPushTransport(**self._options.keywords())
