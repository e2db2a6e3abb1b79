"""A Flask app with H2Push for real-server tests: a slow page whose manifest goes out as a 103.

``GET /`` thinks for :data:`THINK_TIME_S`, then renders a page that also calls ``push()`` in
its template. Its resources are declared in ``flask_site/push_manifest.json`` (single-page, so
a navigation to any page gets them); ``GET /about`` adds its decorator's manifest.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, render_template

from h2push.flask import H2Push, http2push

THINK_TIME_S = 0.2
"""How long ``GET /`` thinks before it renders, in seconds."""

SITE = Path(__file__).with_name("flask_site")

app = Flask(__name__, root_path=str(SITE))
H2Push(app)


@app.get("/")
def index() -> str:
    time.sleep(THINK_TIME_S)
    return render_template("index.html", title="home")


@app.get("/about")
@http2push("about_manifest.json")
def about() -> str:
    return render_template("index.html", title="about")
