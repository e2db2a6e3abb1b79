"""Starlette and FastAPI: per-route manifests, ``push(request, ...)``, and Starlette's own push.

Route matching and the Link header are checked by calling the ASGI app directly, without ASGI
extensions (what HTTP/1.1 gets); 103 Early Hints and pushes through a real Hypercorn over HTTP/2,
started with :mod:`h2push.testing` exactly as a user's own suite would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import require_module

require_module("starlette")

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from h2push._core.manifest import Manifest, ManifestError
from h2push.starlette import H2PushMiddleware, http2push, preloads_resolver, push, route_manifest
from h2push.testing import ServeFactory, assert_hinted, assert_linked, assert_pushed

pytest_plugins = ["h2push.testing"]

NAVIGATE = {"accept": "text/html", "sec-fetch-mode": "navigate"}
SITE = Manifest.from_dict({"/static/site.css": {"type": "style", "weight": 2}})
ABOUT = Manifest.from_dict({"/static/about.css": {"type": "style", "weight": 1}})
POST = Manifest.from_dict(
    {"/static/post.js": {"type": "script"}, "/static/post.woff2": {"type": "font"}}
)


async def css(request: Request) -> Response:
    return PlainTextResponse("body {}", media_type="text/css")


async def home(request: Request) -> Response:
    return HTMLResponse("<p>home")


@http2push(ABOUT)
async def about(request: Request) -> Response:
    push(request, "/static/chart.js", as_="script")
    return HTMLResponse("<p>about")


@http2push(POST)
async def post(request: Request) -> Response:
    return HTMLResponse(f"<p>{request.path_params['slug']}")


@http2push(ABOUT)
async def form(request: Request) -> Response:
    return HTMLResponse("<p>posted")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


def get(
    app: Any, path: str, headers: dict[str, str] | None = None, *, scheme: str = "http"
) -> Reply:
    """GET ``path`` from an ASGI app, as a server without extensions would (HTTP/1.1)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "server": ("testserver", 443 if scheme == "https" else 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    start = next(m for m in messages if m["type"] == "http.response.start")
    return Reply(
        status=start["status"],
        headers={k.decode(): v.decode() for k, v in start["headers"]},
        text=b"".join(m.get("body", b"") for m in messages[1:]).decode(),
    )


def _app(tmp_path: Path | None = None) -> Starlette:
    routes = [
        Route("/", home),
        Route("/about", about),
        Route("/form", form, methods=["POST"]),
        Mount("/blog", routes=[Route("/{slug}", post)]),
        Route("/static/{name}", css),
    ]
    if tmp_path is not None:
        routes.append(Mount("/files", StaticFiles(directory=tmp_path)))
    app = Starlette(routes=routes)
    app.add_middleware(H2PushMiddleware, manifest=SITE, preloads=preloads_resolver(app))
    return app


# --------------------------------------------------------------------------- the decorator


def test_http2push_marks_the_endpoint_and_returns_it_unchanged() -> None:
    async def endpoint(request: Request) -> Response:
        return Response()

    assert http2push(ABOUT)(endpoint) is endpoint
    assert route_manifest(endpoint) is ABOUT
    assert route_manifest(home) is None


def test_http2push_reads_a_relative_path_next_to_the_endpoints_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "page_manifest.json").write_text(json.dumps({"/p.css": {"type": "style"}}))
    (tmp_path / "routes_mod.py").write_text(
        textwrap.dedent(
            """
            from h2push.starlette import http2push

            @http2push("page_manifest.json")
            async def page(request):
                ...
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir("/")  # not the current directory: the module's
    try:
        import routes_mod
    finally:
        sys.modules.pop("routes_mod", None)

    manifest = route_manifest(routes_mod.page)
    assert manifest is not None
    assert [p.url for p in manifest.preloads_for("/")] == ["/p.css"]


def test_http2push_refuses_a_missing_file_when_decorating(tmp_path: Path) -> None:
    async def endpoint(request: Request) -> Response:
        return Response()

    decorator = http2push(tmp_path / "nope.json")
    with pytest.raises(ManifestError, match=r"nope\.json"):
        decorator(endpoint)


def test_http2push_needs_parentheses() -> None:
    with pytest.raises(TypeError, match=r"@http2push\(\)"):
        http2push(home)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the resolver


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/about", ["/static/about.css"]),
        ("/blog/hello", ["/static/post.js", "/static/post.woff2"]),  # through a Mount
        ("/", []),  # an undecorated endpoint
        ("/form", None),  # only POST routes there: a GET would be answered 405
        ("/nowhere", None),  # 404: no hints, not even the middleware's manifest
        ("/files/site.css", []),  # a mounted app has no endpoint to decorate
    ],
)
def test_resolver_finds_the_manifest_of_the_route_a_get_reaches(
    tmp_path: Path, path: str, expected: list[str] | None
) -> None:
    resolve = preloads_resolver(_app(tmp_path))
    assert resolve is not None
    for navigation in (True, False):
        # A route's manifest applies to every request of it, navigation or not.
        found = resolve(path, navigation)
        assert (None if found is None else [p.url for p in found]) == expected


def test_resolver_is_none_for_what_has_no_starlette_routes() -> None:
    assert preloads_resolver(object()) is None
    assert preloads_resolver(lambda scope, receive, send: None) is None


def test_fastapi_routes_added_after_the_middleware_count() -> None:
    fastapi = require_module("fastapi")
    app = fastapi.FastAPI()
    app.add_middleware(H2PushMiddleware, preloads=preloads_resolver(app))

    @app.get("/about")
    @http2push(ABOUT)
    async def about_page() -> dict[str, str]:
        return {"page": "about"}

    @http2push(POST)  # over the route decorator works too
    @app.get("/post")
    async def post_page() -> dict[str, str]:
        return {"page": "post"}

    about_response = get(app, "/about", NAVIGATE)
    post_response = get(app, "/post")

    assert json.loads(about_response.text) == {"page": "about"}  # FastAPI sees the signature
    assert about_response.headers["link"] == "</static/about.css>; rel=preload; as=style"
    assert post_response.headers["link"] == (
        "</static/post.js>; rel=preload; as=script,"
        " </static/post.woff2>; rel=preload; as=font; crossorigin"
    )


# --------------------------------------------------------------------------- push()


def test_link_header_over_a_server_without_extensions() -> None:
    response = get(_app(), "/about", NAVIGATE)
    plain = get(_app(), "/")  # no Accept: not a navigation, the site manifest does not apply

    assert response.status == 200
    assert response.headers["link"] == (
        "</static/site.css>; rel=preload; as=style, </static/about.css>; rel=preload; as=style,"
        " </static/chart.js>; rel=preload; as=script"
    )
    assert "link" not in plain.headers


def test_push_takes_flags_and_reduces_a_same_origin_url_to_its_path() -> None:
    seen: list[str] = []

    async def page(request: Request) -> Response:
        seen.append(push(request, request.url_for("css", name="a.css"), as_="style"))
        seen.append(push(request, "https://cdn.example/x.js", "crossorigin", as_="script"))
        seen.append(push(request, "/static/f.woff2", "nopush", **{"as": "font"}))
        return HTMLResponse("<p>")

    app = Starlette(routes=[Route("/", page), Route("/static/{name}", css, name="css")])
    app.add_middleware(H2PushMiddleware)
    response = get(app, "/", scheme="https")

    assert seen == [
        "https://testserver/static/a.css",  # returned as given, for the page's own href
        "https://cdn.example/x.js",
        "/static/f.woff2",
    ]
    assert response.headers["link"] == (
        "</static/a.css>; rel=preload; as=style,"
        " <https://cdn.example/x.js>; rel=preload; as=script; crossorigin,"
        " </static/f.woff2>; rel=preload; as=font; crossorigin; nopush"
    )


def test_push_in_a_jinja_template_through_the_request() -> None:
    templating = require_module("starlette.templating")
    jinja2 = require_module("jinja2")
    loader = jinja2.DictLoader(
        {
            "page.html": (
                "{% set href = url_for('css', name='app.css') %}"
                "<link rel=stylesheet href=\"{{ push(request, href, as='style') }}\">"
            )
        }
    )
    templates = templating.Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))
    templates.env.globals["push"] = push

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    app = Starlette(routes=[Route("/", page), Route("/static/{name}", css, name="css")])
    app.add_middleware(H2PushMiddleware)
    response = get(app, "/")

    assert response.text == '<link rel=stylesheet href="http://testserver/static/app.css">'
    assert response.headers["link"] == "</static/app.css>; rel=preload; as=style"


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("/a.css", "eager"), {}, ValueError),
        (("/a.css",), {"as": "stylesheet"}, ValueError),
        (("/a.css\r\nX: y",), {}, ValueError),
        (("/a.css",), {"color": "red"}, TypeError),
        (("/a.css", "nopush"), {"nopush": True}, TypeError),
    ],
    ids=["flag", "as", "crlf", "attribute", "twice"],
)
def test_push_refuses_what_cannot_be_sent(
    args: tuple[str, ...], kwargs: dict[str, object], error: type[Exception]
) -> None:
    failures: list[BaseException] = []

    async def page(request: Request) -> Response:
        try:
            push(request, *args, strict=True, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            failures.append(exc)
        return HTMLResponse("<p>")

    app = Starlette(routes=[Route("/", page)])
    app.add_middleware(H2PushMiddleware)
    assert get(app, "/").status == 200
    assert len(failures) == 1
    assert isinstance(failures[0], error)


def test_push_without_the_middleware_says_so() -> None:
    async def page(request: Request) -> Response:
        push(request, "/a.css", as_="style")
        return HTMLResponse("<p>")

    with pytest.raises(RuntimeError, match="H2PushMiddleware"):
        get(Starlette(routes=[Route("/", page)]), "/")


# --------------------------------------------------------------------------- a real server


@pytest.mark.peer
def test_hints_and_pushes_over_http2_before_the_handler_runs(h2push_serve: ServeFactory) -> None:
    server = h2push_serve(_app())

    result = server.fetch("/about")

    assert result.status == 200
    assert_hinted(result, ["/static/site.css", "/static/about.css"], exact=True)
    # Both manifests before the handler; its push() call as the response starts.
    assert result.pushed_paths == ("/static/site.css", "/static/about.css", "/static/chart.js")
    assert_pushed(result, ["/static/site.css", "/static/about.css", "/static/chart.js"])
    assert_linked(result, ["/static/site.css", "/static/about.css", "/static/chart.js"])
    # A subresource request gets the route's pushes but neither a 103 nor the site's manifest.
    subresource = server.fetch("/about", navigation=False)
    assert_hinted(subresource, [], exact=True)
    assert_pushed(subresource, ["/static/about.css", "/static/chart.js"], exact=True)


@pytest.mark.peer
def test_starlettes_own_push_promise_and_early_hints_work_beside_it(
    h2push_serve: ServeFactory,
) -> None:
    async def page(request: Request) -> Response:
        await request.send_early_hints("</static/own.js>; rel=preload; as=script")
        await request.send_push_promise("/static/own.js")
        await asyncio.sleep(0.05)
        return HTMLResponse("<p>own")

    app = Starlette(routes=[Route("/", page), Route("/static/{name}", css)])
    app.add_middleware(H2PushMiddleware, manifest=SITE)
    server = h2push_serve(app)

    result = server.fetch("/", timeout_s=2)  # a stuck push waits no longer

    assert result.status == 200
    assert result.early_hint_count == 2  # h2push's first (browsers act on it), then the app's
    assert result.early_hint_links == ("</static/site.css>; rel=preload; as=style",)
    assert result.trace.early_hints[1].links == ("</static/own.js>; rel=preload; as=script",)
    assert_pushed(result, ["/static/site.css", "/static/own.js"], exact=True)


@pytest.mark.peer
def test_fastapi_app_over_http2(h2push_serve: ServeFactory) -> None:
    fastapi = require_module("fastapi")
    app = fastapi.FastAPI()
    app.add_middleware(H2PushMiddleware, manifest=SITE, preloads=preloads_resolver(app))

    @app.get("/", response_class=HTMLResponse)
    @http2push(ABOUT)
    async def index(request: Request) -> str:
        push(request, "/static/chart.js", as_="script")
        return "<p>fastapi"

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        return PlainTextResponse(f"/* {name} */", media_type="text/css")

    result = h2push_serve(app).fetch("/")

    assert result.status == 200
    assert_hinted(result, ["/static/site.css", "/static/about.css"], exact=True)
    assert_pushed(result, ["/static/site.css", "/static/about.css", "/static/chart.js"], exact=True)
