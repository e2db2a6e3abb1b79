"""h2push example: a Flask app whose page sends its stylesheet, font and script early.

Serve it over HTTP/2, with 103 Early Hints and server push, from this directory::

    h2push serve app:app

or under Gunicorn (25 or later), which sends the manifest as a 103 over HTTP/1.1::

    gunicorn app:app
"""

import time

from flask import Flask, render_template

from h2push.flask import H2Push, http2push

THINK_TIME_S = 0.2
"""How long the home page thinks (a database query, say); the 103 goes out before."""

app = Flask(__name__)
app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600  # hinted files must be cacheable
H2Push(app)  # push_manifest.json next to this file: every page's stylesheet, font and script


@app.get("/")
def index() -> str:
    """The home page: thinks, then renders."""
    time.sleep(THINK_TIME_S)
    return render_template("index.html", framework="Flask")


@app.get("/about")
@http2push("about_manifest.json")  # this page also preloads its own stylesheet
def about() -> str:
    """The about page, with its route's own manifest."""
    return render_template("index.html", framework="Flask", about=True)
