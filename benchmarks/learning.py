"""What learning costs: a 100 KB HTML page served in process, with and without learning.

Run as ``python benchmarks/learning.py [--runs N] [--seconds S]``. A Starlette app serves a
100 KB page at ``/`` (a head naming four stylesheets, four scripts and a preconnect, then body
text) to a navigation, through :class:`h2push.asgi.H2PushMiddleware` with the scope offering
``http.response.early_hint`` as Hypercorn does over HTTP/2 (the send callable discards what it
gets). Variants:

* ``off``: ``learn=False`` and no manifest: no hints at all (h2push as a pass-through);
* ``manifest``: ``learn=False`` and a manifest declaring what the head names: the same 103 and
  Link header as learning gives, declared by hand;
* ``learned``: learning on, the page learned (steady state: each response's start and first
  bytes are compared with the last response the route was read from, and the head is read again
  only when they differ);
* ``rendered ...``: the same three with the page rendered per request from a Jinja2
  template (120 paragraphs in a loop), as an application's page is, rather than sent as
  ready bytes;
* ``learned, CSP nonce``: learning on, and a CSP nonce that changes on every response, in a
  ``<script nonce=...>`` of the head and in the ``Content-Security-Policy`` header (as
  django-csp and Flask-Talisman set them): compared with the nonce's value blanked;
* ``learned, head changes``: learning on, and a head that differs on every response in what it
  says (a ``<meta>`` whose content changes), so that every response is read with
  ``html.parser``: the worst case.

Learning's own cost is ``learned`` against ``manifest`` (the same delivery, declared by hand
rather than learned); the target is at most 5 % more median time per request. Time to first
byte (from calling the app to the first body chunk reaching the server) is printed as well:
each chunk goes out before its copy is read, so learning must not delay it beyond the lookup
before the view. Runs are interleaved across variants so that machine noise falls on all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import time
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from h2push._core.manifest import Manifest
from h2push.asgi import H2PushMiddleware

HEAD = """<!doctype html><html lang=en><head><meta charset=utf-8><title>Page</title>
<link rel=preconnect href="https://fonts.example">
<link rel=stylesheet href="/static/reset.css"><link rel=stylesheet href="/static/app.css">
<link rel=stylesheet href="/static/theme.css"><link rel=stylesheet href="/static/print.css">
<script src="/static/vendor.js"></script><script src="/static/app.js" defer></script>
<script type=module src="/static/main.js"></script><script src="/static/extra.js"></script>
<meta name=nonce content="{nonce}"></head><body>
"""
BODY = ("<p>" + "lorem ipsum dolor sit amet " * 30 + "</p>\n") * 120
MANIFEST = Manifest.from_dict(
    {
        "https://fonts.example": {"type": "", "rel": "preconnect"},
        "/static/reset.css": {"type": "style"},
        "/static/app.css": {"type": "style"},
        "/static/theme.css": {"type": "style"},
        "/static/print.css": {"type": "style"},
        "/static/vendor.js": {"type": "script"},
        "/static/app.js": {"type": "script"},
        "/static/main.js": {"type": "", "rel": "modulepreload"},
        "/static/extra.js": {"type": "script"},
    }
)
NAVIGATE = [
    (b"host", b"example.com"),
    (b"sec-fetch-mode", b"navigate"),
    (b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
]
_nonces = itertools.count()


TEMPLATE = jinja2.Template(
    HEAD.replace("{nonce}", "fixed")
    + "{% for i in range(120) %}<p>{{ text }} {{ i }}</p>\n{% endfor %}"
)
TEXT = "lorem ipsum dolor sit amet " * 30


def _starlette(changing_head: bool, *, rendered: bool = False, csp: bool = False) -> Starlette:
    fixed = (HEAD.format(nonce="fixed") + BODY).encode()
    assert 95_000 < len(fixed) < 110_000, len(fixed)

    async def page(_request: Request) -> HTMLResponse:
        if rendered:
            return HTMLResponse(TEMPLATE.render(text=TEXT))
        if csp:
            nonce = secrets.token_urlsafe(16)
            head = HEAD.format(nonce="fixed").replace(
                "<script src=", f'<script nonce="{nonce}" src=', 1
            )
            policy = {"content-security-policy": f"script-src 'nonce-{nonce}'"}
            return HTMLResponse(head + BODY, headers=policy)
        if changing_head:
            return HTMLResponse(HEAD.format(nonce=next(_nonces)) + BODY)
        return HTMLResponse(fixed)

    return Starlette(routes=[Route("/", page)])


def _variants() -> dict[str, Any]:
    return {
        "off": H2PushMiddleware(_starlette(False), push=False, learn=False),
        "manifest": H2PushMiddleware(_starlette(False), push=False, learn=False, manifest=MANIFEST),
        "learned": H2PushMiddleware(_starlette(False), push=False),
        "rendered, off": H2PushMiddleware(_starlette(False, rendered=True), learn=False),
        "rendered, manifest": H2PushMiddleware(
            _starlette(False, rendered=True), push=False, learn=False, manifest=MANIFEST
        ),
        "rendered, learned": H2PushMiddleware(_starlette(False, rendered=True), push=False),
        "learned, CSP nonce": H2PushMiddleware(_starlette(False, csp=True), push=False),
        "learned, head changes": H2PushMiddleware(_starlette(True), push=False),
    }


async def _request(app: Any) -> tuple[float, float, int]:
    """Serve ``/`` once: (total seconds, seconds to the first body chunk, 103s sent)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": NAVIGATE,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
        "extensions": {"http.response.early_hint": {}},
    }
    first_byte = 0.0
    hints = 0
    start = time.perf_counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal first_byte, hints
        if message["type"] == "http.response.body" and not first_byte:
            first_byte = time.perf_counter() - start
        elif message["type"] == "http.response.early_hint":
            hints += 1

    await app(scope, receive, send)
    return time.perf_counter() - start, first_byte, hints


async def _run(app: Any, seconds: float) -> tuple[float, float]:
    """Median total and first-byte times (seconds) over a loop of ``seconds``."""
    totals: list[float] = []
    firsts: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        total, first, _ = await _request(app)
        totals.append(total)
        firsts.append(first)
    return statistics.median(totals), statistics.median(firsts)


async def _main(runs: int, seconds: float) -> None:
    variants = _variants()
    for name, app in variants.items():  # warm up; learning sees its first response here
        for _ in range(50):
            await _request(app)
        _, _, hints = await _request(app)
        expected = 0 if name.endswith("off") else 1
        assert hints == expected, f"{name}: {hints} 103s, expected {expected}"
    totals: dict[str, list[float]] = {name: [] for name in variants}
    firsts: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, app in variants.items():
            total, first = await _run(app, seconds)
            totals[name].append(total)
            firsts[name].append(first)
    median = {name: statistics.median(values) for name, values in totals.items()}
    first = {name: statistics.median(values) for name, values in firsts.items()}
    print(f"{'variant':24} {'median us/request':>18} {'first byte us':>14} {'vs manifest':>12}")
    for name in variants:
        base = "rendered, manifest" if name.startswith("rendered") else "manifest"
        ratio = median[name] / median[base] - 1
        print(f"{name:24} {median[name] * 1e6:18.1f} {first[name] * 1e6:14.1f} {ratio:+12.1%}")
    cost = median["learned"] / median["manifest"] - 1
    first_cost = first["learned"] / first["manifest"] - 1
    rendered = median["rendered, learned"] / median["rendered, manifest"] - 1
    print(f"learning adds {cost:+.1%} to the median time of a ready 100 KB page (bytes)")
    print(f"and {first_cost:+.1%} to its time to first byte;")
    print(f"learning adds {rendered:+.1%} to a rendered 100 KB page (target <= +5.0%)")


def main() -> None:
    """Parse the arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per run (default 1)")
    arguments = parser.parse_args()
    asyncio.run(_main(arguments.runs, arguments.seconds))


if __name__ == "__main__":
    main()
