"""A Flask app with H2Push for the reverse-proxy matrix (``tests/test_proxies.py``).

Its ``push_manifest.json`` declares a stylesheet, a script and an image; ``GET /`` thinks for
:data:`THINK_TIME_S` before it answers, as a page that queries a database would, so that a 103
sent before the view runs reaches the browser well ahead of the page. The static files are
served with ``max-age=60`` (h2push's default for hinted files), so Chromium can reuse what the
103 preloaded.

``H2PUSH_PROXY`` in the environment sets the proxy mode (``forwards-103``, the default here,
or ``pushes-from-link``), so one module serves every proxy:

* Gunicorn (``gunicorn tests.apps.proxy_site:app``) runs it as WSGI and writes the 103 through
  ``wsgi.early_hints``, over HTTP/1.1 to the proxy;
* ``h2push serve tests.apps.proxy_site:app`` runs it on Hypercorn inside the ASGI middleware,
  which sends the 103 over HTTP/2 (or HTTP/3) only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, Response

from h2push.flask import H2Push

HERE = Path(__file__).resolve().parent

THINK_TIME_S = 0.2
"""How long ``GET /`` thinks before it answers, in seconds."""

#: The same-origin paths the manifest declares, all hinted on a navigation to ``/``.
HINTED = frozenset({"/static/site.css", "/static/site.js", "/static/hero.svg"})

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>proxied</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/site.css">
<script defer src="/static/site.js"></script>
</head>
<body><p>behind a proxy <img src="/static/hero.svg" alt="" width="16" height="16"></p></body>
</html>
"""

app = Flask(__name__, root_path=str(HERE))
app.config["H2PUSH_PROXY"] = os.environ.get("H2PUSH_PROXY", "forwards-103")
H2Push(app)


@app.get("/")
def index() -> Response:
    time.sleep(THINK_TIME_S)
    return Response(PAGE, mimetype="text/html")
