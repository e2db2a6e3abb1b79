"""A workaround for Hypercorn 0.18's HTTP/2: release a closed connection's streams.

When a client goes away while a stream still has buffered data (a pushed file larger than its
flow-control window, a page it stopped reading), Hypercorn 0.18 marks the connection closed but
never releases the streams' buffers: the application tasks wait in ``drain()`` until the server
shuts down, keeping the connection and its responses in memory (about 2 MB per departed client
with a 256 KiB push) and logging a ``CancelledError`` traceback per task at shutdown. Pushes make
departures mid-stream common, so :func:`apply` wakes those tasks when the connection closes and
drops what they send afterwards. It patches Hypercorn's ``H2Protocol`` only for the 0.18 series,
once; other versions are left alone.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

_applied = False


def apply() -> None:
    """Patch Hypercorn 0.18's ``H2Protocol`` (idempotent; a no-op for other versions)."""
    global _applied  # noqa: PLW0603 - a process-wide patch, applied once
    if _applied:
        return
    _applied = True
    try:
        version = metadata.version("hypercorn")
    except metadata.PackageNotFoundError:
        return
    if not version.startswith("0.18."):
        return
    from hypercorn.events import Closed  # noqa: PLC0415
    from hypercorn.protocol.events import StreamClosed  # noqa: PLC0415
    from hypercorn.protocol.h2 import H2Protocol  # noqa: PLC0415

    handle, stream_send = H2Protocol.handle, H2Protocol.stream_send

    async def handle_then_release(self: Any, event: Any) -> None:
        await handle(self, event)
        if isinstance(event, Closed):  # wake tasks waiting on buffers nobody will drain
            for buffer in list(self.stream_buffers.values()):
                await buffer.close()

    async def send_unless_closed(self: Any, event: Any) -> None:
        if self.closed and not isinstance(event, StreamClosed):
            return
        await stream_send(self, event)

    H2Protocol.handle = handle_then_release  # type: ignore[method-assign]
    H2Protocol.stream_send = send_unless_closed  # type: ignore[method-assign]
