"""The Quart extension: Flask's API (``H2Push``, ``@http2push``, ``push()``) on Quart.

Settings, manifests and Link headers are checked with Quart's test client (no ASGI extensions,
as over HTTP/1.1); 103 Early Hints and pushes on a real Hypercorn over HTTP/2 through
:mod:`h2push.testing`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import require_module

require_module("quart")

from quart import Quart, make_push_promise, render_template_string

from h2push._core.manifest import Manifest, ManifestError
from h2push.asgi import H2PushMiddleware
from h2push.quart import H2Push, http2push, preloads_resolver, push
from h2push.testing import ServeFactory, assert_hinted, assert_linked, assert_pushed

pytest_plugins = ["h2push.testing"]

NAVIGATE = {"Accept": "text/html"}
SITE = {"/static/site.css": {"type": "style", "weight": 2}}
ABOUT = {"/static/about.css": {"type": "style", "weight": 1}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "push_manifest.json").write_text(json.dumps(SITE))
    (tmp_path / "about.json").write_text(json.dumps(ABOUT))
    static = tmp_path / "static"
    static.mkdir()
    for name in ("site.css", "about.css", "view.js", "tpl.css", "own.js"):
        (static / name).write_text(f"/* {name} */")
    return tmp_path


def make_app(root: Path, **config: Any) -> Quart:
    app = Quart("quart_site", root_path=str(root))
    app.config.update(config)

    @app.get("/")
    async def index() -> str:
        return "<p>index"

    @app.get("/about")
    @http2push("about.json")
    async def about() -> str:
        push("/static/view.js", as_="script")
        return await render_template_string(
            "<link rel=stylesheet href=\"{{ push('/static/tpl.css', as='style') }}\">"
        )

    return app


def get(app: Quart, path: str, headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    async def call() -> tuple[int, str | None]:
        response = await app.test_client().get(path, headers=headers or {})
        return response.status_code, response.headers.get("Link")

    return asyncio.run(asyncio.wait_for(call(), timeout=10))


def test_app_and_view_manifests_and_push_calls_reach_the_link_header(root: Path) -> None:
    app = make_app(root)
    H2Push(app)

    status, link = get(app, "/about", NAVIGATE)

    assert status == 200
    assert link == (
        "</static/site.css>; rel=preload; as=style, </static/about.css>; rel=preload; as=style,"
        " </static/view.js>; rel=preload; as=script, </static/tpl.css>; rel=preload; as=style"
    )
    # Not a navigation: the single-page app manifest stays out, the view's applies.
    assert get(app, "/about")[1] == (
        "</static/about.css>; rel=preload; as=style, </static/view.js>; rel=preload; as=script,"
        " </static/tpl.css>; rel=preload; as=style"
    )
    assert get(app, "/", NAVIGATE)[1] == "</static/site.css>; rel=preload; as=style"


def test_init_app_wraps_asgi_app_once(root: Path) -> None:
    app = make_app(root)
    extension = H2Push()
    extension.init_app(app)

    assert isinstance(app.asgi_app, H2PushMiddleware)
    assert "h2push" in app.extensions
    assert not hasattr(extension, "app")  # nothing about the app is kept on the extension
    with pytest.raises(RuntimeError, match="already initialised"):
        extension.init_app(app)


def test_config_keys_override_the_arguments(root: Path) -> None:
    app = make_app(
        root,
        H2PUSH_MANIFEST=None,
        H2PUSH_MAX_PUSHES=1,
        H2PUSH_MAX_PUSHES_PER_CONNECTION=3,
        H2PUSH_EARLY_HINTS=False,
    )
    H2Push(app, max_pushes=5, max_pushes_per_connection=50)
    middleware = app.asgi_app

    assert isinstance(middleware, H2PushMiddleware)
    assert middleware.manifest is None
    assert (middleware.max_pushes, middleware.early_hints, middleware.push) == (1, False, True)
    assert middleware.max_pushes_per_connection == 3


def test_disabled_adds_nothing_and_push_still_returns_the_url(root: Path) -> None:
    app = make_app(root, H2PUSH_ENABLED=False)
    H2Push(app)

    status, link = get(app, "/about", NAVIGATE)

    assert not isinstance(app.asgi_app, H2PushMiddleware)
    assert (status, link) == (200, None)


def test_a_missing_default_manifest_is_none_an_explicit_one_an_error(tmp_path: Path) -> None:
    H2Push(Quart("empty", root_path=str(tmp_path)))
    with pytest.raises(ManifestError, match=r"missing\.json"):
        H2Push(Quart("explicit", root_path=str(tmp_path)), manifest="missing.json")
    loaded = Manifest.from_dict(SITE)
    app = Quart("given", root_path=str(tmp_path))
    H2Push(app, manifest=loaded)
    assert isinstance(app.asgi_app, H2PushMiddleware)
    assert app.asgi_app.manifest is loaded


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"H2PUSH_MAX_PUSHES": -1}, ValueError),
        ({"H2PUSH_MAX_PUSHES": True}, TypeError),
        ({"H2PUSH_MAX_PUSHES_PER_CONNECTION": -1}, ValueError),
        ({"H2PUSH_MAX_PUSHES_PER_CONNECTION": None}, TypeError),
        ({"H2PUSH_EARLY_HINTS": "yes"}, TypeError),
        ({"H2PUSH_ENABLED": 1}, TypeError),
        ({"H2PUSH_MANIFEST": 42}, TypeError),
    ],
)
def test_bad_settings_fail_at_init(root: Path, config: dict[str, Any], error: type) -> None:
    with pytest.raises(error, match=next(iter(config))):
        H2Push(make_app(root, **config))


def test_a_bad_view_manifest_fails_at_init(root: Path) -> None:
    app = make_app(root)

    @app.get("/broken")
    @http2push("nope.json")
    async def broken() -> str:
        return "broken"

    with pytest.raises(ManifestError, match=r"nope\.json"):
        H2Push(app)


def test_resolver_matches_views_as_a_get(root: Path) -> None:
    app = make_app(root)
    assert preloads_resolver(app) is None  # no H2Push yet
    H2Push(app)
    resolve = preloads_resolver(app)

    assert resolve is not None
    assert [p.url for p in resolve("/about", False)] == ["/static/about.css"]
    assert list(resolve("/", True)) == []
    assert resolve("/nowhere", True) is None  # no route: no 103, no push
    assert preloads_resolver(object()) is None


def test_push_outside_a_request_or_without_the_extension_says_so(root: Path) -> None:
    with pytest.raises(RuntimeError, match="request context"):
        push("/a.css", as_="style")

    app = Quart("bare", root_path=str(root))

    @app.get("/")
    async def index() -> str:
        return push("/a.css", as_="style")

    async def call() -> int:
        return (await app.test_client().get("/")).status_code

    assert asyncio.run(call()) == 500


@pytest.mark.parametrize(
    ("flags", "attrs", "error"),
    [
        (("eager",), {}, ValueError),
        ((), {"as": "stylesheet"}, ValueError),
        ((), {"colour": "red"}, TypeError),
        (("nopush",), {"nopush": True}, TypeError),
    ],
)
def test_push_refuses_bad_arguments_even_when_disabled(
    root: Path, flags: tuple[str, ...], attrs: dict[str, Any], error: type
) -> None:
    failures: list[BaseException] = []
    app = Quart("args", root_path=str(root))
    app.config["H2PUSH_ENABLED"] = False
    H2Push(app)

    @app.get("/")
    async def index() -> str:
        try:
            push("/a.css", *flags, strict=True, **attrs)
        except Exception as exc:
            failures.append(exc)
        return "ok"

    assert get(app, "/")[0] == 200
    assert len(failures) == 1
    assert isinstance(failures[0], error)


# --------------------------------------------------------------------------- a real server


@pytest.mark.peer
def test_hints_and_pushes_over_http2(root: Path, h2push_serve: ServeFactory) -> None:
    app = make_app(root)
    H2Push(app)
    server = h2push_serve(app)

    result = server.fetch("/about")

    assert result.status == 200
    assert_hinted(result, ["/static/site.css", "/static/about.css"], exact=True)
    assert result.pushed_paths[:2] == ("/static/site.css", "/static/about.css")  # before the view
    assert_pushed(
        result,
        ["/static/site.css", "/static/about.css", "/static/view.js", "/static/tpl.css"],
        exact=True,
    )
    assert_linked(result, ["/static/view.js", "/static/tpl.css"])


@pytest.mark.peer
def test_quarts_make_push_promise_works_beside_it(root: Path, h2push_serve: ServeFactory) -> None:
    app = make_app(root)
    H2Push(app)

    @app.get("/own")
    async def own() -> str:
        await make_push_promise("/static/own.js")
        return "<p>own"

    result = h2push_serve(app).fetch("/own", timeout_s=2)  # a stuck push waits no longer

    assert result.status == 200
    assert_hinted(result, ["/static/site.css"], exact=True)
    assert_pushed(result, ["/static/site.css", "/static/own.js"], exact=True)
