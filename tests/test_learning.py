"""Learning each route's critical resources from its own responses (h2push._delivery.learning).

The reading (head scanner, stylesheet reader), the bounded store, and the ASGI middleware
learning in process: no hint on the first navigation, the page's head, Link header and
``push()`` calls hinted from the second, stylesheet fonts, a renamed asset replacing the old
name after one response, a per-user page teaching only shared code, an explicit manifest
winning, ``learn=False``.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from h2push import Manifest, Preload
from h2push._delivery.learning import (
    DEFAULT_MAX_HINT_BYTES,
    HeadScanner,
    Learner,
    MemoryStore,
    learned_manifest,
    route_resolver,
    stylesheet_preloads,
)
from h2push.asgi import H2PushMiddleware, push

H2 = {"http.response.push": {}, "http.response.early_hint": {}}
NAVIGATE = [(b"sec-fetch-mode", b"navigate"), (b"accept", b"text/html")]
SUBRESOURCE = [(b"sec-fetch-mode", b"no-cors"), (b"accept", b"text/css")]
_ports = itertools.count(41000)

HEAD = b"""<!doctype html><html><head><meta charset=utf-8><title>t</title>
<link rel="stylesheet" href="/static/app.css">
<link rel=stylesheet href="print.css" media=print>
<link rel="alternate stylesheet" href="/static/alt.css">
<link rel=preconnect href="https://fonts.example/x">
<link rel=preload href="/static/hero.webp" as=image fetchpriority=high>
<link rel=modulepreload href="/static/dep.js">
<script src="/static/app.js"></script>
<script type=module src="main.js"></script>
<script src="https://cdn.example/lib.js"></script>
<script>inline()</script>
</head><body><img src="/static/late.png" fetchpriority=high><p>"""

CSS = b"""@import url("/static/base.css");
@import "other.css" screen;
@font-face { font-family: A; src: url(/static/a.woff) format("woff"),
    url("/static/a.woff2") format("woff2"); }
@font-face { font-family: B; src: local(B), url(https://cdn.example/b.woff2) format("woff2"); }
body { background: url(/static/bg.png) }
"""


def urls(preloads: Any) -> list[str]:
    return [str(p) for p in preloads]


def test_the_head_scanner_reads_what_the_head_names_and_stops_at_the_body() -> None:
    scanner = HeadScanner("https://example.com/blog/post")
    for index in range(0, len(HEAD), 7):  # fed in small chunks, as a response streams
        scanner.feed(HEAD[index : index + 7].decode())
    assert scanner.done
    assert urls(scanner.found) == [
        "</static/app.css>; rel=preload; as=style",
        "</blog/print.css>; rel=preload; as=style",
        "<https://fonts.example>; rel=preconnect",
        "</static/hero.webp>; rel=preload; as=image; fetchpriority=high",
        "</static/dep.js>; rel=modulepreload",
        "</static/app.js>; rel=preload; as=script",
        "</blog/main.js>; rel=modulepreload",
    ]


def test_stylesheets_name_their_fonts_and_imports() -> None:
    found = stylesheet_preloads(CSS, "https://example.com/static/app.css")
    assert urls(found) == [
        "</static/base.css>; rel=preload; as=style",
        "</static/other.css>; rel=preload; as=style",
        '</static/a.woff2>; rel=preload; as=font; type="font/woff2"; crossorigin',
    ]


def test_the_store_is_bounded_in_routes_and_bytes() -> None:
    store = MemoryStore(max_routes=3, max_bytes=1000)
    for index in range(5):
        store.put(f"page:/{index}", ("</a.css>; rel=preload; as=style",))
    assert len(store) == 3
    assert store.get_many(["page:/0", "page:/4"]) == [None, ("</a.css>; rel=preload; as=style",)]
    store.put("page:/big", ("x" * 2000,))
    assert len(store) == 0  # one entry over the byte cap is not kept either


def test_a_learned_103_stays_under_the_size_every_proxy_forwards() -> None:
    learner = Learner()
    names = "".join(f'<link rel=stylesheet href="/static/{"a" * 150}{i}.css">' for i in range(30))
    lesson = learner.page(
        "/", origin="https://h", status=200, headers=[(b"content-type", b"text/html")]
    )
    assert lesson is not None
    lesson.feed(f"<head>{names}</head>".encode(), more=False)
    hinted = learner.preloads("/")
    size = sum(len(p.hint_text) + 8 for p in hinted)
    assert 0 < size <= DEFAULT_MAX_HINT_BYTES < 4096
    assert len(hinted) < 30


# --------------------------------------------------------------------------- in the middleware


def site(
    pages: dict[str, bytes],
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    pushes: tuple[str, ...] = (),
) -> Any:
    """An ASGI app: HTML pages by path (streamed in 3 chunks), CSS at /static/*.css."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path.endswith(".css"):
            body = CSS
            start_headers = [(b"content-type", b"text/css"), (b"etag", b'"v1"')]
        else:
            for url in pushes:
                push(scope, url, as_="script")
            body = pages[path]
            start_headers = [(b"content-type", b"text/html; charset=utf-8"), *(headers or [])]
        await send({"type": "http.response.start", "status": 200, "headers": start_headers})
        third = len(body) // 3 + 1
        for index in range(0, len(body), third):
            more = index + third < len(body)
            await send(
                {"type": "http.response.body", "body": body[index:][:third], "more_body": more}
            )

    return app


def get(app: Any, path: str, headers: list[tuple[bytes, bytes]] = NAVIGATE) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b":authority", b"example.com"), (b"host", b"example.com"), *headers],
        "extensions": H2,
        "client": ("127.0.0.1", next(_ports)),
        "server": ("127.0.0.1", 443),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def taught_once(page: Any) -> tuple[H2PushMiddleware, Learner, str]:
    """``page`` in the middleware (no push) after one navigation to ``/``, its learner, the key."""
    app = H2PushMiddleware(page, push=False)
    learner = app.learner
    assert learner is not None
    get(app, "/")
    key = learner.key("/")
    assert key is not None
    return app, learner, key


def hinted(sent: list[dict[str, Any]]) -> list[str]:
    hints = [m for m in sent if m["type"] == "http.response.early_hint"]
    return [link.decode().split(">")[0][1:] for m in hints for link in m["links"]]


def body_of(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_second_navigation_is_hinted_what_the_first_response_named() -> None:
    app = H2PushMiddleware(
        site(
            {"/": HEAD + b"</p></body></html>"},
            headers=[(b"link", b"</l.js>; rel=preload; as=script")],
            pushes=("/late.js",),
        ),
        push=False,
    )
    first = get(app, "/")
    assert hinted(first) == []  # the first navigation: as without h2push
    assert body_of(first) == HEAD + b"</p></body></html>"  # every byte, unchanged
    second = get(app, "/")
    assert hinted(second) == [
        "/static/app.css",
        "/print.css",
        "https://fonts.example",
        "/static/hero.webp",
        "/static/dep.js",
        "/static/app.js",
        "/main.js",
        "/late.js",  # a push() in the view, too late for a 103 the first time
        "/l.js",  # the app's own Link header
    ]
    get(app, "/static/app.css", SUBRESOURCE)  # the stylesheet passes: its fonts are read
    assert hinted(get(app, "/"))[-4:] == [
        "/l.js",
        "/static/base.css",
        "/static/other.css",
        "/static/a.woff2",
    ]


def test_a_renamed_stylesheet_replaces_the_old_name_after_one_response() -> None:
    pages = {"/": b"<head><link rel=stylesheet href=/static/app.1111.css></head><body>"}
    app = H2PushMiddleware(site(pages), push=False)
    get(app, "/")
    assert hinted(get(app, "/")) == ["/static/app.1111.css"]
    pages["/"] = b"<head><link rel=stylesheet href=/static/app.2222.css></head><body>"
    assert hinted(get(app, "/")) == ["/static/app.1111.css"]  # hinted before the view ran
    for _ in range(3):
        assert hinted(get(app, "/")) == ["/static/app.2222.css"]


def test_a_repeated_head_is_not_read_again_and_any_change_is() -> None:
    """A response whose start and head repeat the last one skips reading; a change does not."""
    page = {"head": b"<head><link rel=stylesheet href=/static/app.1111.css></head><body>"}
    link: list[tuple[bytes, bytes]] = []
    pushes: list[str] = []

    async def one_chunk(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for url in pushes:
            push(scope, url, as_="script")
        headers = [(b"content-type", b"text/html"), *link]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page["head"] + b"<p>" * 1000})

    app, learner, key = taught_once(one_chunk)
    start = [(b"content-type", b"text/html")]
    assert learner.unchanged(key, 200, start, page["head"] + b"<p>")
    assert not learner.unchanged(
        key, 200, start, page["head"], [Preload(url="/x.js", as_="script")]
    )
    assert not learner.unchanged(key, 201, start, page["head"])
    assert hinted(get(app, "/")) == ["/static/app.1111.css"]
    page["head"] = b"<head><link rel=stylesheet href=/static/app.2222.css></head><body>"
    assert not learner.unchanged(key, 200, start, page["head"])
    assert hinted(get(app, "/")) == ["/static/app.1111.css"]  # hinted before the view ran
    assert hinted(get(app, "/")) == ["/static/app.2222.css"]  # and never the old name again
    link.append((b"link", b"</l.js>; rel=preload; as=script"))  # the same head, a new Link
    get(app, "/")
    assert hinted(get(app, "/")) == ["/static/app.2222.css", "/l.js"]
    pushes.append("/late.js")  # the same head and start, a push() call
    get(app, "/")
    assert hinted(get(app, "/")) == ["/static/app.2222.css", "/late.js", "/l.js"]


def test_a_csp_nonce_and_a_new_cookie_value_are_not_a_change_but_a_new_asset_is() -> None:
    """A CSP nonce in the head and header, and a per-response cookie, teach nothing new."""
    page = {"nonce": b"abc123", "css": b"/static/app.1111.css", "cookie": b"csrftoken=1"}

    def head() -> bytes:
        return (
            b'<head><script nonce="%s" src=/static/app.js></script>'
            b"<link rel=stylesheet href=%s></head><body>" % (page["nonce"], page["css"])
        )

    def start() -> list[tuple[bytes, bytes]]:
        return [
            (b"content-type", b"text/html"),
            (b"content-security-policy", b"script-src 'nonce-%s'" % page["nonce"]),
            (b"set-cookie", page["cookie"]),
        ]

    async def one_chunk(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": start()})
        await send({"type": "http.response.body", "body": head() + b"<p>" * 1000})

    app, learner, key = taught_once(one_chunk)
    page["nonce"], page["cookie"] = b"Zx9/+q==", b"csrftoken=2"
    assert learner.unchanged(key, 200, start(), head() + b"<p>")
    unquoted = head().replace(b'"Zx9/+q=="', b"Zx9")
    assert learner.unchanged(key, 200, start(), unquoted)
    assert not learner.unchanged(key, 200, start()[:2], head())  # no Set-Cookie any more
    page["css"] = b"/static/app.2222.css"
    assert not learner.unchanged(key, 200, start(), head())
    assert not learner.unchanged(
        key, 200, [*start(), (b"link", b"</l.js>; rel=preload; as=script")], head()
    )
    assert hinted(get(app, "/")) == ["/static/app.js", "/static/app.1111.css"]
    assert hinted(get(app, "/")) == ["/static/app.js", "/static/app.2222.css"]


def test_a_page_the_store_forgot_is_learned_again_from_the_same_head() -> None:
    page = b"<head><link rel=stylesheet href=/static/app.css></head><body>" + b"<p>" * 100

    async def one_chunk(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    store = MemoryStore(max_routes=2)
    app = H2PushMiddleware(one_chunk, push=False, learn=Learner(store=store))
    get(app, "/")
    assert hinted(get(app, "/")) == ["/static/app.css"]
    store.put("page:/a", ())
    store.put("page:/b", ())  # "/" is evicted
    assert hinted(get(app, "/")) == []  # nothing to hint: but this response teaches again
    assert hinted(get(app, "/")) == ["/static/app.css"]


def test_a_page_per_user_teaches_only_its_shared_code() -> None:
    app = H2PushMiddleware(
        site({"/": HEAD}, headers=[(b"set-cookie", b"sid=1"), (b"cache-control", b"private")]),
        push=False,
    )
    get(app, "/")
    assert "/static/hero.webp" not in hinted(get(app, "/"))
    assert "/static/app.css" in hinted(get(app, "/"))


def test_an_explicit_manifest_wins_and_learn_false_turns_learning_off() -> None:
    manifest = Manifest.from_dict({"/declared.css": {"type": "style"}})
    app = H2PushMiddleware(site({"/": HEAD}), manifest=manifest, push=False)
    get(app, "/")
    assert hinted(get(app, "/")) == ["/declared.css"]
    off = H2PushMiddleware(site({"/": HEAD}), push=False, learn=False)
    get(off, "/")
    assert hinted(get(off, "/")) == []


def test_only_navigations_to_html_teach() -> None:
    app = H2PushMiddleware(site({"/": HEAD}), push=False)
    get(app, "/", [(b"sec-fetch-mode", b"cors"), (b"accept", b"*/*")])  # a fetch()
    assert hinted(get(app, "/")) == []


def test_routes_are_the_frameworks_and_the_manifest_reads_back() -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def item(request: Any) -> HTMLResponse:
        name = request.path_params["name"]
        return HTMLResponse(f"<head><link rel=stylesheet href=/static/{name}.css></head>")

    starlette = Starlette(routes=[Route("/items/{name}", item)])
    resolve = route_resolver(starlette)
    assert resolve is not None
    assert resolve("/items/a") == resolve("/items/b") == "starlette:/items/{name}"
    assert resolve("/nothing") is None
    app = H2PushMiddleware(starlette, push=False)
    get(app, "/items/a")
    assert hinted(get(app, "/items/b")) == ["/static/a.css"]  # one route, learned from /a
    assert hinted(get(app, "/nothing")) == []
    assert app.learner is not None
    assert learned_manifest(app.learner, ["/items/x"]) == {
        "/items/x": {"/static/b.css": {"type": "style", "weight": 1}}
    }


def test_each_chunk_goes_out_before_its_copy_is_read() -> None:
    sent_before_learning: list[int] = []
    sent: list[dict[str, Any]] = []

    class Watching(MemoryStore):
        def put(self, key: str, values: tuple[str, ...]) -> None:
            sent_before_learning.append(len(sent))
            super().put(key, values)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = {"type": "http.response.start", "status": 200}
        await send({**start, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": HEAD, "more_body": True})
        await send({"type": "http.response.body", "body": b"</p>"})

    middleware = H2PushMiddleware(app, push=False, learn=Learner(store=Watching()))

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    request = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "query_string": b"",
        "headers": NAVIGATE,
        "extensions": H2,
    }
    asyncio.run(middleware(request, receive, send))
    assert sent_before_learning == [2]  # the head was read after its chunk was sent


def test_an_outer_middleware_leaves_learning_to_the_inner_one() -> None:
    inner = H2PushMiddleware(site({"/": HEAD}), push=False)
    outer = H2PushMiddleware(inner, push=False)
    assert inner.learner is not None
    assert outer.learner is None
    get(outer, "/")
    assert len([m for m in get(outer, "/") if m["type"] == "http.response.early_hint"]) == 1


LEARN_APP = """
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route


async def page(request):
    return HTMLResponse('<head><link rel=stylesheet href=/static/app.css></head><body>')


async def css(request):
    return Response(CSS, media_type="text/css")


app = Starlette(routes=[Route("/", page), Route("/static/app.css", css)])
"""


def test_the_manifest_command_writes_what_was_learned(tmp_path: Any, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from h2push._core.manifest import Manifest
    from h2push._tools.discover.command import manifest_command

    (tmp_path / "learnapp.py").write_text(f"CSS = {CSS!r}\n{LEARN_APP}")
    monkeypatch.syspath_prepend(str(tmp_path))
    output = tmp_path / "learned.json"
    command = ["--app", "learnapp:app", "--learned", "2", "-o", str(output), "/"]
    result = CliRunner().invoke(manifest_command, command)
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(output)
    assert urls(manifest.preloads_for("/")) == [
        "</static/app.css>; rel=preload; as=style",
        "</static/base.css>; rel=preload; as=style",
        "</static/other.css>; rel=preload; as=style",
        "</static/a.woff2>; rel=preload; as=font; crossorigin",
    ]


def test_a_flask_app_under_a_wsgi_server_learns_by_endpoint() -> None:
    from flask import Flask

    from h2push.flask import H2Push
    from h2push.flask import push as flask_push

    app = Flask(__name__)
    names = {"css": "/static/app.1111.css"}

    @app.get("/items/<int:item>")
    def item(item: int) -> str:
        flask_push("/static/late.js", as_="script")
        return f"<head><link rel=stylesheet href={names['css']}></head><body>{item}"

    H2Push(app)
    sent: list[list[tuple[str, str]]] = []

    def navigate(path: str) -> list[str]:
        sent.clear()
        response = app.test_client().get(
            path,
            headers={"Sec-Fetch-Mode": "navigate"},
            environ_base={"wsgi.early_hints": sent.append},
        )
        assert response.status_code == 200
        assert response.data.endswith(path.rsplit("/", 1)[1].encode())  # the body, whole
        return [value.split(">")[0][1:] for hints in sent for _, value in hints]

    assert navigate("/items/1") == []
    assert navigate("/items/2") == ["/static/app.1111.css", "/static/late.js"]
    names["css"] = "/static/app.2222.css"
    navigate("/items/3")
    assert navigate("/items/4") == ["/static/app.2222.css", "/static/late.js"]


def test_a_flask_page_that_repeats_its_head_is_not_read_again_but_a_rename_is() -> None:
    from flask import Flask

    from h2push.flask import H2Push

    app = Flask(__name__)
    names = {"css": "/static/app.1111.css"}

    @app.get("/items/<int:item>")
    def item(item: int) -> str:
        return f"<head><link rel=stylesheet href={names['css']}></head><body>{item}"

    H2Push(app)
    learner = app.extensions["h2push"].learner
    sent: list[list[tuple[str, str]]] = []

    def navigate(path: str) -> list[str]:
        sent.clear()
        response = app.test_client().get(
            path,
            headers={"Sec-Fetch-Mode": "navigate"},
            environ_base={"wsgi.early_hints": sent.append},
        )
        assert response.data.endswith(path.rsplit("/", 1)[1].encode())  # the body, whole
        return [value.split(">")[0][1:] for hints in sent for _, value in hints]

    assert navigate("/items/1") == []
    assert navigate("/items/2") == ["/static/app.1111.css"]
    key = learner.key("/items/3")
    assert key is not None
    assert key in learner._last  # the next response with the same head is compared, not read
    assert navigate("/items/3") == ["/static/app.1111.css"]
    names["css"] = "/static/app.2222.css"
    assert navigate("/items/4") == ["/static/app.1111.css"]  # hinted before the view ran
    for item in (5, 6):
        assert navigate(f"/items/{item}") == ["/static/app.2222.css"]
