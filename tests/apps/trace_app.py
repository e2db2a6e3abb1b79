"""A raw ASGI app (no framework) for tracing: a 103, a push, then a slow page.

``GET /`` sends one ``http.response.early_hint`` (RFC 8297) with a preload for ``/style.css``
when the server offers the extension, pushes ``/style.css`` (RFC 9113 §8.4) when the server offers
``http.response.push``, thinks for :data:`THINK_TIME_S`, then returns an HTML page. The page
carries the request's ``x-trace-echo`` header back in its ``x-echo`` response header, so a test
can see that a header it added arrived.

Other routes: ``/style.css`` (the pushed stylesheet), ``/big`` (pushes ``/big.bin`` and answers
with :data:`BIG_SIZE` bytes: both exceed the initial flow-control window of 65,535 octets),
``/big.bin``, ``/slow`` (answers after :data:`SLOW_S`), and 404 for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

THINK_TIME_S = 0.2
"""How long ``GET /`` waits after the 103 and the push before its 200, in seconds."""

SLOW_S = 5.0
"""How long ``GET /slow`` waits before answering, in seconds."""

HINT_LINK = b"</style.css>; rel=preload; as=style"

PAGE = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>traced</title><link rel="stylesheet" href="/style.css"></head>
<body><p>traced</p></body>
</html>
"""

STYLE = b"body { color: rebeccapurple; }\n"

BIG_SIZE = 256 * 1024
"""Bytes in the ``/big`` page and in ``/big.bin``."""

HTML = b"text/html; charset=utf-8"
CSS = b"text/css; charset=utf-8"
BINARY = b"application/octet-stream"

# path -> (content type, body)
FILES: dict[str, tuple[bytes, bytes]] = {
    "/style.css": (CSS, STYLE),
    "/big.bin": (BINARY, b"b" * BIG_SIZE),
    "/big": (HTML, b"B" * BIG_SIZE),
}


async def _respond(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _push(scope: Scope, send: Send, path: str) -> None:
    if "http.response.push" in scope.get("extensions", {}):
        await send({"type": "http.response.push", "path": path, "headers": []})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the traced page, its stylesheet, a large page and a slow page."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        if "http.response.early_hint" in scope.get("extensions", {}):
            await send({"type": "http.response.early_hint", "links": [HINT_LINK]})
        await _push(scope, send, "/style.css")
        await asyncio.sleep(THINK_TIME_S)
        echo = [(b"x-echo", value) for name, value in scope["headers"] if name == b"x-trace-echo"]
        await _respond(send, 200, HTML, PAGE, echo)
    elif path == "/big":
        await _push(scope, send, "/big.bin")
        await _respond(send, 200, *FILES[path])
    elif path == "/slow":
        await asyncio.sleep(SLOW_S)
        await _respond(send, 200, HTML, PAGE)
    elif path in FILES:
        await _respond(send, 200, *FILES[path])
    else:
        await _respond(send, 404, b"text/plain; charset=utf-8", b"not found\n")
