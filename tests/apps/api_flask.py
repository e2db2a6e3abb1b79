"""A Flask JSON API (served through a2wsgi by ``h2push serve``) for the Preload tests."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.get("/books")
def books() -> ResponseReturnValue:
    return jsonify({"member": [f"/books/{i}" for i in range(3)]})


@app.get("/books/<int:index>")
def book(index: int) -> ResponseReturnValue:
    return jsonify({"id": index, "title": f"Book {index}"})
