"""A Flask-Firehose app moved to h2push by its import line only.

Written as Flask-Firehose's README shows: ``Firehose(app)``, a ``SECRET_KEY`` for the session
the default connector writes, ``push()`` in a view and in a template. Nothing of h2push's own
is configured. ``GET /page`` pushes two resources: the script from the view, the stylesheet
from the template.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template

from h2push.compat.flask_firehose import Firehose, push

app = Flask(__name__, root_path=str(Path(__file__).resolve().parent))
Firehose(app)
app.config["SECRET_KEY"] = "firehose test key"

#: What ``GET /page`` pushes, in the order of the Link header.
PUSHED = ("/static/js/app.js", "/static/css/main.css")


@app.route("/page")
def page() -> str:
    push("/static/js/app.js", **{"as": "script", "rel": "preload"})
    return render_template("page.html")
