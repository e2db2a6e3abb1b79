"""h2push example: a FastAPI app whose page sends its stylesheet, font and script early.

Serve it over HTTP/2, with 103 Early Hints and server push, from this directory::

    h2push serve app:app        # or: hypercorn --certfile cert.pem --keyfile key.pem app:app
"""

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from h2push.starlette import H2PushMiddleware, http2push, preloads_resolver, push

HERE = Path(__file__).resolve().parent
THINK_TIME_S = 0.2
"""How long the home page thinks (a database query, say); the 103 goes out before."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>h2push example: FastAPI</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">{extra}
<script src="/static/app.js" defer></script>
</head>
<body>
<h1>FastAPI</h1>
<div class="card">
  <img src="{logo}" alt="" width="64" height="64">
  <p>Delivered by 103 Early Hints: <span id="hinted">(filled in by app.js)</span></p>
</div>
</body>
</html>
"""

app = FastAPI()
app.add_middleware(
    H2PushMiddleware,
    manifest=HERE / "push_manifest.json",  # every page's stylesheet, font and script
    preloads=preloads_resolver(app),  # the @http2push manifest of the route a path matches
)
app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def page(request: Request, extra: str = "") -> str:
    """The page, with ``extra`` in its head."""
    logo = push(request, "/static/logo.svg", as_="image")  # linked, and pushed as the page starts
    return PAGE.format(extra=extra, logo=logo)


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> str:
    """The home page: thinks, then renders."""
    await asyncio.sleep(THINK_TIME_S)
    return page(request)


@app.get("/about", response_class=HTMLResponse)
@http2push("about_manifest.json")  # this page also preloads its own stylesheet
async def about(request: Request) -> str:
    """The about page, with its route's own manifest."""
    return page(request, '\n<link rel="stylesheet" href="/static/about.css">')
