"""A workaround for Hypercorn 0.18's HTTP/2: release a closed connection's streams.

When a client goes away while a stream still has buffered data (a pushed file larger than its
flow-control window, a page it stopped reading), Hypercorn 0.18 marks the connection closed but
never releases the streams' buffers: the application tasks wait in ``drain()`` until the server
shuts down, keeping the connection and its responses in memory (about 2 MB per departed client
with a 256 KiB push) and logging a ``CancelledError`` traceback per task at shutdown. Pushes make
departures mid-stream common, so :func:`apply` wakes those tasks when the connection closes and
drops what they send afterwards. It patches Hypercorn's ``H2Protocol`` only for the 0.18 series,
once; other versions are left alone.

It also bounds what one request's headers cost: HPACK's Huffman decoding in Python takes about
10 ms for a 50 KB header block, paid before any limit on the decoded size is checked, so a
client repeating a 60,000-character ``User-Agent`` made every other request wait. A header block
(HEADERS and its CONTINUATION frames) larger than :data:`MAX_HEADER_BLOCK_BYTES` is refused
before it is decoded, as a connection error (``ENHANCE_YOUR_CALM``, RFC 9113 §5.4.1: a block
left undecoded leaves the connection's HPACK state unknown), as nginx refuses one larger than
its ``http2_max_header_size``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from importlib import metadata
from typing import Any

from h2push._delivery.ledger import CONNECTION_EXTENSION

#: The largest HPACK-encoded header block of a request ``h2push serve`` decodes (bytes): a
#: request with more is refused, its connection closed. nginx's ``http2_max_header_size``
#: default is 16 KB of decoded headers. Read when a connection starts: assign
#: ``h2push._tools.serve._hypercorn_fixes.MAX_HEADER_BLOCK_BYTES`` to change it.
MAX_HEADER_BLOCK_BYTES = 16384


def _hypercorn_0_18() -> bool:
    """Whether the installed Hypercorn is of the 0.18 series, the one these patches are for."""
    try:
        version = metadata.version("hypercorn")
    except metadata.PackageNotFoundError:
        return False
    return version.startswith("0.18.")


def _once_on_hypercorn_0_18(patch: Callable[[], None]) -> Callable[[], None]:
    """Make ``patch`` process-wide and idempotent: it runs once, and only on Hypercorn 0.18."""
    applied = False

    @functools.wraps(patch)
    def apply_once() -> None:
        nonlocal applied
        if applied:
            return
        applied = True
        if _hypercorn_0_18():
            patch()

    return apply_once


@_once_on_hypercorn_0_18
def apply() -> None:
    """Patch Hypercorn 0.18's ``H2Protocol`` (idempotent; a no-op for other versions)."""
    from hpack import Decoder, OversizedHeaderListError  # noqa: PLC0415
    from hypercorn.events import Closed  # noqa: PLC0415
    from hypercorn.protocol.events import StreamClosed  # noqa: PLC0415
    from hypercorn.protocol.h2 import H2Protocol  # noqa: PLC0415

    handle, stream_send, init = H2Protocol.handle, H2Protocol.stream_send, H2Protocol.__init__

    class BoundedDecoder(Decoder):
        """An HPACK decoder that refuses a header block too large before decoding it."""

        max_block_bytes = MAX_HEADER_BLOCK_BYTES

        def decode(self, data: bytes, raw: bool = False) -> Any:
            if len(data) > self.max_block_bytes:
                raise OversizedHeaderListError(  # h2 answers it with ENHANCE_YOUR_CALM
                    f"header block of {len(data)} bytes, more than {self.max_block_bytes}"
                )
            return super().decode(data, raw=raw)

    def init_bounded(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        decoder = BoundedDecoder()
        decoder.max_header_list_size = self.connection.decoder.max_header_list_size
        decoder.max_block_bytes = MAX_HEADER_BLOCK_BYTES
        self.connection.decoder = decoder  # before any frame: no HPACK state to carry over

    async def handle_then_release(self: Any, event: Any) -> None:
        await handle(self, event)
        if isinstance(event, Closed):  # wake tasks waiting on buffers nobody will drain
            for buffer in list(self.stream_buffers.values()):
                await buffer.close()

    async def send_unless_closed(self: Any, event: Any) -> None:
        if self.closed and not isinstance(event, StreamClosed):
            return
        await stream_send(self, event)

    H2Protocol.__init__ = init_bounded  # type: ignore[method-assign]
    H2Protocol.handle = handle_then_release  # type: ignore[method-assign]
    H2Protocol.stream_send = send_unless_closed  # type: ignore[method-assign]


class _WithoutPush:
    """Hypercorn's app wrapper for one stream whose client refused push: no push in the scope."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, *args: Any) -> None:
        extensions = scope.get("extensions")
        if isinstance(extensions, dict):
            extensions.pop("http.response.push", None)
        await self.app(scope, *args)


@_once_on_hypercorn_0_18
def offer_push_only_when_accepted() -> None:
    """Patch Hypercorn 0.18 so a client that refused push is not offered ``http.response.push``.

    A client refuses push with ``SETTINGS_ENABLE_PUSH = 0`` in its first SETTINGS frame
    (RFC 9113 §6.5.2); every browser does, and httpx. Hypercorn 0.18 lists
    ``http.response.push`` in the scope of every HTTP/2 request anyway and drops the refused
    promises silently, so an application cannot tell a client that takes pushes from one
    that never will. With this patch a stream's scope offers push only when the client's
    setting (h2's ``connection.remote_settings.enable_push``, read when the request's
    HEADERS arrive) allows it. Over HTTP/3 a client accepts push only once it has sent
    MAX_PUSH_ID (RFC 9114 §4.6; Chromium never does): push is offered only then (aioquic's
    ``H3Connection._max_push_id``). Idempotent; other Hypercorn versions are left alone.
    """
    from hypercorn.protocol.h2 import H2Protocol  # noqa: PLC0415

    _offer_push_when(H2Protocol, lambda connection: connection.remote_settings.enable_push)
    try:
        from hypercorn.protocol.h3 import H3Protocol  # noqa: PLC0415 - needs aioquic
    except ImportError:  # no aioquic: no HTTP/3
        return
    _offer_push_when(
        H3Protocol, lambda connection: getattr(connection, "_max_push_id", None) is not None
    )


class _OnConnection:
    """Hypercorn's app wrapper for one stream of a client that takes push: names its connection.

    ASGI gives an application no handle on its connection, and a connection's two addresses
    are not unique over time (a closed connection's client port is reused at once on
    loopback). The scope's ``extensions["h2push.connection"]`` gets ``{"id": N}``, N unique
    per connection in this process, so the push ledger (``h2push._delivery.ledger``) never
    mistakes a new connection for an old one.
    """

    __slots__ = ("app", "serial")

    def __init__(self, app: Any, serial: int) -> None:
        self.app = app
        self.serial = serial

    async def __call__(self, scope: Any, *args: Any) -> None:
        extensions = scope.get("extensions")
        if isinstance(extensions, dict):
            extensions[CONNECTION_EXTENSION] = {"id": self.serial}
        await self.app(scope, *args)


_serials = itertools.count(1)


def _offer_push_when(protocol: Any, accepts_push: Callable[[Any], bool]) -> None:
    """Patch ``protocol._create_stream``: no push in the stream's scope unless ``accepts_push``.

    ``accepts_push`` is given the protocol's h2 or aioquic connection when the request arrives.
    A stream that is offered push also gets its connection's serial (:class:`_OnConnection`).
    """
    create_stream = protocol._create_stream

    async def create_stream_for_the_client(self: Any, request: Any) -> None:
        app = self.app
        if accepts_push(self.connection):
            serial = self.__dict__.get("_h2push_serial")
            if serial is None:
                serial = self._h2push_serial = next(_serials)
            wrapped: Any = _OnConnection(app, serial)
        else:
            wrapped = _WithoutPush(app)
        # The stream keeps the app it is created with; restore it for the next stream.
        self.app = wrapped
        try:
            await create_stream(self, request)
        finally:
            self.app = app

    protocol._create_stream = create_stream_for_the_client
