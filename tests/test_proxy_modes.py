"""The proxy modes: what a proxy in front gets, per adapter, and what ``proxy=True`` still means.

``"forwards-103"`` (Caddy, Apache httpd, nginx >= 1.29, nghttpx, Cloudflare): the 103 goes to
the proxy, nothing is pushed to it, no client is tracked. ``"pushes-from-link"`` or True (nginx
< 1.25.1, h2o 2.2): no 103, no push, and the Link preloads of a navigation count as delivered,
so a repeat visit links them ``nopush``. ``test_proxies.py`` runs the real proxies; here the
adapters, and ``h2push serve`` (Hypercorn) as nghttp sees it in each mode.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import TLSFiles, free_port, require_module
from h2push._proxy import proxy_mode
from h2push.asgi import H2PushMiddleware
from h2push.flask import H2Push
from nghttp import nghttp
from processes import running
from test_asgi import H2, MANIFEST, NAVIGATE, page, run, scope
from test_flask import Recorder

ROOT = Path(__file__).resolve().parents[1]

FLASK_MANIFEST = '{"/static/app.css": {"type": "style"}, "/static/app.js": {"type": "script"}}'


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, None),
        (False, None),
        (True, "pushes-from-link"),
        ("pushes-from-link", "pushes-from-link"),
        ("forwards-103", "forwards-103"),
    ],
)
def test_proxy_settings_name_a_mode(value: object, mode: str | None) -> None:
    assert proxy_mode(value) == mode


def test_a_wrong_proxy_setting_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="'forwards-103', 'pushes-from-link', True or False"):
        proxy_mode("nginx", "H2PUSH_PROXY")
    with pytest.raises(TypeError, match="H2PUSH_PROXY must be a proxy mode"):
        proxy_mode(1, "H2PUSH_PROXY")


# --------------------------------------------------------------------------- Flask (WSGI)


def _flask(tmp_path: Path, proxy: object) -> Flask:
    (tmp_path / "push_manifest.json").write_text(FLASK_MANIFEST)
    app = Flask(__name__, root_path=str(tmp_path))
    app.config["H2PUSH_PROXY"] = proxy
    H2Push(app)
    app.add_url_rule("/", "index", lambda: "<!doctype html><p>home")
    return app


def _get(client: FlaskClient, hints: Recorder) -> Any:
    # The client's cookie jar carries the tracker's cookie from one request to the next.
    headers = {"Sec-Fetch-Mode": "navigate"}
    return client.get("/", headers=headers, environ_base={"wsgi.early_hints": hints})


def test_flask_forwards_103_sends_the_103_and_tracks_nobody(tmp_path: Path) -> None:
    hints = Recorder()
    response = _get(_flask(tmp_path, "forwards-103").test_client(), hints)
    assert len(hints.calls) == 1  # Gunicorn writes it to the proxy, which forwards it
    assert "Set-Cookie" not in response.headers
    assert "nopush" not in response.headers["Link"]


@pytest.mark.parametrize("proxy", [True, "pushes-from-link"])
def test_flask_pushes_from_link_sends_no_103_and_marks_what_was_delivered(
    tmp_path: Path, proxy: object
) -> None:
    client = _flask(tmp_path, proxy).test_client()
    hints = Recorder()
    first = _get(client, hints)
    assert hints.calls == []
    assert first.headers["Set-Cookie"].startswith("h2push=")
    second = _get(client, hints)
    assert second.headers["Link"].count("nopush") == 2


# --------------------------------------------------------------------------- ASGI


def _types(sent: list[dict[str, Any]]) -> list[str]:
    return [message["type"] for message in sent]


def test_asgi_forwards_103_hints_and_never_pushes_to_the_proxy() -> None:
    sent = run(
        H2PushMiddleware(page(), manifest=MANIFEST, proxy="forwards-103"), scope(extensions=H2)
    )
    assert _types(sent)[0] == "http.response.early_hint"
    assert "http.response.push" not in _types(sent)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert not any(name == b"set-cookie" for name, _ in start["headers"])


@pytest.mark.parametrize("proxy", [True, "pushes-from-link"])
def test_asgi_pushes_from_link_sends_neither_and_tracks(proxy: object) -> None:
    middleware = H2PushMiddleware(page(), manifest=MANIFEST, proxy=proxy)
    sent = run(middleware, scope(extensions=H2))
    assert "http.response.early_hint" not in _types(sent)
    assert "http.response.push" not in _types(sent)
    start = next(m for m in sent if m["type"] == "http.response.start")
    cookies = [value for name, value in start["headers"] if name == b"set-cookie"]
    assert len(cookies) == 1
    again = run(
        middleware,
        scope(
            extensions=H2,
            headers=[*NAVIGATE[:2], (b"cookie", cookies[0].split(b";")[0])],
        ),
    )
    start = next(m for m in again if m["type"] == "http.response.start")
    link = b", ".join(value for name, value in start["headers"] if name == b"link")
    assert link.count(b"nopush") == 3  # the manifest's nopush image, and both delivered


# --------------------------------------------------------------------------- Quart, Django


def test_quart_passes_its_proxy_setting_to_the_middleware(tmp_path: Path) -> None:
    require_module("quart")
    from quart import Quart

    from h2push.quart import H2Push as QuartH2Push

    app = Quart(__name__, root_path=str(tmp_path))
    app.config["H2PUSH_PROXY"] = "forwards-103"
    QuartH2Push(app)
    middleware = app.asgi_app
    assert isinstance(middleware, H2PushMiddleware)
    assert (middleware.proxy, middleware.early_hints, middleware.push) == (
        "forwards-103",
        True,
        False,
    )
    behind_nginx = Quart(__name__, root_path=str(tmp_path))
    QuartH2Push(behind_nginx, proxy=True)
    assert isinstance(behind_nginx.asgi_app, H2PushMiddleware)
    assert behind_nginx.asgi_app.proxy == "pushes-from-link"
    assert not behind_nginx.asgi_app.early_hints
    bad = Quart(__name__, root_path=str(tmp_path))
    bad.config["H2PUSH_PROXY"] = "caddy"
    with pytest.raises(ValueError, match="H2PUSH_PROXY 'caddy' is not a proxy mode"):
        QuartH2Push(bad)


def test_django_reads_h2push_proxy() -> None:
    require_module("django")
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    import test_django  # noqa: F401 - configures Django's settings for the tests
    from h2push.django import H2PushMiddleware as DjangoMiddleware
    from h2push.django import get_asgi_application

    with override_settings(H2PUSH_PROXY="forwards-103"):
        application = get_asgi_application()
    assert isinstance(application, H2PushMiddleware)
    assert (application.proxy, application.early_hints, application.push) == (
        "forwards-103",
        True,
        False,
    )
    with override_settings(H2PUSH_PROXY=True):
        assert not DjangoMiddleware(lambda request: None).settings.early_hints
    with (
        override_settings(H2PUSH_PROXY="h2o"),
        pytest.raises(ImproperlyConfigured, match="H2PUSH_PROXY 'h2o' is not a proxy mode"),
    ):
        DjangoMiddleware(lambda request: None)


# --------------------------------------------------------------------------- h2push serve


@pytest.fixture(scope="module", params=["forwards-103", "pushes-from-link"])
def served(request: pytest.FixtureRequest, tls_files: TLSFiles) -> Iterator[tuple[str, str, Path]]:
    mode = str(request.param)
    port = free_port()
    command = [sys.executable, "-m", "h2push", "serve", "tests.apps.proxy_site:app"]
    command += ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command += ["--bind", f"127.0.0.1:{port}"]
    with running(command, port=port, cwd=ROOT, env={"H2PUSH_PROXY": mode}) as output:
        yield mode, f"https://127.0.0.1:{port}/", output


@pytest.mark.peer
def test_h2push_serve_behind_each_kind_of_proxy(served: tuple[str, str, Path]) -> None:
    mode, url, output = served
    log = nghttp(url, "-H", "accept: text/html")  # a client that takes pushes, as a proxy may
    banner = output.read_text().splitlines()[0]
    if mode == "forwards-103":
        assert len(log.informational) == 1
        assert log.promises == []  # no proxy passes an app's push on to a browser
        assert banner.endswith("(WSGI) with 103 Early Hints"), banner
    else:  # as before the modes had names: no 103, and the pushes h2push serve always made
        assert log.informational == []
        assert len(log.promises) == 3
        assert banner.endswith("(WSGI) with push"), banner
