"""Cost of h2push's cache digest: time per operation and encoded size.

Run as ``python benchmarks/digest.py``. Each section prints one table; a section is a function
that returns its title, column names and rows, listed in ``SECTIONS``. Times are the median,
in microseconds per call, of ``REPEATS`` runs, each run long enough (about ``RUN_TIME_S``) for
the clock to resolve it, so a section takes well under a second.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from h2push._core.digest import CacheDigest

REPEATS = 11
RUN_TIME_S = 0.005
MAX_CALLS_PER_RUN = 100_000
RESOURCE_COUNTS = (8, 64, 256)
LOG2_P = 7

Row = tuple[object, ...]
Section = Callable[[], tuple[str, tuple[str, ...], list[Row]]]


def median_us(call: Callable[[], object]) -> float:
    """Median microseconds per call of ``call`` over ``REPEATS`` timed runs."""
    calls = 1
    while calls < MAX_CALLS_PER_RUN:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        if time.perf_counter() - started >= RUN_TIME_S:
            break
        calls *= 2
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        runs.append((time.perf_counter() - started) / calls)
    return statistics.median(runs) * 1e6


def resource_urls(count: int) -> list[str]:
    return [f"https://example.com/static/asset-{i}.js" for i in range(count)]


def digest_codec() -> tuple[str, tuple[str, ...], list[Row]]:
    rows: list[Row] = []
    for count in RESOURCE_COUNTS:
        urls = resource_urls(count)
        digest = CacheDigest.from_urls(urls, log2_p=LOG2_P)
        data = digest.encode()
        text = digest.to_base64url()
        member, stranger = urls[count // 2], "https://example.com/static/not-pushed.js"
        rows.append(
            (
                count,
                2**digest.log2_n,
                median_us(partial(CacheDigest.from_urls, urls, log2_p=LOG2_P)),
                median_us(digest.encode),
                median_us(partial(CacheDigest.decode, data)),
                median_us(partial(CacheDigest.from_base64url, text)),
                median_us(partial(digest.contains, member)),
                median_us(partial(digest.contains, stranger)),
                len(data),
                len(text),
            )
        )
    title = f"cache digest (draft-ietf-httpbis-cache-digest-02), P = {2**LOG2_P}"
    columns = (
        "resources",
        "N",
        "build µs",
        "encode µs",
        "decode µs",
        "b64 decode µs",
        "hit µs",
        "miss µs",
        "bytes",
        "base64url chars",
    )
    return title, columns, rows


def flask_cookie_tracker() -> tuple[str, tuple[str, ...], list[Row]]:
    """The per-request cost of the cookie tracker in the Flask adapter, 64 resources.

    A Flask app whose manifest declares 64 resources answers a returning client's navigation
    (its cookie already holds all 64), once with the default cookie tracker and once without a
    tracker; the difference is what the tracker costs a request. The tracker's own work (read
    the cookie, decode the digest, look up 64 keys) is timed alone too.
    """
    import tempfile
    from pathlib import Path

    from flask import Flask

    from h2push.flask import H2Push
    from h2push.trackers import DEFAULT_TRACKER

    count = 64
    manifest = {f"/static/asset-{i}.js": {"type": "script", "weight": i} for i in range(count)}
    root = Path(tempfile.mkdtemp())
    (root / "push_manifest.json").write_text(json.dumps(manifest))

    def app(tracker: object) -> Flask:
        flask_app = Flask("bench", root_path=str(root))
        H2Push(flask_app, tracker=tracker)  # type: ignore[arg-type]
        flask_app.add_url_rule("/", "index", lambda: "page")
        return flask_app

    keys = [(url, None) for url in manifest]
    state = DEFAULT_TRACKER.load([])
    state.add(keys)
    ((_, set_cookie),) = state.response_headers()
    cookie = set_cookie.split(b";")[0]
    headers = [(b"cookie", cookie), (b"sec-fetch-mode", b"navigate")]

    def tracker_alone() -> None:
        DEFAULT_TRACKER.load(headers).known_urls(keys)

    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "bench", "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "https", "HTTP_HOST": "bench",
        "HTTP_SEC_FETCH_MODE": "navigate", "HTTP_COOKIE": cookie.decode("ascii"),
        "wsgi.input": None, "wsgi.errors": sys.stderr,
    }  # fmt: skip

    def request_through(flask_app: Flask) -> Callable[[], object]:
        def call() -> object:
            return b"".join(flask_app(dict(environ), lambda status, headers, exc=None: None))

        return call

    with_tracker = median_us(request_through(app(DEFAULT_TRACKER)))
    without = median_us(request_through(app(None)))
    rows: list[Row] = [
        ("tracker alone: load + 64 lookups", f"{median_us(tracker_alone):.1f}"),
        ("Flask request, cookie tracker", f"{with_tracker:.1f}"),
        ("Flask request, no tracker", f"{without:.1f}"),
        ("per-request cost of the tracker (target <= 20)", f"{with_tracker - without:.1f}"),
    ]
    return (
        f"Cookie tracker in the Flask adapter, {count} resources, returning client",
        ("what", "µs"),
        rows,
    )


SECTIONS: list[Section] = [digest_codec, flask_cookie_tracker]


def render(title: str, columns: tuple[str, ...], rows: list[Row]) -> str:
    cells = [
        [f"{value:.2f}" if isinstance(value, float) else str(value) for value in row]
        for row in rows
    ]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]

    def line(texts: list[str] | tuple[str, ...]) -> str:
        return "  ".join(text.rjust(width) for text, width in zip(texts, widths, strict=True))

    return "\n".join([title, line(columns), *(line(row) for row in cells)])


def main() -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print(f"median of {REPEATS} runs, microseconds per call\n")
    for section in SECTIONS:
        print(render(*section()))
        print()


if __name__ == "__main__":
    main()
