"""The same site on h2push's own API, as docs/migrating.md's second step writes it."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template

from h2push.flask import H2Push, SessionTracker, push

app = Flask(__name__, root_path=str(Path(__file__).resolve().parent))
H2Push(app, tracker=SessionTracker(), proxy=True)
app.config["SECRET_KEY"] = "firehose test key"


@app.route("/page")
def page() -> str:
    push("/static/js/app.js", as_="script")
    return render_template("page.html")
