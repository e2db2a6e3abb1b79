"""h2push example: a Quart app whose page sends its stylesheet, font and script early.

Serve it over HTTP/2, with 103 Early Hints and server push, from this directory::

    h2push serve app:app        # or: hypercorn --certfile cert.pem --keyfile key.pem app:app
"""

import asyncio

from quart import Quart, render_template

from h2push.quart import H2Push, http2push

THINK_TIME_S = 0.2
"""How long the home page thinks (a database query, say); the 103 goes out before."""

app = Quart(__name__)
app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600  # hinted files must be cacheable
H2Push(app)  # push_manifest.json next to this file: every page's stylesheet, font and script


@app.get("/")
async def index() -> str:
    """The home page: thinks, then renders."""
    await asyncio.sleep(THINK_TIME_S)
    return await render_template("index.html", framework="Quart")


@app.get("/about")
@http2push("about_manifest.json")  # this page also preloads its own stylesheet
async def about() -> str:
    """The about page, with its route's own manifest."""
    return await render_template("index.html", framework="Quart", about=True)
