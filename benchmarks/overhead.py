"""Requests per second of in-process WSGI and ASGI calls: what h2push costs a hello-world page.

Run as ``python benchmarks/overhead.py [--runs N] [--seconds S] [--profile] [--only TEXT]``
(``--only Flask``: the variants whose names contain TEXT, and their baselines). Every variant
serves the same page at ``/`` with the same ten resources (a stylesheet, a font, two scripts,
six images) delivered its own way, to a first-visit navigation (``Accept: text/html``, no
cookie):

* bare Flask, and Flask with ``h2push.flask.H2Push`` and the ten resources in a manifest
  (default cookie-digest tracker; a second row without a tracker);
* Flask with Flask-Firehose 0.2.3, the view calling its ``push()`` for each resource (its
  connector keeps the pushed set in Flask's signed session cookie);
* Flask with flask-http2-push 0.0.3's ``@http2push`` decorator: it fails on Python 3 as
  released (``dict.iteritems``); the failure is reported instead of a figure;
* bare Starlette, and Starlette inside ``H2PushMiddleware`` with the same manifest, the scope
  offering ``http.response.early_hint`` and ``http.response.push`` as Hypercorn does over
  HTTP/2 (so one 103 and ten push messages per request; the send callable discards them);
  once more without a tracker, and once with an HTTP/1.1 scope (the Link header alone);
* the same with the Starlette adapter as its docs set it up: the manifest given to the route
  by ``@http2push``, found per request by ``preloads_resolver(app)``.

Each variant is called in a tight loop for ``--seconds`` per run; runs are interleaved across
variants (run 1 of all, then run 2, ...) so that machine noise falls on all alike; the table
shows the median of the runs, the min and max, and the ratio of the medians to the bare
framework. Targets: Flask + h2push at least 0.90 x bare Flask; Starlette + middleware at least
0.85 x bare over HTTP/1.1 and 0.50 x with the HTTP/2 scope. Three floor rows show what the least
possible work costs: a WSGI wrapper and a 20-line ASGI middleware that append a precomputed
Link value to navigations, and the same middleware sending a precomputed 103 and ten push
messages first, with the HTTP/2 scope. A variant that misses its target is profiled with
cProfile and the functions it spends its time in are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import platform
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from werkzeug.test import EnvironBuilder

from h2push._core.manifest import Manifest
from h2push.asgi import H2PushMiddleware
from h2push.flask import H2Push

PAGE = "<!doctype html><title>hello</title><h1>Hello, world!</h1>"
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
RESOURCES: dict[str, dict[str, Any]] = {
    "/static/app.css": {"type": "style", "weight": 10},
    "/static/font.woff2": {"type": "font", "weight": 9},
    "/static/app.js": {"type": "script", "weight": 8},
    "/static/vendor.js": {"type": "script", "weight": 7},
    **{f"/static/img/{i}.png": {"type": "image", "weight": 6 - i} for i in range(6)},
}
TARGET = 0.90
"""Target: Flask + h2push at least this times bare Flask."""
TARGET_HTTP2 = 0.50
"""Target: Starlette + middleware with the HTTP/2 scope (103 + 10 pushes) against bare."""
TARGET_HTTP1 = 0.85
"""Target: Starlette + middleware with an HTTP/1.1 scope (the Link header) against bare."""
LINK_VALUES = [f"<{url}>; rel=preload; as={spec['type']}" for url, spec in RESOURCES.items()]
LINK_FLOOR = ", ".join(LINK_VALUES)
"""The floor variants' precomputed Link value."""

MANIFEST = Manifest.from_dict(RESOURCES, source="<overhead benchmark>")


# --------------------------------------------------------------------------- WSGI variants


def _flask(name: str) -> Flask:
    app = Flask(name)
    app.config["SECRET_KEY"] = "benchmark"  # Flask-Firehose keeps its set in the session
    return app


def bare_flask() -> Flask:
    app = _flask("bare")

    @app.route("/")
    def index() -> str:
        return PAGE

    return app


def flask_h2push(*, tracker: bool = True) -> Flask:
    app = _flask("h2push")
    if tracker:
        H2Push(app, manifest=MANIFEST)
    else:
        H2Push(app, manifest=MANIFEST, tracker=None)

    @app.route("/")
    def index() -> str:
        return PAGE

    return app


def flask_link_floor() -> Flask:
    """Bare Flask in a throwaway WSGI wrapper appending a precomputed Link to navigations."""
    app = bare_flask()
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "text/html" not in environ.get("HTTP_ACCEPT", ""):
            return inner(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("Link", LINK_FLOOR))
            return start_response(status, headers, exc_info)

        return inner(environ, start)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


def flask_firehose() -> Flask:
    from flask_firehose import Firehose, push  # type: ignore[import-untyped]

    app = _flask("firehose")
    Firehose(app)

    @app.route("/")
    def index() -> str:
        for url, entry in RESOURCES.items():
            push(url, **{"as": entry["type"], "rel": "preload"})
        return PAGE

    return app


def flask_http2_push(manifest_path: Path) -> Flask:
    from flask_http2_push import http2push  # type: ignore[import-untyped]

    app = _flask("http2push")

    @app.route("/")
    @http2push(str(manifest_path))
    def index() -> str:
        return PAGE

    return app


def wsgi_caller(app: Flask) -> Callable[[], int]:
    """One in-process WSGI request per call; returns the status code."""
    environ = EnvironBuilder(
        path="/", base_url="https://127.0.0.1:8443/", headers={"Accept": ACCEPT}
    ).get_environ()
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    def call() -> int:
        status.clear()
        body = app.wsgi_app(dict(environ), start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return int(status[0].split(" ", 1)[0])

    return call


# --------------------------------------------------------------------------- ASGI variants


async def _hello(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


def bare_starlette() -> Any:
    return Starlette(routes=[Route("/", _hello)])


def starlette_h2push(*, tracker: bool = True) -> Any:
    if tracker:
        return H2PushMiddleware(bare_starlette(), manifest=MANIFEST)
    return H2PushMiddleware(bare_starlette(), manifest=MANIFEST, tracker=None)


def starlette_routes() -> Any:
    """The Starlette adapter as its docs set it up: the route's own ``@http2push`` manifest."""
    from h2push.starlette import http2push, preloads_resolver

    app = Starlette(routes=[Route("/", http2push(MANIFEST)(_hello))])
    return H2PushMiddleware(app, preloads=preloads_resolver(app))


class LinkFloor:
    """A 20-line ASGI middleware appending a precomputed Link to navigations: the floor."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.link = (b"link", LINK_FLOOR.encode("ascii"))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not any(
            name == b"accept" and b"text/html" in value for name, value in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_link(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.link]}
            await send(message)

        await self.app(scope, receive, send_with_link)


class PushFloor(LinkFloor):
    """The 20-line middleware, also sending a precomputed 103 and ten push messages."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.links = [value.encode("ascii") for value in LINK_VALUES]
        self.pushes = [(url, (b"accept", b"*/*")) for url in RESOURCES]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(
            name == b"accept" and b"text/html" in value for name, value in scope["headers"]
        ):
            await send({"type": "http.response.early_hint", "links": list(self.links)})
            for url, accept in self.pushes:  # a new message each, as a server may keep it
                await send({"type": "http.response.push", "path": url, "headers": [accept]})
        await super().__call__(scope, receive, send)


def asgi_loop(app: Any, *, http2: bool) -> Callable[[int], int]:
    """``calls(n)`` makes n in-process ASGI requests in one event loop; returns the last status."""
    headers = [(b"host", b"127.0.0.1:8443"), (b"accept", ACCEPT.encode())]
    extensions: dict[str, dict[str, Any]] = (
        {"http.response.early_hint": {}, "http.response.push": {}} if http2 else {}
    )
    base = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "2" if http2 else "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 8443),
        "client": ("127.0.0.1", 50000),
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    loop = asyncio.new_event_loop()
    last: list[int] = [0]

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            last[0] = message["status"]

    # Each request on a new connection: h2push never pushes a URL twice on one connection.
    ports = itertools.cycle(range(1024, 65536))

    async def many(n: int) -> None:
        for port in itertools.islice(ports, n):
            client = ("127.0.0.1", port)
            scope = {**base, "client": client, "extensions": dict(extensions), "state": {}}
            await app(scope, receive, send)

    def calls(n: int) -> int:
        loop.run_until_complete(many(n))
        return last[0]

    return calls


# --------------------------------------------------------------------------- measuring


@dataclass
class Variant:
    name: str
    baseline: str | None  # the bare variant it is compared with
    batch: Callable[[int], int]  # makes n requests, returns the last status
    rps: list[float]
    target: float | None = None
    failure: str | None = None


def batch_of(call: Callable[[], int]) -> Callable[[int], int]:
    def batch(n: int) -> int:
        status = 0
        for _ in range(n):
            status = call()
        return status

    return batch


def calibrate(variant: Variant, seconds: float) -> int:
    """Requests that take about ``seconds``, from a short warm-up."""
    n, elapsed = 50, 0.0
    while elapsed < 0.1:
        started = time.perf_counter()
        status = variant.batch(n)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{variant.name}: status {status}")
        if elapsed < 0.1:
            n *= 4
    return max(int(n * seconds / elapsed), 50)


def http2_push_failure(manifest_path: Path) -> str:
    """What flask-http2-push 0.0.3 does on this Python: the exception its view raises."""
    app = flask_http2_push(manifest_path)
    app.testing = True  # propagate the view's exception instead of answering 500
    try:
        status = wsgi_caller(app)()
    except Exception as error:  # the point: report whatever it raises
        return f"{type(error).__name__}: {error}"
    return f"no failure (status {status})"


def profile(variant: Variant, n: int, *, lines: int = 16) -> str:
    """The h2push functions ``n`` requests spend their time in, by cumulative time (cProfile).

    Paths are shown from the package on (``h2push/asgi.py:179(__call__)``).
    """
    profiler = cProfile.Profile()
    profiler.enable()
    variant.batch(n)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"h2push[/\\]", lines)
    text = out.getvalue()
    rows = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(rows) if "ncalls" in line)
    total = next(line for line in rows if "function calls" in line).strip()
    cleaned = [re.sub(r"\S*[/\\](src|site-packages)[/\\]", "", line) for line in rows[start:]]
    return "\n".join(["    " + total, *("    " + line for line in cleaned)])


def table(variants: Iterable[Variant], runs: int) -> str:
    by_name = {v.name: v for v in variants}
    heading = (
        f"In-process requests per second (median of {runs} runs), hello-world page,"
        f" 10-resource manifest; Python {platform.python_version()}"
    )
    lines = [
        heading,
        "",
        "| variant | median req/s | min | max | x bare | + us/request | target |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for variant in by_name.values():
        if variant.failure is not None:
            lines.append(f"| {variant.name} | fails: {variant.failure} | | | | | |")
            continue
        median = statistics.median(variant.rps)
        ratio, extra_us, target = "1.00", "", ""
        if variant.baseline is not None:
            base = statistics.median(by_name[variant.baseline].rps)
            value = median / base
            ratio = f"{value:.2f}"
            extra_us = f"{1e6 / median - 1e6 / base:.0f}"
            if variant.target is not None:
                met = "met" if value >= variant.target else "MISSED"
                target = f">= {variant.target:.2f}: {met}"
        lines.append(
            f"| {variant.name} | {median:,.0f} | {min(variant.rps):,.0f}"
            f" | {max(variant.rps):,.0f} | {ratio} | {extra_us} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per variant (>= 5)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one run")
    parser.add_argument("--profile", action="store_true", help="profile every h2push variant")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="measure only the variants whose names contain TEXT, and their baselines",
    )
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    with tempfile.TemporaryDirectory() as tmp:
        manifest_path = Path(tmp) / "push_manifest.json"
        manifest_path.write_text(json.dumps(RESOURCES), encoding="utf-8")
        failure = http2_push_failure(manifest_path)

    variants = [
        Variant("Flask", None, batch_of(wsgi_caller(bare_flask())), []),
        Variant("Flask + h2push", "Flask", batch_of(wsgi_caller(flask_h2push())), [], TARGET),
        Variant(
            "Flask + h2push (tracker=None)",
            "Flask",
            batch_of(wsgi_caller(flask_h2push(tracker=False))),
            [],
        ),
        Variant(
            "Flask + Link floor (WSGI wrapper, precomputed Link)",
            "Flask",
            batch_of(wsgi_caller(flask_link_floor())),
            [],
        ),
        Variant(
            "Flask + Flask-Firehose 0.2.3", "Flask", batch_of(wsgi_caller(flask_firehose())), []
        ),
        Variant(
            "Flask + flask-http2-push 0.0.3", "Flask", batch_of(lambda: 0), [], failure=failure
        ),
        Variant("Starlette", None, asgi_loop(bare_starlette(), http2=True), []),
        Variant(
            "Starlette + H2PushMiddleware (HTTP/2 scope: 103 + 10 pushes + Link)",
            "Starlette",
            asgi_loop(starlette_h2push(), http2=True),
            [],
            TARGET_HTTP2,
        ),
        Variant(
            "Starlette + H2PushMiddleware (HTTP/2 scope, tracker=None)",
            "Starlette",
            asgi_loop(starlette_h2push(tracker=False), http2=True),
            [],
        ),
        Variant(
            "Starlette + h2push.starlette (route's @http2push, HTTP/2 scope)",
            "Starlette",
            asgi_loop(starlette_routes(), http2=True),
            [],
        ),
        Variant(
            "Starlette + H2PushMiddleware (HTTP/1.1 scope: Link)",
            "Starlette",
            asgi_loop(starlette_h2push(), http2=False),
            [],
            TARGET_HTTP1,
        ),
        Variant(
            "Starlette + Link floor (20-line ASGI middleware)",
            "Starlette",
            asgi_loop(LinkFloor(bare_starlette()), http2=False),
            [],
        ),
        Variant(
            "Starlette + push floor (the same, HTTP/2 scope: precomputed 103 + 10 pushes)",
            "Starlette",
            asgi_loop(PushFloor(bare_starlette()), http2=True),
            [],
        ),
    ]
    if args.only is not None:
        chosen = {v.name for v in variants if args.only in v.name}
        chosen |= {v.baseline for v in variants if v.name in chosen and v.baseline}
        variants = [v for v in variants if v.name in chosen]
        if not variants:
            parser.error(f"--only {args.only!r} matches no variant")
    measured = [v for v in variants if v.failure is None]
    sizes = {v.name: calibrate(v, args.seconds) for v in measured}
    for run in range(1, args.runs + 1):
        for variant in measured:
            n = sizes[variant.name]
            started = time.perf_counter()
            variant.batch(n)
            variant.rps.append(n / (time.perf_counter() - started))
        print(f"run {run}/{args.runs} done", file=sys.stderr, flush=True)

    print(table(variants, args.runs))
    medians = {v.name: statistics.median(v.rps) for v in measured}
    for variant in measured:
        if variant.baseline is None or (variant.target is None and not args.profile):
            continue
        missed = medians[variant.name] / medians[variant.baseline] < (variant.target or 0)
        if missed or (args.profile and "h2push" in variant.name.lower()):
            print(
                f"\nprofile of {variant.name} ({sizes[variant.name]} requests;"
                " h2push functions by cumulative time):"
            )
            print(profile(variant, sizes[variant.name]))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    v.name: {"rps": v.rps, "baseline": v.baseline, "failure": v.failure}
                    for v in variants
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
