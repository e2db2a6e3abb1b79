"""The ASGI middleware's message sequence, driven directly with ASGI scopes.

These tests pin down which messages the middleware sends for which scope; the end-to-end tests
(test_e2e.py) show that real Hypercorn turns them into a 103 and PUSH_PROMISE frames.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import fuzz, raised_by_h2push, with_line_breaker
from h2push import Manifest, ManifestError
from h2push._delivery.ledger import Connections
from h2push.asgi import H2PushMiddleware, push

MANIFEST = Manifest.from_dict(
    {
        "/app.css": {"type": "style", "weight": 3},
        "/app.js": {"type": "script", "weight": 2},
        "/logo.png": {"type": "image", "weight": 1, "nopush": True},
    }
)
H2 = {"http.response.push": {}, "http.response.early_hint": {}}
NAVIGATE = [(b"sec-fetch-mode", b"navigate"), (b"accept-encoding", b"gzip"), (b"cookie", b"a=b")]

Message = dict[str, Any]
# Each request comes on a connection of its own unless a test says otherwise.
_client_ports = itertools.count(40000)


def scope(
    *,
    path: str = "/",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    extensions: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    client: tuple[str, int] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2" if extensions else "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": NAVIGATE if headers is None else headers,
        "extensions": extensions or {},
        "client": client or ("127.0.0.1", next(_client_ports)),
        "server": ("127.0.0.1", 443),
    }
    if state is not None:
        result["state"] = state
    return result


def page(
    *,
    link: bytes | None = None,
    status: int = 200,
    pushes: tuple[dict[str, Any], ...] = (),
    content_type: bytes = b"text/html",
) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for kwargs in pushes:
            push(scope, **kwargs)
        headers = [(b"content-type", content_type)]
        if link is not None:
            headers.append((b"link", link))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"<p>", "more_body": True})
        await send({"type": "http.response.body", "body": b"hello</p>"})

    return app


def run(app: Any, request_scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(request_scope, receive, send))
    return sent


def links_of(message: Message) -> list[bytes]:
    return [value for name, value in message["headers"] if name == b"link"]


def test_hints_and_pushes_go_out_before_the_app_runs() -> None:
    sent = run(H2PushMiddleware(page(), manifest=MANIFEST), scope(extensions=H2))
    assert [m["type"] for m in sent] == [
        "http.response.early_hint",
        "http.response.push",
        "http.response.push",
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert sent[0]["links"] == [
        b"</app.css>; rel=preload; as=style",
        b"</app.js>; rel=preload; as=script",
        b"</logo.png>; rel=preload; as=image",  # nopush is for proxies, never in a 103
    ]
    assert [m["path"] for m in sent[1:3]] == ["/app.css", "/app.js"]
    assert dict(sent[1]["headers"]) == {
        b"accept": b"text/css,*/*;q=0.1",
        b"accept-encoding": b"gzip",
        b"x-h2push-pushed": b"1",
    }
    assert links_of(sent[3]) == [
        (
            b"</app.css>; rel=preload; as=style; nopush, </app.js>; rel=preload; as=script; nopush,"
            b" </logo.png>; rel=preload; as=image; nopush"
        )
    ]
    assert [m.get("body") for m in sent[4:]] == [b"<p>", b"hello</p>"]  # streaming untouched


def test_http11_gets_the_link_header_and_no_extension_message() -> None:
    sent = run(H2PushMiddleware(page(), manifest=MANIFEST), scope())
    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert links_of(sent[0]) == [
        (
            b"</app.css>; rel=preload; as=style, </app.js>; rel=preload; as=script,"
            b" </logo.png>; rel=preload; as=image; nopush"
        )
    ]


def test_only_offered_extensions_are_used() -> None:
    only_hints = run(
        H2PushMiddleware(page(), manifest=MANIFEST),
        scope(extensions={"http.response.early_hint": {}}),
    )
    assert [m["type"] for m in only_hints][:2] == [
        "http.response.early_hint",
        "http.response.start",
    ]
    only_push = run(
        H2PushMiddleware(page(), manifest=MANIFEST), scope(extensions={"http.response.push": {}})
    )
    assert [m["type"] for m in only_push][:3] == [
        "http.response.push",
        "http.response.push",
        "http.response.start",
    ]


def test_the_apps_link_header_is_kept_first() -> None:
    preconnect = b"<https://cdn.example>; rel=preconnect, </app.css>; rel=preload; as=style"
    sent = run(H2PushMiddleware(page(link=preconnect), manifest=MANIFEST), scope())
    assert links_of(sent[0]) == [
        preconnect,
        b"</app.js>; rel=preload; as=script, </logo.png>; rel=preload; as=image; nopush",
    ]


def test_subresource_requests_get_nothing_from_a_single_page_manifest() -> None:
    sent = run(
        H2PushMiddleware(page(), manifest=MANIFEST),
        scope(path="/api", headers=[(b"sec-fetch-mode", b"cors")], extensions=H2),
    )
    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert links_of(sent[0]) == []


def test_push_from_the_app_is_pushed_and_linked() -> None:
    app = page(
        pushes=(
            {"url": "/chart.js", "as_": "script"},
            {"url": "/d.json", "as": "fetch", "nopush": True},
        )
    )
    sent = run(H2PushMiddleware(app, manifest=MANIFEST, max_pushes=3), scope(extensions=H2))
    assert [m["path"] for m in sent if m["type"] == "http.response.push"] == [
        "/app.css",
        "/app.js",
        "/chart.js",
    ]
    start = next(m for m in sent if m["type"] == "http.response.start")
    (link,) = links_of(start)
    assert b"</chart.js>; rel=preload; as=script; nopush" in link
    assert b"</d.json>; rel=preload; as=fetch; crossorigin; nopush" in link


def test_push_needs_the_middleware() -> None:
    with pytest.raises(RuntimeError, match="H2PushMiddleware"):
        run(page(pushes=({"url": "/x.js"},)), scope())


def test_bad_push_arguments_raise_value_error_in_a_strict_app() -> None:
    bad = {"url": "/a.css>; rel=preload, </evil", "strict": True}
    with pytest.raises(ValueError, match="url"):
        run(H2PushMiddleware(page(pushes=(bad,))), scope())


def test_a_bad_push_value_drops_that_preload_and_the_page_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pushes = ({"url": "/a.css>; rel=preload, </evil"}, {"url": "/ok.css", "as_": "style"})
    sent = run(H2PushMiddleware(page(pushes=pushes)), scope(extensions=H2))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    assert links_of(start) == [b"</ok.css>; rel=preload; as=style; nopush"]
    assert [r.message for r in caplog.records if "dropped" in r.message] == [
        caplog.records[0].message
    ]


def test_push_preload_pushes_the_apps_link_preloads_like_nginx() -> None:
    link = (
        b"</x.css>; rel=preload; as=style, </y.js>; rel=preload; as=script; nopush,"
        b" <https://o.example/z.js>; rel=preload; as=script, </>; rel=canonical"
    )
    sent = run(H2PushMiddleware(page(link=link), push_preload=True), scope(extensions=H2))
    assert [m["path"] for m in sent if m["type"] == "http.response.push"] == ["/x.css"]
    assert links_of(next(m for m in sent if m["type"] == "http.response.start")) == [link]


def test_push_preload_respects_max_pushes_across_both_phases() -> None:
    link = b"</x.css>; rel=preload; as=style, </app.css>; rel=preload; as=style"
    sent = run(
        H2PushMiddleware(page(link=link), manifest=MANIFEST, push_preload=True, max_pushes=2),
        scope(extensions=H2),
    )
    assert [m["path"] for m in sent if m["type"] == "http.response.push"] == ["/app.css", "/app.js"]


def test_error_responses_get_no_link_and_no_late_push() -> None:
    sent = run(
        H2PushMiddleware(page(status=500, pushes=({"url": "/late.js"},))), scope(extensions=H2)
    )
    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    assert links_of(sent[0]) == []


@pytest.mark.parametrize(
    ("status", "content_type", "pushed"),
    [
        (200, b"text/html; charset=utf-8", True),
        (201, b"application/xhtml+xml", True),
        (200, b"application/json", False),
        (200, b"text/css", False),
        (302, b"text/html", False),
        (304, b"text/html", False),
    ],
)
def test_pushes_decided_after_the_app_answered_go_only_with_successful_pages(
    status: int, content_type: bytes, pushed: bool
) -> None:
    app = page(status=status, content_type=content_type, pushes=({"url": "/late.js"},))
    sent = run(H2PushMiddleware(app), scope(extensions=H2))
    assert pushed_paths(sent) == (["/late.js"] if pushed else [])
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert links_of(start) == [b"</late.js>; rel=preload" + (b"; nopush" if pushed else b"")]


def test_head_and_pushed_requests_never_push() -> None:
    for method in ("HEAD", "POST", "OPTIONS"):
        sent = run(H2PushMiddleware(page(), manifest=MANIFEST), scope(method=method, extensions=H2))
        assert not [m for m in sent if m["type"] == "http.response.push"]
    first = run(H2PushMiddleware(page(), manifest=MANIFEST), scope(extensions=H2))
    promise = next(m for m in first if m["type"] == "http.response.push")
    # The server dispatches the pushed request with the promise's headers: it carries the mark,
    # and even with the page's Accept it is not planned for.
    pushed_headers = [*promise["headers"], (b"accept", b"text/html"), *NAVIGATE]
    pushed = run(
        H2PushMiddleware(page(), manifest=MANIFEST), scope(extensions=H2, headers=pushed_headers)
    )
    assert next(m["type"] for m in pushed) == "http.response.start"


def test_the_apps_own_push_promises_are_marked() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.push", "path": "/own.js", "headers": []})
        await page()(scope, receive, send)

    sent = run(H2PushMiddleware(app), scope(extensions=H2))
    own = next(m for m in sent if m["type"] == "http.response.push")
    assert (b"x-h2push-pushed", b"1") in own["headers"]


def test_gunicorns_asgi_worker_gets_its_103_as_an_informational_message() -> None:
    sent = run(H2PushMiddleware(page(), manifest=MANIFEST, informational=True), scope())
    assert sent[0] == {
        "type": "http.response.informational",
        "status": 103,
        "headers": [
            (b"link", b"</app.css>; rel=preload; as=style"),
            (b"link", b"</app.js>; rel=preload; as=script"),
            (b"link", b"</logo.png>; rel=preload; as=image"),
        ],
    }


def test_refused_extension_messages_do_not_fail_the_request() -> None:
    async def refusing_send(message: Message) -> None:
        if message["type"] in H2:
            raise RuntimeError("refused")
        sent.append(message)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    asyncio.run(
        H2PushMiddleware(page(), manifest=MANIFEST)(scope(extensions=H2), receive, refusing_send)
    )
    assert next(m["type"] for m in sent) == "http.response.start"


def test_other_scope_types_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    run(H2PushMiddleware(app, manifest=MANIFEST), {"type": "lifespan"})
    assert seen == ["lifespan"]


def test_a_bad_manifest_fails_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"/a.css": {"type": "styel"}}))
    with pytest.raises(ManifestError, match=r'm\.json: "/a\.css" > "type": .*styel'):
        H2PushMiddleware(page(), manifest=path)
    with pytest.raises(ManifestError, match="cannot be read"):
        H2PushMiddleware(page(), manifest=tmp_path / "missing.json")


# --- fuzz: any request, any app Link header ------------------------------------------------------

# What a server hands over: latin-1 bytes without CR, LF or NUL (HTTP/1.1 and HTTP/2 parsers
# refuse those), so anything else a client can put in a field value.
_field_values = st.one_of(
    st.binary(max_size=60).map(lambda b: b.translate(None, b"\r\n\0")),
    st.sampled_from(
        [b"navigate", b"no-cors", b"text/html", b"*/*", b"text/html;q=0", b"1", b"h2push=AAAA"]
    ),
)
_header_names = st.sampled_from(
    [
        b"accept",
        b"sec-fetch-mode",
        b"cookie",
        b"cache-digest",
        b"host",
        b"x-h2push-pushed",
        b"accept-encoding",
        b"user-agent",
        b"x-any",
    ]
)
# Each sampled Link header, with the same-origin paths it asks to preload (RFC 8288 §3: a
# target starting with one "/", rel preload or modulepreload, no nopush), written out.
_APP_LINK_PUSHABLE: dict[bytes, set[str]] = {
    b"</app.css>; rel=preload; as=style": {"/app.css"},
    b"</own.js>; rel=preload; as=script, <//evil.example/x.js>; rel=preload; as=script": {
        "/own.js"
    },
    b"<https://evil.example/y.js>; rel=preload; as=script, </n.js>; rel=preload; nopush": set(),
    b'</q.css>; rel="preload next"; as=style, <http://a/>; rel=preconnect': {"/q.css"},
}
_app_links = st.one_of(
    st.none(),
    st.sampled_from(sorted(_APP_LINK_PUSHABLE)),
    st.binary(max_size=80).map(lambda b: b.translate(None, b"\r\n\0")),
)
# MANIFEST's pushable paths: /logo.png is nopush.
_MANIFEST_PUSHABLE = {"/app.css", "/app.js"}


def _app_preload_paths(link: bytes | None) -> set[str]:
    """Same-origin paths an app's Link header may have push_preload push (a superset)."""
    if link is None:
        return set()
    if link in _APP_LINK_PUSHABLE:
        return _APP_LINK_PUSHABLE[link]
    # Random bytes: at most the targets written between "<" and ">" that start with one "/".
    return {target.decode("latin-1") for target in re.findall(rb"<(/(?!/)[^>]*)>", link)}


@fuzz
@given(
    path=st.text(max_size=30).map(lambda s: "/" + s),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "OPTIONS"]),
    headers=st.lists(st.tuples(_header_names, _field_values), max_size=8),
    app_link=_app_links,
    h2=st.booleans(),
    push_preload=st.booleans(),
    client=st.one_of(st.none(), st.just(("192.0.2.9", 50500))),
)
def test_any_request_is_served_safely_and_pushes_only_what_was_declared(
    path: str,
    method: str,
    headers: list[tuple[bytes, bytes]],
    app_link: bytes | None,
    h2: bool,
    push_preload: bool,
    client: tuple[str, int] | None,
) -> None:
    app = H2PushMiddleware(page(link=app_link), manifest=MANIFEST, push_preload=push_preload)
    request = scope(path=path, method=method, headers=headers, extensions=H2 if h2 else None)
    if client is None:
        del request["client"]
    sent = run(app, request)

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    hints = [m for m in sent if m["type"] == "http.response.early_hint"]
    promises = [m for m in sent if m["type"] == "http.response.push"]
    ours = [(n, v) for n, v in start["headers"] if n != b"link" or v != app_link]
    for name, value in [
        *ours,
        *((b"link", v) for m in hints for v in m["links"]),
        *(field for m in promises for field in m["headers"]),
    ]:
        assert not any(c in name + value for c in b"\r\n\0"), (name, value)

    pushed = [m["path"] for m in promises]
    allowed = _MANIFEST_PUSHABLE | (_app_preload_paths(app_link) if push_preload else set())
    assert set(pushed) <= allowed  # never another origin, never an undeclared path
    assert len(pushed) == len(set(pushed)) <= app.max_pushes
    if method != "GET" or (b"x-h2push-pushed", b"1") in headers or not h2 or client is None:
        assert pushed == []
    if not h2 or any(name == b"x-h2push-pushed" for name, _ in headers):
        assert hints == []


# --- one connection: a budget, and no URL pushed twice --------------------------------------


def test_a_connection_is_pushed_each_url_once_and_links_it_nopush_after() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=None)
    browser = ("192.0.2.7", 51000)
    first = run(app, scope(extensions=H2, client=browser))
    assert pushed_paths(first) == ["/app.css", "/app.js"]
    second = run(app, scope(extensions=H2, client=browser))
    assert pushed_paths(second) == []
    hints = next(m for m in second if m["type"] == "http.response.early_hint")
    assert hints["links"][:2] == [
        b"</app.css>; rel=preload; as=style",  # the 103 never says nopush
        b"</app.js>; rel=preload; as=script",
    ]
    start = next(m for m in second if m["type"] == "http.response.start")
    assert links_of(start)[0].split(b", ") == [
        b"</app.css>; rel=preload; as=style; nopush",
        b"</app.js>; rel=preload; as=script; nopush",
        b"</logo.png>; rel=preload; as=image; nopush",
    ]
    # Another connection from the same address (another port) is a new connection.
    other = run(app, scope(extensions=H2, client=("192.0.2.7", 51001)))
    assert pushed_paths(other) == ["/app.css", "/app.js"]


def test_a_connection_the_server_names_is_known_by_its_name_not_its_addresses() -> None:
    # h2push serve names each connection (extensions["h2push.connection"]): a closed
    # connection's client port reused at once by a new one (loopback) is a new connection.
    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=None)
    same_ends = ("192.0.2.8", 52000)

    def on(connection: int) -> dict[str, Any]:
        return scope(extensions={**H2, "h2push.connection": {"id": connection}}, client=same_ends)

    assert pushed_paths(run(app, on(1))) == ["/app.css", "/app.js"]
    assert pushed_paths(run(app, on(1))) == []  # the same connection: pushed once
    assert pushed_paths(run(app, on(2))) == ["/app.css", "/app.js"]  # same addresses, new one


def test_the_connection_budget_holds_across_pages_and_push_calls() -> None:
    async def pages(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for i in range(3):  # each page pushes three scripts of its own
            push(scope, f"{scope['path']}/{i}.js", as_="script")
        await page()(scope, receive, send)

    app = H2PushMiddleware(pages, manifest=MANIFEST, tracker=None, max_pushes_per_connection=6)
    browser = ("192.0.2.7", 52000)
    counts = [
        len(pushed_paths(run(app, scope(path=f"/p{n}", extensions=H2, client=browser))))
        for n in range(4)
    ]
    # The first page: 2 from the manifest and 3 of its own; the next one gets the 1 left.
    assert counts == [5, 1, 0, 0]
    assert len(app.connections or ()) == 1
    fresh = run(app, scope(path="/p9", extensions=H2, client=("192.0.2.7", 52001)))
    assert len(pushed_paths(fresh)) == 5


def test_concurrent_pages_of_one_connection_share_one_budget() -> None:
    class Connector:  # a blocking tracker: each request waits in a thread, so they interleave
        def get_pushed(self) -> set[str]:
            return set()

        def set_pushed(self, pushed: set[str]) -> None:
            pass

    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=Connector())
    browser = ("192.0.2.7", 53000)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def both() -> None:
        await asyncio.gather(
            *(app(scope(extensions=H2, client=browser), receive, send) for _ in range(4))
        )

    asyncio.run(both())
    assert sorted(pushed_paths(sent)) == ["/app.css", "/app.js"]
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 4


def test_a_request_without_a_client_address_gets_no_push_but_its_hints_and_links() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST)
    request = scope(extensions=H2)
    del request["client"]
    sent = run(app, request)
    assert pushed_paths(sent) == []
    assert next(m["type"] for m in sent) == "http.response.early_hint"
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert links_of(start)[0].startswith(b"</app.css>; rel=preload; as=style")
    unlimited = H2PushMiddleware(page(), manifest=MANIFEST, max_pushes_per_connection=None)
    assert unlimited.connections is None
    assert pushed_paths(run(unlimited, request)) == ["/app.css", "/app.js"]


def test_a_zero_connection_budget_pushes_nothing() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST, max_pushes_per_connection=0)
    assert pushed_paths(run(app, scope(extensions=H2))) == []


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_pushes_per_connection -1 must not be negative"):
        H2PushMiddleware(page(), manifest=MANIFEST, max_pushes_per_connection=-1)
    with pytest.raises(ValueError, match="max_pushes -1 must not be negative"):
        H2PushMiddleware(page(), manifest=MANIFEST, max_pushes=-1)


def test_the_ledger_forgets_idle_connections_and_stays_bounded() -> None:
    now = [0.0]
    ledger = Connections(idle_s=30.0, capacity=3, clock=lambda: now[0])
    a = (("192.0.2.1", 1), None)
    ledger.record(ledger.get(a), ["/a.css"])
    now[0] = 29.0
    assert ledger.get(a).pushed == {"/a.css"}  # in use: kept, and its idle time restarts
    now[0] = 58.0
    assert ledger.get(a).pushed == {"/a.css"}
    now[0] = 88.5
    assert ledger.get(a).pushed == set()  # idle 30.5 s: a new connection may have its ends
    for port in range(2, 6):
        ledger.record(ledger.get((("192.0.2.1", port), None)), ["/b.css"])
    assert len(ledger) == 3  # the least recently used went first
    assert ledger.get(a).pushed == set()


# --- what each client has: the tracker -----------------------------------------------------------


def cookie_of(message: Message) -> bytes | None:
    return next((v for n, v in message["headers"] if n == b"set-cookie"), None)


def pushed_paths(sent: list[Message]) -> list[str]:
    return [m["path"] for m in sent if m["type"] == "http.response.push"]


def visit(app: Any, cookie: bytes | None, **kwargs: Any) -> tuple[list[Message], bytes | None]:
    headers = [*NAVIGATE, (b"host", b"example.test")]
    if cookie is not None:
        headers.append((b"cookie", b"other=1; " + cookie.split(b";")[0]))
    sent = run(app, scope(extensions=H2, headers=headers, **kwargs))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return sent, cookie_of(start)


def test_a_repeat_visit_pushes_nothing_but_still_hints_and_links() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST)
    first, cookie = visit(app, None)
    assert pushed_paths(first) == ["/app.css", "/app.js"]
    assert cookie is not None
    assert cookie.startswith(b"h2push=")
    assert b"Secure" in cookie
    assert b"HttpOnly" in cookie
    assert b"SameSite=Lax" in cookie

    second, again = visit(app, cookie)
    assert pushed_paths(second) == []
    assert next(m["type"] for m in second) == "http.response.early_hint"
    start = next(m for m in second if m["type"] == "http.response.start")
    (link,) = links_of(start)
    assert b"</app.css>; rel=preload; as=style; nopush" in link  # known: no proxy pushes it
    assert again is None  # nothing new delivered: the cookie stays as it is


def test_a_changed_resource_is_pushed_again() -> None:
    versions = {"/app.css": "v1", "/app.js": "v1"}
    app = H2PushMiddleware(page(), manifest=MANIFEST, versions=versions.get)
    _, cookie = visit(app, None)
    versions["/app.css"] = "v2"
    second, new_cookie = visit(app, cookie)
    assert pushed_paths(second) == ["/app.css"]
    assert new_cookie is not None
    third, _ = visit(app, new_cookie)
    assert pushed_paths(third) == []


def test_http11_without_hints_records_nothing() -> None:
    sent = run(H2PushMiddleware(page(), manifest=MANIFEST), scope())
    assert cookie_of(sent[0]) is None


def test_responses_a_shared_cache_may_store_get_no_cookie() -> None:
    async def public(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"cache-control", b"public, max-age=60")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"page"})

    first, cookie = visit(H2PushMiddleware(public, manifest=MANIFEST), None)
    assert pushed_paths(first) == ["/app.css", "/app.js"]
    assert cookie is None


def test_only_pages_carry_the_cookie() -> None:
    # h2o asks for what it pushes with the page's Accept: text/html and no cookie: answering
    # with a fresh cookie would replace the client's.
    async def stylesheet(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/css")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"body {}"})

    sent, cookie = visit(H2PushMiddleware(stylesheet, manifest=MANIFEST), None)
    assert pushed_paths(sent) == ["/app.css", "/app.js"]
    assert cookie is None


def test_no_tracker_means_no_cookie_and_every_visit_pushes() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=None)
    first, cookie = visit(app, None)
    assert cookie is None
    assert pushed_paths(visit(app, b"h2push=AcA")[0]) == pushed_paths(first)


def test_a_firehose_connector_is_called_off_the_event_loop() -> None:
    import threading

    class Connector:
        def __init__(self) -> None:
            self.pushed: set[str] = set()
            self.threads: set[str] = set()

        def get_pushed(self) -> set[str]:
            self.threads.add(threading.current_thread().name)
            return set(self.pushed)

        def set_pushed(self, pushed: set[str]) -> None:
            self.pushed = set(pushed)

    connector = Connector()
    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=connector)
    first, _ = visit(app, None)
    assert pushed_paths(first) == ["/app.css", "/app.js"]
    assert connector.pushed >= {"/app.css", "/app.js"}
    assert pushed_paths(visit(app, None)[0]) == []
    assert threading.main_thread().name not in connector.threads


_cookie_text = st.one_of(
    st.text(max_size=300),
    st.from_regex(r"h2push=[A-Za-z0-9_-]{0,120}", fullmatch=True),
    st.binary(max_size=200).map(lambda b: "h2push=" + b.decode("latin-1")),
)


@fuzz
@given(
    cookies=st.lists(_cookie_text, max_size=3), digest=st.one_of(st.none(), st.text(max_size=200))
)
def test_malformed_cookies_and_cache_digests_never_fail_a_request(
    cookies: list[str], digest: str | None
) -> None:
    headers = [*NAVIGATE, (b"host", b"example.test")]
    headers += [(b"cookie", c.encode("utf-8", "surrogateescape")) for c in cookies]
    if digest is not None:
        headers.append((b"cache-digest", digest.encode("utf-8", "surrogateescape")))
    sent = run(H2PushMiddleware(page(), manifest=MANIFEST), scope(extensions=H2, headers=headers))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    for _, value in start["headers"]:
        assert not any(c in value for c in (b"\r", b"\n", b"\0"))


# --- fuzz: push() from an application ---------------------------------------------------------

_push_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["style", "script", "font", "anonymous", "high", "text/css", "/x.js"]),
)
_push_attrs = st.fixed_dictionaries(
    {},
    optional={
        "as_": st.one_of(st.none(), _push_text),
        "rel": _push_text,
        "crossorigin": st.one_of(st.none(), st.booleans(), _push_text),
        "type": st.one_of(st.none(), _push_text),
        "fetchpriority": st.one_of(st.none(), _push_text),
        "nopush": st.one_of(st.booleans(), _push_text),
        "weight": st.one_of(st.integers(-5, 5), _push_text),
        "media": _push_text,
    },
)


@fuzz
@given(
    url=st.one_of(
        st.text(max_size=40),
        st.text(max_size=40).map(lambda s: "/" + s),
        with_line_breaker(st.text(max_size=20)),
        st.sampled_from(
            ["/a.js", "//evil.example/x.js", "https://evil.example/x.js", "/a\r\nX: y"]
        ),
    ),
    attrs=_push_attrs,
)
def test_push_arguments_raise_at_the_call_or_go_out_safely(url: str, attrs: dict[str, Any]) -> None:
    outcome: list[BaseException | str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            outcome.append(push(scope, url, strict=True, **attrs))
        except (ValueError, TypeError) as error:  # the documented declaration-time errors
            outcome.append(error)
        await page()(scope, receive, send)

    sent = run(H2PushMiddleware(app), scope(extensions=H2))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    for name, value in start["headers"]:
        assert not any(c in name + value for c in b"\r\n\0")
    pushed = [m["path"] for m in sent if m["type"] == "http.response.push"]
    (result,) = outcome
    if isinstance(result, BaseException):
        assert raised_by_h2push(result), result  # h2push's own rejection
        assert pushed == []
        assert links_of(start) == []
        return
    assert result == url
    assert pushed in ([], [url])
    if pushed:  # only this origin's absolute paths
        assert url.startswith("/")
        assert not url.startswith("//")
    assert links_of(start)[0].startswith(f"<{url}>".encode())


def test_each_middleware_makes_its_own_default_tracker() -> None:
    from h2push.trackers import DEFAULT_TRACKER, CookieDigestTracker

    first = H2PushMiddleware(page(), manifest=MANIFEST)
    second = H2PushMiddleware(page(), manifest=MANIFEST, tracker=DEFAULT_TRACKER)
    assert isinstance(first.tracker, CookieDigestTracker)
    assert isinstance(second.tracker, CookieDigestTracker)
    assert first.tracker is not second.tracker  # no caches shared between apps
    # Both still deliver and remember: the second visit with the cookie pushes nothing.
    sent, cookie = visit(first, None)
    assert pushed_paths(sent) == ["/app.css", "/app.js"]
    assert cookie is not None
    assert pushed_paths(visit(second, cookie.split(b";")[0])[0]) == []


def test_plans_are_kept_by_the_middleware_that_made_them() -> None:
    import sys

    plan_module = sys.modules[
        "h2push._core.plan"
    ]  # h2push._core.plan, the attribute, is the function
    mutable = [
        name
        for name, value in vars(plan_module).items()
        if isinstance(value, (dict, list, set))
        and not name.startswith("__")
        and name != "_ACCEPT_FOR"
    ]
    assert mutable == []  # plan.py keeps no memo: caches live on their owners
    first = H2PushMiddleware(page(), manifest=MANIFEST)
    second = H2PushMiddleware(page(), manifest=MANIFEST)
    visit(first, None)
    assert first._delivery._memo
    assert not second._delivery._memo


def _refusing(paths: set[str]) -> Any:
    """A server that refuses the push promises of ``paths`` (as a client's RST_STREAM might)."""

    def run_refusing(app: Any, request_scope: dict[str, Any]) -> list[Message]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.push" and message["path"] in paths:
                raise RuntimeError("refused")
            sent.append(message)

        asyncio.run(app(request_scope, receive, send))
        return sent

    return run_refusing


@pytest.mark.parametrize(
    ("app_kwargs", "refused"),
    [
        ({}, set()),
        ({}, {"/app.js"}),
        ({"link": b"</extra.js>; rel=preload; as=script"}, set()),
        ({"content_type": b"application/json"}, set()),
        ({"status": 404}, set()),
        ({"pushes": ({"url": "/late.js", "as_": "script"},)}, set()),
    ],
    ids=["page", "a-push-refused", "apps-own-link", "not-a-page", "error", "push-call"],
)
@pytest.mark.parametrize("extensions", [H2, {"http.response.push": {}}], ids=["103", "no-103"])
def test_a_first_visit_made_once_sends_what_the_full_plan_sends(
    app_kwargs: dict[str, Any], refused: set[str], extensions: dict[str, Any]
) -> None:
    # A version function that knows nothing gives the same tracker keys, but keeps every
    # request on the full way: the first-visit shortcut must not be seen from outside.
    shortcut = H2PushMiddleware(page(**app_kwargs), manifest=MANIFEST)
    full = H2PushMiddleware(page(**app_kwargs), manifest=MANIFEST, versions=lambda url: None)
    send_to = _refusing(refused)
    headers = [*NAVIGATE, (b"host", b"example.test")]
    for _ in range(2):  # the second time from what the kind keeps
        fast_sent = send_to(shortcut, scope(extensions=extensions, headers=headers))
        full_sent = send_to(full, scope(extensions=extensions, headers=headers))
        assert fast_sent == full_sent
    assert any(k.first is not None for k in shortcut._delivery.kinds.values())
    assert all(k.first is None for k in full._delivery.kinds.values())
    start = next(m for m in fast_sent if m["type"] == "http.response.start")
    delivered_cookie = cookie_of(start)
    if app_kwargs in ({}, {"link": b"</extra.js>; rel=preload; as=script"}):
        assert delivered_cookie is not None
    if refused:
        assert pushed_paths(fast_sent) == ["/app.css"]


def test_a_first_visit_on_a_connection_pushed_on_is_planned_in_full() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST)
    client = ("127.0.0.1", next(_client_ports))
    first = run(app, scope(extensions=H2, client=client))
    again = run(app, scope(extensions=H2, client=client))  # no cookie: the ledger knows
    assert pushed_paths(first) == ["/app.css", "/app.js"]
    assert pushed_paths(again) == []
    (link,) = links_of(next(m for m in again if m["type"] == "http.response.start"))
    assert link.count(b"nopush") == 3


def test_a_first_visits_shared_push_set_is_copied_before_it_grows() -> None:
    ledger = Connections()
    urls = frozenset({"/a.css", "/b.js"})
    one = ledger.first_visit((("192.0.2.1", 1), None), urls)
    two = ledger.first_visit((("192.0.2.1", 2), None), urls)
    assert one is not None
    assert two is not None
    assert ledger.first_visit((("192.0.2.1", 1), None), urls) is None  # pushed on already
    ledger.record(one, ["/c.png", "/a.css"])
    assert one.pushed == {"/a.css", "/b.js", "/c.png"}
    assert two.pushed == {"/a.css", "/b.js"}
    assert urls == {"/a.css", "/b.js"}
    # 400 bytes an entry, 100 a URL plus its characters: 2 x 400 + 2 x (106 + 105) + 106.
    assert ledger.bytes == 1328


def test_each_first_visit_pushes_with_its_own_requests_inherited_fields() -> None:
    app = H2PushMiddleware(page(), manifest=MANIFEST, tracker=None)
    for encoding in (b"gzip", b"br", b"gzip"):  # the kind's fields made again on each change
        headers = [(b"sec-fetch-mode", b"navigate"), (b"accept-encoding", encoding)]
        sent = run(app, scope(extensions=H2, headers=headers))
        promises = [m for m in sent if m["type"] == "http.response.push"]
        assert [dict(m["headers"]) for m in promises] == [
            {
                b"accept": b"text/css,*/*;q=0.1",
                b"accept-encoding": encoding,
                b"x-h2push-pushed": b"1",
            },
            {b"accept": b"*/*", b"accept-encoding": encoding, b"x-h2push-pushed": b"1"},
        ]


def _own_pusher(path: str) -> Any:
    """A page that promises ``path`` itself (Starlette's send_push_promise) and calls push()."""

    async def app(request_scope: dict[str, Any], receive: Any, send: Any) -> None:
        push(request_scope, "/late.js", as_="script")
        await send({"type": "http.response.push", "path": path, "headers": []})
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send({**start, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


@pytest.mark.parametrize("path", ["/", "/api/data"], ids=["manifest-page", "no-candidates"])
@pytest.mark.parametrize("own", ["/app.css", "/own.js"], ids=["promised-already", "new"])
def test_a_first_visit_with_the_apps_own_promises_sends_what_the_full_plan_sends(
    path: str, own: str
) -> None:
    fast = H2PushMiddleware(_own_pusher(own), manifest=MANIFEST)
    full = H2PushMiddleware(_own_pusher(own), manifest=MANIFEST, versions=lambda url: None)
    headers = [(b"accept", b"*/*")] if path != "/" else NAVIGATE
    for _ in range(2):
        fast_sent = run(fast, scope(path=path, extensions=H2, headers=headers))
        full_sent = run(full, scope(path=path, extensions=H2, headers=headers))
        assert fast_sent == full_sent
    start = next(m for m in fast_sent if m["type"] == "http.response.start")
    assert b"</late.js>; rel=preload; as=script" in b", ".join(links_of(start))
    # One PUSH_PROMISE per URL per connection: the app's own of /app.css is dropped.
    promised = pushed_paths(fast_sent)
    assert promised.count(own) == 1
    assert len(promised) == len(set(promised))


def test_the_ledger_never_forgets_the_connection_used_last() -> None:
    ledger = Connections(capacity=1, max_bytes=1)  # every bound exceeded at once
    a, b = (("192.0.2.1", 1), None), (("192.0.2.1", 2), None)
    ledger.record(ledger.get(a), ["/a.css"])
    entry = ledger.first_visit(b, frozenset({"/b.css"}))
    assert entry is not None
    assert len(ledger) == 1
    assert ledger.get(b) is entry
    assert ledger.first_visit(b, frozenset({"/b.css"})) is None  # b was pushed on
    with pytest.raises(ValueError, match="capacity 0 must be at least 1"):
        Connections(capacity=0)


def test_a_routes_preloads_are_asked_for_every_request_and_a_new_answer_is_planned_in_full() -> (
    None
):
    from h2push import Preload

    route: dict[str, tuple[Preload, ...] | None] = {"/": None}  # no route yet: a 404 page
    asked: list[str] = []

    def resolve(path: str, navigation: bool) -> tuple[Preload, ...] | None:
        asked.append(path)
        return route.get(path)

    app = H2PushMiddleware(page(), preloads=resolve, tracker=None)
    assert pushed_paths(run(app, scope(extensions=H2))) == []
    route["/"] = (Preload(url="/added.css", as_="style"),)  # a route added later counts
    assert pushed_paths(run(app, scope(extensions=H2))) == ["/added.css"]
    route["/"] = (Preload(url="/changed.js", as_="script"),)
    assert pushed_paths(run(app, scope(extensions=H2))) == ["/changed.js"]
    assert pushed_paths(run(app, scope(extensions=H2))) == ["/changed.js"]
    assert len(asked) >= 4


def test_a_resolver_making_new_tuples_gets_what_the_full_plan_sends() -> None:
    from h2push import Preload

    def fresh(path: str, navigation: bool) -> tuple[Preload, ...]:
        return (Preload(url="/app.css", as_="style"), Preload(url="/app.js", as_="script"))

    fast = H2PushMiddleware(page(), preloads=fresh)
    full = H2PushMiddleware(page(), preloads=fresh, versions=lambda url: None)
    for _ in range(3):
        fast_sent = run(fast, scope(extensions=H2))
        assert fast_sent == run(full, scope(extensions=H2))
        assert pushed_paths(fast_sent) == ["/app.css", "/app.js"]


_METHODS = st.sampled_from(["GET", "HEAD", "POST"])
_FIELD_SETS = st.lists(
    st.sampled_from(
        [
            (b"sec-fetch-mode", b"navigate"),
            (b"sec-fetch-mode", b"no-cors"),
            (b"accept", b"text/html,*/*"),
            (b"accept", b"TEXT/HTML"),
            (b"accept", b"application/json"),
            (b"accept-encoding", b"gzip"),
            (b"user-agent", b"agent/1"),
            (b"cookie", b"other=1"),
            (b"x-h2push-pushed", b"1"),
        ]
    ),
    max_size=5,
)
_OFFERS = st.sampled_from([{}, {"http.response.push": {}}, {"http.response.early_hint": {}}, H2])
_PAGES = st.fixed_dictionaries(
    {
        "status": st.sampled_from([200, 304, 404]),
        "content_type": st.sampled_from([b"text/html", b"application/json"]),
        "link": st.sampled_from([None, b"</own.js>; rel=preload; as=script"]),
        "pushes": st.sampled_from([(), ({"url": "/late.js", "as_": "script"},)]),
    }
)


@given(
    method=_METHODS,
    fields=_FIELD_SETS,
    offers=_OFFERS,
    app_kwargs=_PAGES,
    path=st.sampled_from(["/", "/other"]),
    settings=st.sampled_from(
        [{}, {"tracker": None}, {"informational": True}, {"proxy": "forwards-103"}]
    ),
    http_version=st.sampled_from(["1.1", "2"]),
)
def test_any_request_sends_what_the_full_plan_sends(
    method: str,
    fields: list[tuple[bytes, bytes]],
    offers: dict[str, Any],
    app_kwargs: dict[str, Any],
    path: str,
    settings: dict[str, Any],
    http_version: str,
) -> None:
    # The same middleware twice, one of them with no kind ever given a shortcut.
    shortcut = H2PushMiddleware(page(**app_kwargs), manifest=MANIFEST, **settings)
    full = H2PushMiddleware(page(**app_kwargs), manifest=MANIFEST, **settings)
    full._shortcut = lambda key: None  # type: ignore[method-assign]
    for _ in range(2):
        request = scope(method=method, path=path, headers=list(fields), extensions=offers)
        fast_sent = run(shortcut, {**request, "http_version": http_version})
        request = scope(method=method, path=path, headers=list(fields), extensions=offers)
        assert fast_sent == run(full, {**request, "http_version": http_version})


def test_a_refused_push_the_link_does_not_carry_is_not_recorded() -> None:
    # Long URLs: the Link value (3 KB) carries the first five, the pushes all ten.
    urls = [f"/{i}-{'u' * 500}.js" for i in range(10)]
    manifest = Manifest.from_dict({url: {"type": "script"} for url in urls})
    fast = H2PushMiddleware(page(), manifest=manifest)
    full = H2PushMiddleware(page(), manifest=manifest)
    full._shortcut = lambda key: None  # type: ignore[method-assign]
    send_to = _refusing({urls[-1]})
    headers = [*NAVIGATE, (b"host", b"example.test")]
    for _ in range(2):
        fast_sent = send_to(fast, scope(extensions={"http.response.push": {}}, headers=headers))
        full_sent = send_to(full, scope(extensions={"http.response.push": {}}, headers=headers))
        assert fast_sent == full_sent
    start = next(m for m in fast_sent if m["type"] == "http.response.start")
    assert urls[-1].encode() not in b"".join(links_of(start))
    assert pushed_paths(fast_sent) == urls[:-1]
    assert cookie_of(start) is not None
