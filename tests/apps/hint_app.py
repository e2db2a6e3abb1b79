"""A raw ASGI app that sends a 103 Early Hints before a slow page (no framework).

``GET /`` sends one ``http.response.early_hint`` (RFC 8297) with preloads for ``/style.css`` and
``/app.js`` when the server offers the extension, thinks for :data:`THINK_TIME_S`, then returns
an HTML page that uses both. The page paints a solid blue background, an orange box and a line
of text (a first contentful paint), so a screenshot shows whether the stylesheet applied; its
script marks the document so a test can see that it ran. ``GET /broken`` is a page that logs an
error, throws, and references a missing image: every kind of error a browser test should notice.

Two details matter for Chromium to count a resource as delivered by early hints:

* The hinted resources are cacheable. Chromium fetches a hinted resource into its HTTP cache and
  the page then reads it from there; with ``Cache-Control: no-store`` the page fetches it a
  second time and reports the ordinary initiator (``link``, ``script``).
* The 103 leaves :data:`HINT_DELAY_S` after the request arrives. Chromium drops a 103 that reaches
  it before it has finished sending the request (its HTTP/2 stream stores the 103 while no one is
  waiting for headers, and the 200 then overwrites it). Over loopback an immediate 103 loses that
  race in roughly a third of the loads; over any real network the round trip prevents it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HINT_DELAY_S = 0.05
"""How long ``GET /`` waits before sending the 103, in seconds (see the module docstring)."""

THINK_TIME_S = 0.2
"""How long ``GET /`` waits between the 103 and the 200, in seconds."""

HINT_LINKS = (
    b"</style.css>; rel=preload; as=style",
    b"</app.js>; rel=preload; as=script",
)

BACKGROUND_RGB = (0x1E, 0x6F, 0xD9)
BOX_RGB = (0xF2, 0xB0, 0x1E)

PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hinted</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/style.css">
<script src="/app.js" defer></script>
</head>
<body><div class="box"></div><p class="note">early hints</p></body>
</html>
"""

BROKEN_PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>broken</title>
<link rel="icon" href="data:,">
</head>
<body>
<img src="/missing.png" alt="">
<script>
console.error("logged on purpose");
throw new Error("thrown on purpose");
</script>
</body>
</html>
"""

STYLE = b"""html, body { margin: 0; height: 100%; background: #1e6fd9; }
.box { position: absolute; left: 100px; top: 100px; width: 200px; height: 120px;
       background: #f2b01e; }
.note { position: absolute; left: 100px; top: 260px; margin: 0; color: #fff; }
"""

SCRIPT = b"""document.documentElement.dataset.ran = "yes";
"""

HTML = b"text/html; charset=utf-8"

# path -> (content type, body, cache-control)
FILES: dict[str, tuple[bytes, bytes, bytes]] = {
    "/broken": (HTML, BROKEN_PAGE, b"no-store"),
    "/style.css": (b"text/css; charset=utf-8", STYLE, b"max-age=3600"),
    "/app.js": (b"text/javascript; charset=utf-8", SCRIPT, b"max-age=3600"),
}


async def _respond(
    send: Send, status: int, content_type: bytes, body: bytes, cache_control: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", cache_control),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the hinted page, a broken page, and two subresources."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        if "http.response.early_hint" in scope.get("extensions", {}):
            await asyncio.sleep(HINT_DELAY_S)
            await send({"type": "http.response.early_hint", "links": list(HINT_LINKS)})
        await asyncio.sleep(THINK_TIME_S)
        await _respond(send, 200, HTML, PAGE, b"no-store")
    elif path in FILES:
        await _respond(send, 200, *FILES[path])
    else:
        await _respond(send, 404, b"text/plain; charset=utf-8", b"not found\n", b"no-store")
