"""A small Flask app set up well for 103 Early Hints: cacheable static files, a slow page.

It serves the pages of ``flask_site`` with ``H2Push(app)`` and the site's ``push_manifest.json``,
and sets ``SEND_FILE_MAX_AGE_DEFAULT`` so that its static files are cacheable (Flask's default,
``Cache-Control: no-cache``, makes a browser fetch a hinted file again). ``h2push check`` finds
every hint used.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, render_template

from h2push.flask import H2Push

THINK_TIME_S = 0.15
"""How long ``GET /`` thinks before it renders, in seconds."""

SITE = Path(__file__).with_name("flask_site")

app = Flask(__name__, root_path=str(SITE))
app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
H2Push(app)


@app.get("/")
def index() -> str:
    time.sleep(THINK_TIME_S)
    return render_template("index.html", title="checked")
