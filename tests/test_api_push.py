"""Vulcain Preload in the ASGI middleware, seen by nghttp and by h2push's httpx transport.

A GET with ``Preload`` to a JSON response gets the URLs its pointers select pushed (same origin,
within the push limits, once per connection, nested pointers passed on), or linked with
``rel=preload; as=fetch`` where push is not possible; nothing else is pushed for a JSON response.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api_servers import TESTS, h2push_serve
from conftest import TLSFiles, free_port
from fuzzing import FORBIDDEN_IN_HEADERS, fuzz
from h2push._tools.bench.api import serve_api
from h2push.asgi import H2PushMiddleware
from h2push.httpx import AsyncPushTransport, PushTransport
from nghttp import Log, nghttp
from processes import SRC, h2push_command, running

ITEMS = '"/items/*"'


@pytest.fixture(scope="module")
def served(tls_files: TLSFiles) -> Iterator[str]:
    with h2push_serve(tls_files) as origin:
        yield origin


def requests(log: Log) -> list[int]:
    """The streams nghttp opened for its requests, in order."""
    return [f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS"]


def links(headers: list[tuple[str, str]]) -> list[str]:
    return [v.strip() for n, v in headers if n == "link" for v in v.split(",")]


def test_preload_pushes_the_selected_urls_before_the_response(served: str) -> None:
    log = nghttp(f"{served}/items", "-H", f"preload: {ITEMS}")
    promised = [p.header(":path") for p in log.promises]
    assert promised == [f"/items/{i}" for i in range(5)]
    response = log.final_headers(requests(log)[0])
    assert all(p.t_s <= response.t_s for p in log.promises)
    assert log.frames.index(log.promises[-1]) < log.frames.index(response)
    assert all(p.header("x-h2push-pushed") == "1" for p in log.promises)
    assert links(response.headers) == []
    for promise in log.promises:
        assert promise.promised_stream_id is not None
        assert log.final_headers(promise.promised_stream_id).header(":status") == "200"


def test_a_client_that_refuses_push_gets_links(served: str) -> None:
    log = nghttp(f"{served}/items", "--no-push", "-H", f"preload: {ITEMS}")
    assert log.promises == []
    expected = [f"</items/{i}>; rel=preload; as=fetch" for i in range(5)]
    assert links(log.final_headers(requests(log)[0]).headers) == expected


def test_nothing_is_pushed_for_json_without_preload(served: str) -> None:
    log = nghttp(f"{served}/items")
    assert log.promises == []
    assert links(log.final_headers(requests(log)[0]).headers) == []


def test_nothing_is_pushed_for_html_with_preload(served: str) -> None:
    log = nghttp(f"{served}/page", "-H", f"preload: {ITEMS}")
    assert log.promises == []


def test_a_malformed_preload_is_ignored(served: str) -> None:
    log = nghttp(f"{served}/items", "-H", "preload: /items/*")
    assert log.promises == []
    assert log.final_headers(requests(log)[0]).header(":status") == "200"


def test_a_large_body_is_passed_on_unchanged(served: str) -> None:
    log = nghttp(f"{served}/large", "-H", f"preload: {ITEMS}")
    assert log.promises == []
    assert sum(f.length for f in log.data_frames(requests(log)[0])) > 3 * 1024 * 1024


def test_nested_pointers_go_to_the_pushed_request(served: str) -> None:
    log = nghttp(f"{served}/authors", "-H", 'preload: "/items/*/books/*"')
    assert [p.header(":path") for p in log.promises] == [f"/authors/{i}" for i in range(5)]
    assert {p.header("preload") for p in log.promises} == {'"/books/*"'}
    # A pushed stream cannot push (RFC 9113 §8.4): its response links what it would push.
    for index, promise in enumerate(log.promises):
        assert promise.promised_stream_id is not None
        pushed = log.final_headers(promise.promised_stream_id)
        assert links(pushed.headers) == [f"</books/{index}>; rel=preload; as=fetch"]


def test_each_url_is_pushed_once_per_connection(served: str) -> None:
    log = nghttp(f"{served}/items", f"{served}/items?again", "-H", f"preload: {ITEMS}")
    assert sorted(p.header(":path") or "" for p in log.promises) == [
        f"/items/{i}" for i in range(5)
    ]
    second = requests(log)[1]
    assert links(log.final_headers(second).headers) == [
        f"</items/{i}>; rel=preload; as=fetch" for i in range(5)
    ]


def test_the_per_response_limit_holds(tls_files: TLSFiles) -> None:
    with h2push_serve(tls_files, "--max-pushes", "2") as origin:
        log = nghttp(f"{origin}/items", "-H", f"preload: {ITEMS}")
    assert [p.header(":path") for p in log.promises] == ["/items/0", "/items/1"]
    assert links(log.final_headers(requests(log)[0]).headers) == [
        f"</items/{i}>; rel=preload; as=fetch" for i in (2, 3, 4)
    ]


def test_the_transport_follows_a_push_limited_server(tls_files: TLSFiles) -> None:
    """Items the server did not push are fetched; every answer is right."""
    with (
        h2push_serve(tls_files, "--max-pushes", "2") as origin,
        httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client,
    ):
        listing = client.get(f"{origin}/items", headers={"preload": ITEMS})
        indexes = [client.get(origin + url).json()["index"] for url in listing.json()["items"]]
        transport = client._transport
        assert isinstance(transport, PushTransport)
        assert transport.push_stats.served == 2
    assert indexes == list(range(5))


# --------------------------------------------------------------------------- the acceptance run


@pytest.fixture
def bench_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ssl.SSLContext, str]]:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    with serve_api(items=20, rtt_ms=50) as (origin, ca_file):
        yield origin, ssl.create_default_context(cafile=str(ca_file)), str(ca_file)


def test_twenty_items_in_one_round_trip_at_50_ms(
    bench_server: tuple[str, ssl.SSLContext, str],
) -> None:
    """``h2push serve --rtt-ms 50``: the list and 20 items take one request; bodies are right.

    The time this saves is printed by ``h2push bench api``; here the round trips are counted:
    on the client (requests sent, answers from the push cache) and on the server (item
    requests that reached the app, and how many of those were pushed).
    """
    origin, context, ca_file = bench_server
    with httpx.Client(verify=context) as plain:
        before = plain.get(f"{origin}/stats").json()
        urls = plain.get(f"{origin}/items").json()["items"]
        expected = [plain.get(origin + url).content for url in urls]
        plain_requests = plain.get(f"{origin}/stats").json()

    async def fetch() -> tuple[list[bytes], int, int]:
        transport = AsyncPushTransport(verify=ca_file)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(f"{origin}/stats")  # the connection is open
            opened = transport.push_stats
            listing = await client.get(f"{origin}/items", headers={"preload": ITEMS})
            bodies = [(await client.get(origin + url)).content for url in listing.json()["items"]]
            done = transport.push_stats
        return bodies, done.requests_sent - opened.requests_sent, done.served - opened.served

    bodies, sent, served_from_push = asyncio.run(fetch())
    assert bodies == expected
    assert sent == 1
    assert served_from_push == 20
    with httpx.Client(verify=context) as plain:
        after = plain.get(f"{origin}/stats").json()
    assert plain_requests["requests"] - before["requests"] == 20  # the plain GETs
    assert after["requests"] - plain_requests["requests"] == 20  # each item produced once,
    assert after["pushed"] - plain_requests["pushed"] == 20  # and pushed


def test_bench_api_prints_its_table() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "h2push",
            "bench",
            "api",
            "--items",
            "4",
            "--rtt-ms",
            "10",
            "--json",
        ],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    push = next(c for c in result["cases"] if c["client"].startswith("h2push"))
    assert push["requests_sent"] == 1
    assert push["served_from_push"] == 4
    assert {c["client"] for c in result["cases"]} == {
        "httpx HTTP/1.1",
        "httpx HTTP/2",
        'h2push transport, Preload "/items/*"',
    }


def test_a_flask_api_under_h2push_serve(tls_files: TLSFiles) -> None:
    port = free_port()
    files = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = h2push_command("serve", "apps.api_flask:app", "--bind", f"127.0.0.1:{port}", *files)
    with running(command, port=port, cwd=TESTS):
        origin = f"https://127.0.0.1:{port}"
        log = nghttp(f"{origin}/books", "-H", 'preload: "/member/*"')
        assert [p.header(":path") for p in log.promises] == ["/books/0", "/books/1", "/books/2"]
        with httpx.Client(transport=PushTransport(verify=str(tls_files.ca))) as client:
            urls = client.get(f"{origin}/books", headers={"preload": '"/member/*"'}).json()
            titles = [client.get(origin + url).json()["title"] for url in urls["member"]]
            transport = client._transport
            assert isinstance(transport, PushTransport)
            assert transport.push_stats.served == 3
    assert titles == ["Book 0", "Book 1", "Book 2"]


# --------------------------------------------------------------------------- the hook, fuzzed

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["/a", "b/c", "//evil.test/x", "https://api.test/ok", "/x\r\ny", "/a,b"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["items", "a", "*", "b"]), children, max_size=4)
    ),
    max_leaves=30,
)


@fuzz
@given(
    preload=st.text(max_size=60) | st.sampled_from(['"/items/*"', '"/*", "/a/*/b"', '"/*/*"']),
    document=_JSON,
    chunks=st.integers(min_value=1, max_value=3),
)
def test_the_hook_keeps_its_promises(preload: str, document: Any, chunks: int) -> None:
    """Whatever the header and body: the body passes unchanged, after the pushes, which stay
    on the origin and within the limit; no header carries CR, LF or NUL."""
    body = json.dumps(document).encode()
    parts = _split(body, chunks)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, part in enumerate(parts):
            more = index < len(parts) - 1
            await send({"type": "http.response.body", "body": part, "more_body": more})

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/list",
        "scheme": "https",
        "http_version": "2",
        "headers": [(b"host", b"api.test"), (b"preload", preload.encode("utf-8"))],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 443),
        "extensions": {"http.response.push": {}},
    }
    middleware = H2PushMiddleware(app, max_pushes=3, tracker=None)
    asyncio.run(middleware(scope, receive, send))

    kinds = [m["type"] for m in sent]
    start = kinds.index("http.response.start")
    assert set(kinds[:start]) <= {"http.response.push"}
    assert set(kinds[start + 1 :]) == {"http.response.body"}
    assert b"".join(m["body"] for m in sent[start + 1 :]) == body
    pushes = [m for m in sent if m["type"] == "http.response.push"]
    assert len(pushes) <= 3
    assert len({p["path"] for p in pushes}) == len(pushes)
    for push in pushes:
        assert push["path"].startswith("/")
        assert not push["path"].startswith("//")
    for message in sent:
        for name, value in message.get("headers", ()):
            text = (name + value).decode("latin-1")
            assert not any(c in text for c in FORBIDDEN_IN_HEADERS), (name, value)


def _split(body: bytes, chunks: int) -> list[bytes]:
    size = -(-len(body) // chunks) or 1
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]
