"""A Starlette app with h2push whose pages each show one thing ``h2push check`` must tell.

Every page thinks for :data:`THINK_TIME_S` before it answers, so a 103 Early Hints response
(RFC 8297) sent by :class:`h2push.asgi.H2PushMiddleware` leads the page. The multi-page manifest
:data:`MANIFEST` hints each page's resources; the static files are cacheable
(``Cache-Control: public, max-age=3600``) unless a page is about caching:

* ``/`` is well configured: its stylesheet, script and the font its stylesheet uses are all
  hinted, the font with ``crossorigin``. Chromium uses every hint.
* ``/no-store`` hints ``/static/no-store.css``, which is served ``Cache-Control: no-store``.
* ``/no-cache`` hints ``/static/no-cache.css``, served ``Cache-Control: no-cache``.
* ``/vary`` hints ``/static/vary.css``, served with ``Vary: Cookie``, and the page sets a cookie.
* ``/missing`` hints ``/static/missing.css``, which answers 404.
* ``/unused`` hints ``/static/unused.js``, which the page never asks for.
* ``/font-link`` has no manifest entry; the view sets its own
  ``Link: </static/font.woff2>; rel=preload; as=font`` without ``crossorigin``, while the page's
  stylesheet loads the font (fonts are always fetched in CORS mode).
* ``/late`` hints its stylesheet but not the font the stylesheet uses: a late discovery.

The font is not a valid font file: Chromium fetches it all the same, and the text falls back.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from h2push._core.manifest import Manifest
from h2push.asgi import H2PushMiddleware

THINK_TIME_S = 0.15
"""How long each page thinks before it answers, in seconds."""

CACHEABLE = "public, max-age=3600"

MANIFEST = {
    "/": {
        "/static/site.css": {"type": "style", "weight": 3},
        "/static/app.js": {"type": "script", "weight": 2},
        "/static/font.woff2": {"type": "font", "weight": 1, "crossorigin": "anonymous"},
    },
    "/no-store": {"/static/no-store.css": {"type": "style", "weight": 1}},
    "/no-cache": {"/static/no-cache.css": {"type": "style", "weight": 1}},
    "/vary": {"/static/vary.css": {"type": "style", "weight": 1}},
    "/missing": {"/static/missing.css": {"type": "style", "weight": 1}},
    "/unused": {
        "/static/plain.css": {"type": "style", "weight": 2},
        "/static/unused.js": {"type": "script", "weight": 1},
    },
    "/late": {"/static/site.css": {"type": "style", "weight": 1}},
}

FONT_CSS = (
    '@font-face { font-family: "Check"; src: url("/static/font.woff2") format("woff2"); }\n'
    'body { font-family: "Check", sans-serif; color: #123; }\n'
)

# path -> (content type, body, Cache-Control)
FILES: dict[str, tuple[str, bytes, str]] = {
    "/static/site.css": ("text/css", FONT_CSS.encode(), CACHEABLE),
    "/static/plain.css": ("text/css", b"body { color: #321; }\n", CACHEABLE),
    "/static/no-store.css": ("text/css", b"body { color: #231; }\n", "no-store"),
    "/static/no-cache.css": ("text/css", b"body { color: #312; }\n", "no-cache"),
    "/static/vary.css": ("text/css", b"body { color: #132; }\n", CACHEABLE),
    "/static/app.js": (
        "text/javascript",
        b"document.documentElement.dataset.ran = '1';\n",
        CACHEABLE,
    ),
    "/static/unused.js": ("text/javascript", b"/* never asked for */\n" * 200, CACHEABLE),
    "/static/font.woff2": ("font/woff2", b"wOF2" + bytes(2044), CACHEABLE),
}

PAGES: dict[str, tuple[str, ...]] = {
    "/": (
        '<link rel="stylesheet" href="/static/site.css">',
        '<script src="/static/app.js"></script>',
    ),
    "/no-store": ('<link rel="stylesheet" href="/static/no-store.css">',),
    "/no-cache": ('<link rel="stylesheet" href="/static/no-cache.css">',),
    "/vary": ('<link rel="stylesheet" href="/static/vary.css">',),
    "/missing": ('<link rel="stylesheet" href="/static/missing.css">',),
    "/unused": ('<link rel="stylesheet" href="/static/plain.css">',),
    "/font-link": ('<link rel="stylesheet" href="/static/site.css">',),
    "/late": ('<link rel="stylesheet" href="/static/site.css">',),
}


def _page(head: tuple[str, ...]) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<title>check</title>\n<link rel="icon" href="data:,">\n'
        + "\n".join(head)
        + "\n</head>\n<body><p>Checked text in the page's font.</p></body>\n</html>\n"
    )


async def page(request: Request) -> Response:
    await asyncio.sleep(THINK_TIME_S)
    response = HTMLResponse(_page(PAGES[request.url.path]))
    if request.url.path == "/font-link":
        response.headers["Link"] = "</static/font.woff2>; rel=preload; as=font"
    if request.url.path == "/vary":
        response.set_cookie("visited", "1")
    return response


async def static(request: Request) -> Response:
    content_type, body, cache_control = FILES[request.url.path]
    headers = {"Cache-Control": cache_control}
    if request.url.path == "/static/vary.css":
        headers["Vary"] = "Cookie"
    return Response(body, media_type=content_type, headers=headers)


app = Starlette(
    routes=[
        *(Route(path, page) for path in PAGES),
        *(Route(path, static) for path in FILES),
    ],
    middleware=[
        Middleware(
            H2PushMiddleware,
            manifest=Manifest.from_dict(MANIFEST, source="check_app.MANIFEST"),
            tracker=None,
            # Each page shows one configuration for h2push check to diagnose, as declared:
            # learning would hint /font-link's font itself (with crossorigin) from the second
            # load on. Plain Hypercorn names no connection, and loopback reuses a closed
            # connection's client port at once: without a per-connection ledger no new
            # connection is taken for an old one and pushed less.
            learn=False,
            max_pushes_per_connection=None,
        )
    ],
)
