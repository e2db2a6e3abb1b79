"""A JSON API for the push tests: lists of five items whose caching differs per list.

``GET /{kind}`` answers ``{"items": ["/{kind}/0", ..., "/{kind}/4"]}``; ``GET /{kind}/{i}`` the
item, with:

- ``items``: nothing special;
- ``nostore``: ``Cache-Control: no-store``;
- ``nocache``: ``Cache-Control: no-cache``;
- ``vary``: ``Vary: Accept-Language``, the body naming the language asked for;
- ``counter``: a body that changes with every request (how often the item was served);
- ``big``: a 2 MiB body;
- ``slow``: answered after half a second.

``/authors`` lists ``/authors/{i}``, each naming its ``books``: ``["/books/{i}"]``.
``/echo`` answers the request's ``Preload`` header as JSON; ``/page`` is an HTML page;
``/sleep`` answers after two seconds; ``/large`` is a 3 MiB JSON document.
``/requests`` tells which item paths reached the app, split into ``direct`` and ``pushed``
(requests carrying h2push's ``x-h2push-pushed`` mark).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

KINDS = ("items", "nostore", "nocache", "vary", "counter", "big", "slow")
COUNT = 5
_direct: Counter[str] = Counter()
_pushed: Counter[str] = Counter()


async def _json(send: Any, document: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]
            await send({"type": f"{kind}.complete"})
            if kind == "lifespan.shutdown":
                return
    path: str = scope["path"]
    fields = dict(scope["headers"])
    parts = path.strip("/").split("/")
    if len(parts) == 1 and parts[0] in (*KINDS, "authors"):
        await _json(send, {"items": [f"/{parts[0]}/{i}" for i in range(COUNT)]})
        return
    if len(parts) == 2 and parts[0] in (*KINDS, "authors", "books") and parts[1].isdigit():
        (_pushed if b"x-h2push-pushed" in fields else _direct)[path] += 1
        kind, index = parts[0], int(parts[1])
        document: dict[str, Any] = {"path": path, "index": index}
        headers: list[tuple[bytes, bytes]] = []
        if kind == "nostore":
            headers.append((b"cache-control", b"no-store"))
        elif kind == "nocache":
            headers.append((b"cache-control", b"no-cache"))
        elif kind == "vary":
            headers.append((b"vary", b"Accept-Language"))
            document["lang"] = fields.get(b"accept-language", b"").decode()
        elif kind == "counter":
            document["served"] = _direct[path] + _pushed[path]
        elif kind == "slow":
            await asyncio.sleep(0.5)
        elif kind == "big":
            document["filler"] = "x" * (2 * 1024 * 1024)
        elif kind == "authors":
            document["books"] = [f"/books/{index}"]
        await _json(send, document, headers)
        return
    if path == "/echo":
        await _json(send, {"preload": fields.get(b"preload", b"").decode("latin-1")})
    elif path == "/requests":
        await _json(send, {"direct": dict(_direct), "pushed": dict(_pushed)})
    elif path == "/large":
        await _json(send, {"items": ["/items/0"], "filler": "y" * (3 * 1024 * 1024)})
    elif path == "/sleep":
        await asyncio.sleep(2)
        await _json(send, {"slow": True})
    elif path == "/page":
        body = b"<!doctype html><title>page</title><a href='/items/0'>item</a>"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
