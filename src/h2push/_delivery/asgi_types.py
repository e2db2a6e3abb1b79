"""The ASGI type aliases (the ASGI spec's ``scope``, ``receive``, ``send``, application)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI ``lifespan`` scope: complete startup and shutdown, nothing to do.

    For an app that has nothing to start or stop but sits where servers speak the lifespan
    protocol, so that they log no lifespan error at start-up. Returns at shutdown.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
