"""Hints a browser can reuse, a tracker that never breaks reuse, hints only where a route is.

A browser keeps a hinted response in its HTTP cache and the page reads it from there: the
response must still be fresh then (Flask's static files are ``no-cache`` by default), and the
request's ``Cookie`` must not change in between (a tracker cookie on the page changes it, and
flaskr's static files ``Vary: Cookie``). These tests pin the rules down framework by
framework, in process; tests/test_browser_reuse.py shows Chromium reusing the hints of real apps.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from quart import Quart
from werkzeug.test import TestResponse

from h2push import Manifest
from h2push.asgi import DEFAULT_HINTED_MAX_AGE_S, H2PushMiddleware
from h2push.flask import H2Push, push
from h2push.quart import H2Push as QuartH2Push
from h2push.trackers import tracks

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
H2 = {"http.response.push": {}, "http.response.early_hint": {}}
HINTS_ONLY = {"http.response.early_hint": {}}  # a client that refused push (every browser)

Message = dict[str, Any]


class Recorder:
    """A ``wsgi.early_hints`` callable that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, headers: list[tuple[str, str]]) -> None:
        self.calls.append(headers)


def flask_app(root: Path, manifest: dict[str, Any] | None = None, **config: Any) -> Flask:
    """A Flask app in ``root`` with static files and a page, and a manifest for them."""
    static = root / "static"
    static.mkdir(exist_ok=True)
    for name in ("app.css", "other.css", "late.css"):
        (static / name).write_text("body {}\n")
    entries = manifest if manifest is not None else {"/static/app.css": {"type": "style"}}
    (root / "push_manifest.json").write_text(json.dumps(entries))
    app = Flask("reuse", root_path=str(root))
    app.config.update(config)
    app.add_url_rule("/", "index", lambda: "<p>home</p>")
    return app


def fetch(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    """``client.get(path)``, its file closed (Werkzeug streams static files)."""
    response = client.get(path, **kwargs)
    response.close()
    return response


# --------------------------------------------------------------------------- Flask caching


def test_flask_default_static_gets_a_lifetime_only_for_hinted_files(tmp_path: Path) -> None:
    app = flask_app(tmp_path)
    H2Push(app)
    client = app.test_client()
    hinted = fetch(client, "/static/app.css")
    assert hinted.status_code == 200
    assert hinted.headers["Cache-Control"] == f"max-age={DEFAULT_HINTED_MAX_AGE_S}"
    assert "ETag" in hinted.headers  # still revalidated once the lifetime is over
    assert fetch(client, "/static/other.css").headers["Cache-Control"] == "no-cache"
    # A revalidation of a hinted file is fresh again for the same time.
    again = fetch(client, "/static/app.css", headers={"If-None-Match": hinted.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == f"max-age={DEFAULT_HINTED_MAX_AGE_S}"


@pytest.mark.parametrize(("setting", "expected"), [(300, "max-age=300"), (None, "no-cache")])
def test_flask_hinted_max_age_setting(tmp_path: Path, setting: int | None, expected: str) -> None:
    app = flask_app(tmp_path, H2PUSH_HINTED_MAX_AGE=setting)
    H2Push(app)
    assert fetch(app.test_client(), "/static/app.css").headers["Cache-Control"] == expected


@pytest.mark.parametrize("setting", ["60", -1, True])
def test_flask_hinted_max_age_must_be_seconds(tmp_path: Path, setting: object) -> None:
    app = flask_app(tmp_path, H2PUSH_HINTED_MAX_AGE=setting)
    with pytest.raises((TypeError, ValueError), match="H2PUSH_HINTED_MAX_AGE"):
        H2Push(app)


def test_flask_explicit_lifetime_is_kept_and_a_wasted_hint_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(tmp_path, SEND_FILE_MAX_AGE_DEFAULT=0)  # the app's own choice
    H2Push(app)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="h2push"):
        for _ in range(3):
            cache_control = fetch(client, "/static/app.css").headers["Cache-Control"]
            assert "max-age=0" in cache_control
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "/static/app.css is hinted" in warnings[0]
    assert "revalidate" in warnings[0]


def test_flask_app_lifetime_is_kept(tmp_path: Path) -> None:
    app = flask_app(tmp_path, SEND_FILE_MAX_AGE_DEFAULT=3600)
    H2Push(app)
    cache_control = fetch(app.test_client(), "/static/app.css").headers["Cache-Control"]
    assert "max-age=3600" in cache_control


def test_flask_no_store_is_reported_not_hidden(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask_app(tmp_path, {"/data.json": {"type": "fetch"}})
    H2Push(app)
    app.add_url_rule("/data.json", "data", lambda: ({"a": 1}, 200, {"Cache-Control": "no-store"}))
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="h2push"):
        for _ in range(2):
            assert fetch(client, "/data.json").headers["Cache-Control"] == "no-store"
    assert len(caplog.records) == 1
    assert "/data.json is hinted but served with Cache-Control: no-store" in (
        caplog.records[0].getMessage()
    )


def test_flask_own_get_send_file_max_age_is_kept(tmp_path: Path) -> None:
    class Revalidating(Flask):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            return None  # the app wants revalidation, whatever the config says

    flask_app(tmp_path)
    app = Revalidating("reuse", root_path=str(tmp_path))
    H2Push(app)
    assert fetch(app.test_client(), "/static/app.css").headers["Cache-Control"] == "no-cache"


def test_flask_blueprint_static_and_push_urls_count_as_hinted(tmp_path: Path) -> None:
    app = flask_app(tmp_path, {"/parts/part.css": {"type": "style"}})
    (tmp_path / "bp").mkdir()
    (tmp_path / "bp" / "part.css").write_text("p {}\n")
    app.register_blueprint(
        Blueprint("parts", "reuse", static_folder=str(tmp_path / "bp"), static_url_path="/parts")
    )

    @app.route("/page")
    def page() -> str:
        return push("/static/late.css", as_="style")

    H2Push(app)
    client = app.test_client()
    assert fetch(client, "/parts/part.css").headers["Cache-Control"] == "max-age=60"
    assert fetch(client, "/static/late.css").headers["Cache-Control"] == "no-cache"  # not yet
    fetch(client, "/page", headers=NAVIGATE)
    assert fetch(client, "/static/late.css").headers["Cache-Control"] == "max-age=60"


# --------------------------------------------------------------------------- Flask routes


@pytest.mark.parametrize("path", ["/nope", "/form", "/about"])
def test_flask_no_hints_where_no_route_is(tmp_path: Path, path: str) -> None:
    app = flask_app(tmp_path)
    app.add_url_rule("/form", "form", lambda: "posted", methods=["POST"])
    app.add_url_rule("/about/", "about", lambda: "about")  # /about redirects here
    H2Push(app)
    hints = Recorder()
    response = fetch(
        app.test_client(), path, headers=NAVIGATE, environ_base={"wsgi.early_hints": hints}
    )
    assert response.status_code in (404, 405, 308)
    assert hints.calls == []
    assert "Link" not in response.headers
    # The page itself is still hinted.
    page = fetch(app.test_client(), "/", headers=NAVIGATE, environ_base={"wsgi.early_hints": hints})
    assert page.status_code == 200
    assert hints.calls == [[("Link", "</static/app.css>; rel=preload; as=style")]]


# --------------------------------------------------------------------------- ASGI


def run(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def scope(
    path: str = "/",
    extensions: dict[str, Any] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "2" if extensions else "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers
        if headers is not None
        else [(b"sec-fetch-mode", b"navigate"), (b"host", b"localhost")],
        "extensions": extensions or {},
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
    }


def responder(headers: list[tuple[bytes, bytes]], status: int = 200) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"x"})

    return app


MANIFEST = Manifest.from_dict({"/static/app.css": {"type": "style"}})
HTML = [(b"content-type", b"text/html; charset=utf-8")]


def start_of(sent: list[Message]) -> dict[bytes, bytes]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return dict(start["headers"])


def test_tracks_only_clients_that_can_receive_a_push() -> None:
    assert tracks(can_push=True)
    assert tracks(can_push=False, proxy=True)
    assert not tracks(can_push=False)


@pytest.mark.parametrize(
    ("extensions", "cookie"),
    [(H2, True), (HINTS_ONLY, False), (None, False)],
    ids=["push", "push-refused", "http1.1"],
)
def test_asgi_sets_the_tracker_cookie_only_where_it_can_push(
    extensions: dict[str, Any] | None, cookie: bool
) -> None:
    sent = run(H2PushMiddleware(responder(HTML), manifest=MANIFEST), scope("/", extensions))
    hinted = [m for m in sent if m["type"] == "http.response.early_hint"]
    assert bool(hinted) == (extensions is not None)  # hints go to every HTTP/2 client
    assert (b"set-cookie" in start_of(sent)) == cookie


def test_asgi_no_hints_or_pushes_where_no_route_is() -> None:
    def resolve(path: str, navigation: bool) -> tuple[()] | None:
        return None if path == "/nope" else ()

    app = H2PushMiddleware(responder(HTML, 404), manifest=MANIFEST, preloads=resolve)
    sent = run(app, scope("/nope", H2))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    sent = run(
        H2PushMiddleware(responder(HTML), manifest=MANIFEST, preloads=resolve), scope("/", H2)
    )
    assert [m["type"] for m in sent][:2] == ["http.response.early_hint", "http.response.push"]


def http_date(age_s: float) -> bytes:
    return email.utils.formatdate(time.time() - age_s, usegmt=True).encode()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"last-modified": 1}, b"max-age=60"),  # a file just edited
        ({"last-modified": 10 * 86400}, b"max-age=86400"),  # 10 % of its age
        ({}, None),  # no validator: not cacheable by heuristics, left alone
        ({"last-modified": 1, "expires": -10}, None),
        ({"last-modified": 1, "cache-control": b"max-age=5"}, b"max-age=5"),
    ],
    ids=["fresh-file", "old-file", "no-validator", "expires", "app-choice"],
)
def test_asgi_gives_heuristic_responses_a_lifetime(
    fields: dict[str, int | bytes], expected: bytes | None
) -> None:
    # Dates are made here, not at collection: a test may run minutes after it was collected.
    headers = [
        (name.encode(), value if isinstance(value, bytes) else http_date(value))
        for name, value in fields.items()
    ]
    app = H2PushMiddleware(responder([(b"content-type", b"text/css"), *headers]), manifest=MANIFEST)
    subresource = [(b"sec-fetch-mode", b"no-cors"), (b"host", b"localhost")]
    got = start_of(run(app, scope("/static/app.css", H2, subresource))).get(b"cache-control")
    if expected is not None and expected.startswith(b"max-age=86400"):
        assert got is not None
        assert 86390 <= int(got.split(b"=")[1]) <= 86410
    else:
        assert got == expected
    # A path h2push does not preload is never touched.
    other = start_of(run(app, scope("/static/other.css", H2, subresource)))
    assert other.get(b"cache-control") == dict(headers).get(b"cache-control")


def test_asgi_hinted_max_age_off_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    fresh = [(b"content-type", b"text/css"), (b"last-modified", http_date(1))]
    off = H2PushMiddleware(responder(fresh), manifest=MANIFEST, hinted_max_age_s=None)
    assert b"cache-control" not in start_of(run(off, scope("/static/app.css", H2, [])))
    with pytest.raises(ValueError, match="hinted_max_age_s"):
        H2PushMiddleware(responder(fresh), hinted_max_age_s=-1)
    no_store = H2PushMiddleware(
        responder([(b"content-type", b"text/css"), (b"cache-control", b"no-store")]),
        manifest=MANIFEST,
    )
    with caplog.at_level(logging.WARNING, logger="h2push"):
        for _ in range(2):
            sent = run(no_store, scope("/static/app.css", H2, []))
            assert start_of(sent)[b"cache-control"] == b"no-store"
    assert len(caplog.records) == 1
    assert "/static/app.css is hinted but served with no-store" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("setting", "expected"), [(None, None), (120, 120)])
def test_quart_hinted_max_age_reaches_the_middleware(
    tmp_path: Path, setting: int | None, expected: int | None
) -> None:
    app = Quart("reuse", root_path=str(tmp_path))
    app.config["H2PUSH_HINTED_MAX_AGE"] = setting
    QuartH2Push(app)
    middleware = app.asgi_app
    assert isinstance(middleware, H2PushMiddleware)
    assert middleware.hinted_max_age_s == expected
    app = Quart("reuse", root_path=str(tmp_path))
    app.config["H2PUSH_HINTED_MAX_AGE"] = "60"
    with pytest.raises(TypeError, match="H2PUSH_HINTED_MAX_AGE"):
        QuartH2Push(app)


def test_asgi_keeps_whitenoise_debug_lifetime_and_reports_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # WhiteNoise with DEBUG = True: its choice, kept; the wasted hint is named once.
    whitenoise = [(b"content-type", b"text/css"), (b"cache-control", b"max-age=0, public")]
    app = H2PushMiddleware(responder(whitenoise), manifest=MANIFEST)
    with caplog.at_level(logging.WARNING, logger="h2push"):
        for _ in range(2):
            sent = run(app, scope("/static/app.css", H2, []))
            assert start_of(sent)[b"cache-control"] == b"max-age=0, public"
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "/static/app.css is hinted" in message
    assert "max-age=0, public" in message
    # A lifetime the browser can use is not worth a word.
    caplog.clear()
    kept = [(b"content-type", b"text/css"), (b"cache-control", b"max-age=60, public")]
    with caplog.at_level(logging.WARNING, logger="h2push"):
        sent = run(H2PushMiddleware(responder(kept), manifest=MANIFEST), scope("/static/app.css"))
    assert start_of(sent)[b"cache-control"] == b"max-age=60, public"
    assert caplog.records == []
