"""The Flask extension's per-route delivery: what one request of a kind gets, the next gets.

H2Push formats the 103 fields and the Link value of an untracked request once per kind of
request (method, path, endpoint, the headers that tell a navigation, whether the server offers
``wsgi.early_hints``) and looks them up afterwards. These tests send mixed sequences of requests
to the same app and check each response against values written out here: nothing one
request did (a ``push()`` call, its own Link header, an error status, a server that changed
the 103's list) may show in the next, and requests that differ only in the headers that tell
a navigation get what their own kind gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, abort, make_response, request

from h2push.flask import H2Push, http2push, push

MAIN_CSS = "</static/css/main.css>; rel=preload; as=style"
APP_JS = "</static/js/app.js>; rel=preload; as=script"
LATE_CSS = "</static/late.css>; rel=preload; as=style"
ABOUT_FONT = "</static/about.woff2>; rel=preload; as=font; crossorigin"
SINGLE_PAGE = {
    "/static/css/main.css": {"type": "style", "weight": 2},
    "/static/js/app.js": {"type": "script", "weight": 1},
}
HTML = {"Accept": "text/html,application/xhtml+xml"}
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Accept": "*/*"}
PAGE = "<head><link rel=stylesheet href=/static/app.css></head><body>home"


def links(response: Any) -> list[str]:
    """The response's Link values, split on the commas between link-values."""
    return [v for field in response.headers.getlist("Link") for v in field.split(", ")]


def make_app(root: Path, manifest: object = SINGLE_PAGE) -> Flask:
    (root / "push_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    app = Flask(__name__, root_path=str(root))
    app.config.update(TESTING=True)
    H2Push(app)
    return app


def test_each_request_of_a_kind_gets_the_route_and_only_its_own_push_calls(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)

    @app.route("/")
    def index() -> Any:
        if "late" in request.args:
            push("/static/late.css", as_="style")
        if "own" in request.args:
            response = make_response("home")
            response.headers["Link"] = "</own.js>; rel=preload; as=script"
            return response
        if "missing" in request.args:
            abort(404)
        return "home"

    client = app.test_client()
    sequence = [
        ("/", [MAIN_CSS, APP_JS]),
        ("/?late=1", [MAIN_CSS, APP_JS, LATE_CSS]),
        ("/", [MAIN_CSS, APP_JS]),
        ("/?own=1", ["</own.js>; rel=preload; as=script", MAIN_CSS, APP_JS]),
        ("/?missing=1", []),
        ("/", [MAIN_CSS, APP_JS]),
        ("/?late=1&own=1", ["</own.js>; rel=preload; as=script", MAIN_CSS, APP_JS, LATE_CSS]),
        ("/", [MAIN_CSS, APP_JS]),
    ]
    for url, expected in sequence:
        response = client.get(url, headers=HTML)
        assert links(response) == expected, url
        assert len(response.headers.getlist("Link")) == (1 if expected else 0), url


def test_the_same_path_gets_what_its_kind_of_request_gets(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.add_url_rule("/", "index", lambda: "home")
    client = app.test_client()
    # A single-page manifest is for navigations: Sec-Fetch-Mode says so, or else Accept.
    sequence: list[tuple[dict[str, str], list[str]]] = [
        (HTML, [MAIN_CSS, APP_JS]),
        ({"Accept": "*/*"}, []),
        (NAVIGATE, [MAIN_CSS, APP_JS]),
        ({"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, []),
        ({}, []),
        (HTML, [MAIN_CSS, APP_JS]),
        ({"Accept": "*/*"}, []),
    ]
    for headers, expected in sequence:
        assert links(client.get("/", headers=headers)) == expected, headers
    assert links(client.post("/", headers=HTML)) == []  # 405: no route takes it


def test_each_path_and_view_gets_its_own_preloads(tmp_path: Path) -> None:
    (tmp_path / "about.json").write_text(
        json.dumps({"/static/about.woff2": {"type": "font", "weight": 1}}), encoding="utf-8"
    )
    app = make_app(
        tmp_path,
        {
            "index.html": {"/static/css/main.css": {"type": "style", "weight": 2}},
            "shop.html": {"/static/js/app.js": {"type": "script", "weight": 1}},
        },
    )
    app.add_url_rule("/", "index", lambda: "home")
    app.add_url_rule("/shop", "shop", lambda: "shop")
    app.add_url_rule("/about", "about", http2push("about.json")(lambda: "about"))
    client = app.test_client()
    expected = {"/": [MAIN_CSS], "/shop": [APP_JS], "/about": [ABOUT_FONT]}
    for path in ["/", "/shop", "/about", "/", "/about", "/shop", "/"]:
        assert links(client.get(path, headers=HTML)) == expected[path], path


def test_every_103_carries_the_whole_list_whatever_the_server_did_with_the_last(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    app.add_url_rule("/", "index", lambda: "home")
    calls: list[list[tuple[str, str]]] = []

    def send_hints(headers: list[tuple[str, str]]) -> None:
        calls.append(list(headers))
        headers.clear()  # a server may consume the list it is given
        headers.append(("Link", "</changed>; rel=preload; as=style"))

    client = app.test_client()
    for _ in range(3):
        response = client.get("/", headers=HTML, environ_base={"wsgi.early_hints": send_hints})
        assert links(response) == [MAIN_CSS, APP_JS]
    assert calls == [[("Link", MAIN_CSS), ("Link", APP_JS)]] * 3
    # The same path served without wsgi.early_hints: no 103, the same Link header.
    assert links(client.get("/", headers=HTML)) == [MAIN_CSS, APP_JS]
    assert len(calls) == 3


def test_many_paths_are_served_each_with_its_own_link_and_the_memory_stays_bounded(
    tmp_path: Path,
) -> None:
    app = make_app(
        tmp_path,
        {f"page{i}.html": {f"/static/{i}.css": {"type": "style"}} for i in range(3)},
    )

    @app.route("/<name>")
    def page(name: str) -> str:
        return name

    client = app.test_client()
    for i in range(1100):
        expected = [f"</static/{i % 3}.css>; rel=preload; as=style"]
        assert links(client.get(f"/page{i % 3}", headers=HTML)) == expected
        assert links(client.get(f"/other{i}", headers=HTML)) == []
    long_path = "/page" + "x" * 600
    assert links(client.get(long_path, headers=HTML)) == []
    assert len(app.extensions["h2push"].routes) <= 1024


def test_a_learned_pages_stylesheet_teaches_its_font_through_flasks_static_view(
    tmp_path: Path,
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text(
        '@font-face { font-family: A; src: url("/static/a.woff2") format("woff2"); }\n'
        "body { font-family: A; }\n",
        encoding="utf-8",
    )
    app = Flask("learns", root_path=str(tmp_path))  # no manifest: the route learns
    app.add_url_rule("/", "index", lambda: PAGE)
    H2Push(app)
    client = app.test_client()
    sent: list[list[tuple[str, str]]] = []

    def navigate() -> list[str]:
        sent.clear()
        response = client.get("/", headers=NAVIGATE, environ_base={"wsgi.early_hints": sent.append})
        assert response.data.endswith(b"home")  # read whole: the lesson ends
        return [value for hints in sent for _, value in hints]

    def stylesheet() -> Any:
        response = client.get("/static/app.css", headers={"Accept": "text/css,*/*;q=0.1"})
        assert response.data.startswith(b"@font-face")  # read whole: the lesson ends
        response.close()
        return response

    assert navigate() == []  # the page is read as it goes out
    assert navigate() == ["</static/app.css>; rel=preload; as=style"]
    # The stylesheet, now hinted: Flask's default no-cache would waste the hint.
    assert stylesheet().headers["Cache-Control"] == "max-age=60"
    assert navigate() == [
        "</static/app.css>; rel=preload; as=style",
        '</static/a.woff2>; rel=preload; as=font; type="font/woff2"; crossorigin',
    ]
