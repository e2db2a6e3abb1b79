"""h2push example: a Starlette app whose page sends its stylesheet, font and script early.

Serve it over HTTP/2, with 103 Early Hints and server push, from this directory::

    h2push serve app:app        # or: hypercorn --certfile cert.pem --keyfile key.pem app:app
"""

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from h2push.starlette import H2PushMiddleware, http2push, preloads_resolver, push

HERE = Path(__file__).resolve().parent
THINK_TIME_S = 0.2
"""How long the home page thinks (a database query, say); the 103 goes out before."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>h2push example: Starlette</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">{extra}
<script src="/static/app.js" defer></script>
</head>
<body>
<h1>Starlette</h1>
<div class="card">
  <img src="{logo}" alt="" width="64" height="64">
  <p>Delivered by 103 Early Hints: <span id="hinted">(filled in by app.js)</span></p>
</div>
</body>
</html>
"""


def page(request: Request, extra: str = "") -> HTMLResponse:
    """The page, with ``extra`` in its head."""
    logo = push(request, "/static/logo.svg", as_="image")  # linked, and pushed as the page starts
    return HTMLResponse(PAGE.format(extra=extra, logo=logo))


async def index(request: Request) -> HTMLResponse:
    """The home page: thinks, then renders."""
    await asyncio.sleep(THINK_TIME_S)
    return page(request)


@http2push("about_manifest.json")  # this page also preloads its own stylesheet
async def about(request: Request) -> HTMLResponse:
    """The about page, with its route's own manifest."""
    return page(request, '\n<link rel="stylesheet" href="/static/about.css">')


app = Starlette(
    routes=[
        Route("/", index),
        Route("/about", about),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
)
app.add_middleware(
    H2PushMiddleware,
    manifest=HERE / "push_manifest.json",  # every page's stylesheet, font and script
    preloads=preloads_resolver(app),  # the @http2push manifest of the route a path matches
)
