"""A Flask app with H2Push to run behind a reverse proxy (nginx, h2o) on plain HTTP/1.x.

Its single-page ``push_manifest.json`` declares a stylesheet, a font and a script to push and an
image marked ``nopush``. ``GET /`` sets a Link value of its own (a ``preconnect``), which h2push
must keep, ahead of the manifest's preloads. Over WSGI h2push only writes the Link header; the
proxy in front (``http2_push_preload on`` in nginx, ``http2-push-preload`` in h2o) turns its
``rel=preload`` values into HTTP/2 pushes.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response

from h2push.flask import H2Push

HERE = Path(__file__).resolve().parent

#: The Link value the view sets itself.
APP_LINK = "<https://cdn.example>; rel=preconnect"

#: (path, pushed by the proxy) for each manifest entry, in weight order.
MANIFEST = (
    ("/static/site.css", True),
    ("/static/font.woff2", True),
    ("/static/site.js", True),
    ("/static/hero.svg", False),
)

app = Flask(__name__, root_path=str(HERE))
H2Push(app, proxy=True)  # nginx or h2o in front pushes from the Link header


@app.get("/")
def index() -> Response:
    html = (
        "<!doctype html><title>proxied</title>"
        '<link rel=stylesheet href="/static/site.css"><script defer src="/static/site.js"></script>'
        '<p>proxied <img src="/static/hero.svg" alt="">'
    )
    response = Response(html, mimetype="text/html")
    response.headers["Link"] = APP_LINK
    return response
