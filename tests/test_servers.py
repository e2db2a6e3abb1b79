"""The server capability table of docs/frameworks.md, one real server per cell.

Each test starts the server program itself on a free loopback port and checks what a real client
(curl, nghttp) receives:

* Hypercorn, by its own command line (not ``h2push serve``): the Quart example's extension sends
  the 103 and the pushes over HTTP/2.
* Uvicorn >= 0.54 with ``--http zttp --http2``: the 103 over HTTP/2, no push (Uvicorn offers no
  ``http.response.push``), the Link header over HTTP/1.1.
* Gunicorn >= 25, WSGI: ``environ["wsgi.early_hints"]`` carries the 103 of the Flask and Django
  examples over HTTP/1.1 before the view's 200 ms of thinking ends, and over HTTP/2 (gthread
  worker, ``--http-protocols h2,h1``).
* Gunicorn's ASGI worker: the Link header; its 103 arrives as ``http.response.informational``,
  which the worker does not list in ``scope["extensions"]``, so the middleware must be told.
"""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ON_CI, TLSFiles, free_port, require_module, require_program
from h2push.asgi import H2PushMiddleware
from nghttp import Log, nghttp
from processes import SRC, stop, wait_for_port

pytestmark = pytest.mark.peer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANIFEST_LINKS = [
    "</static/app.css>; rel=preload; as=style",
    "</static/dejavu-serif-bold.woff2>; rel=preload; as=font; crossorigin",
    "</static/app.js>; rel=preload; as=script",
]
THINK_TIME_S = 0.2


def _require_version(distribution: str, minimum: tuple[int, int], why: str) -> None:
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        version = "0"
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < minimum:
        message = f"{distribution} >= {'.'.join(map(str, minimum))} is needed {why} ({version})"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)


def _require_module(name: str, why: str) -> None:
    if importlib.util.find_spec(name) is None:
        message = f"the {name} package is needed {why}"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def _running(command: list[str], *, port: int, cwd: Path, log: Path) -> Iterator[None]:
    """Run a server program listening on ``port`` until the block ends; stop it by its pid."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(cwd), os.environ.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, log)
        yield
    finally:
        stop(process)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


def _curl(*args: str) -> str:
    curl = require_program("curl")
    result = subprocess.run(
        [curl, "-s", "--max-time", "20", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"curl {args} failed ({result.returncode}): {result.stderr}"
    return result.stdout


def _links(headers: list[tuple[str, str]]) -> list[str]:
    return [value for name, value in headers if name == "link"]


def _main_stream(log: Log) -> int:
    return next(f.stream_id for f in log.frames if f.direction == "send" and f.type == "HEADERS")


def _gunicorn(*args: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "1", *args]


# --------------------------------------------------------------------------- Hypercorn


@pytest.fixture(scope="module")
def hypercorn_quart(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_module("quart")
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = [sys.executable, "-m", "hypercorn", *tls, "--bind", f"127.0.0.1:{port}", "app:app"]
    log = tmp_path_factory.mktemp("hypercorn") / "hypercorn.log"
    with _running(command, port=port, cwd=EXAMPLES / "quart_app", log=log):
        yield f"https://127.0.0.1:{port}"


def test_hypercorn_sends_the_103_and_pushes_over_http2(hypercorn_quart: str) -> None:
    log = nghttp(hypercorn_quart + "/", "-H", "accept: text/html")

    (hint,) = log.informational
    assert _links(hint.headers) == MANIFEST_LINKS
    assert [p.header(":path") for p in log.promises][:3] == [
        "/static/app.css",
        "/static/dejavu-serif-bold.woff2",
        "/static/app.js",
    ]
    assert log.final_headers(_main_stream(log)).header(":status") == "200"


def test_hypercorn_over_http1_gets_the_link_header(
    hypercorn_quart: str, tls_files: TLSFiles
) -> None:
    page = _curl(
        "-i",
        "--http1.1",
        "--cacert",
        str(tls_files.ca),
        "-H",
        "accept: text/html",
        hypercorn_quart + "/",
    )
    assert page.startswith("HTTP/1.1 200")
    assert all(value in page for value in MANIFEST_LINKS)


# --------------------------------------------------------------------------- Uvicorn


@pytest.fixture(scope="module")
def uvicorn_starlette(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    _require_version("uvicorn", (0, 54), "for HTTP/2 and its 103 (--http zttp --http2)")
    _require_module("zttp", "for Uvicorn's HTTP/2 (--http zttp)")
    require_module("starlette")
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--http", "zttp", "--http2",
        "--ssl-certfile", str(tls_files.cert), "--ssl-keyfile", str(tls_files.key),
        "--host", "127.0.0.1", "--port", str(port), "app:app",
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with _running(command, port=port, cwd=EXAMPLES / "starlette_app", log=log):
        yield f"https://127.0.0.1:{port}"


def test_uvicorn_sends_the_103_over_http2_and_no_push(uvicorn_starlette: str) -> None:
    log = nghttp(uvicorn_starlette + "/", "-H", "accept: text/html")

    (hint,) = log.informational
    assert _links(hint.headers) == MANIFEST_LINKS
    final = log.final_headers(_main_stream(log))
    assert final.header(":status") == "200"
    assert final.t_s - hint.t_s > THINK_TIME_S * 0.5  # the 103 left before the handler's sleep
    assert log.promises == []  # Uvicorn offers no http.response.push
    link = ", ".join(_links(final.headers))
    assert "</static/app.css>; rel=preload; as=style" in link
    assert "nopush" not in link  # nothing was pushed, so a proxy in front may push


def test_uvicorn_over_http1_gets_the_link_header_only(
    uvicorn_starlette: str, tls_files: TLSFiles
) -> None:
    page = _curl(
        "-i",
        "--http1.1",
        "--cacert",
        str(tls_files.ca),
        "-H",
        "accept: text/html",
        uvicorn_starlette + "/",
    )
    assert page.startswith("HTTP/1.1 200")
    assert all(value in page for value in MANIFEST_LINKS)


# --------------------------------------------------------------------------- Gunicorn, WSGI


@contextmanager
def _gunicorn_wsgi(example: str, app: str, tmp_path: Path, *args: str) -> Iterator[int]:
    _require_version("gunicorn", (25, 0), "for wsgi.early_hints")
    port = free_port()
    command = _gunicorn(*args, "-b", f"127.0.0.1:{port}", app)
    with _running(command, port=port, cwd=EXAMPLES / example, log=tmp_path / "gunicorn.log"):
        yield port


def _trace_times(output: str) -> dict[str, float]:
    """When curl (``--trace-ascii - --trace-time``) sent the request and got each status line."""
    times: dict[str, float] = {}
    stamp = 0.0
    for line in output.splitlines():
        clock = re.match(r"^(\d\d):(\d\d):(\d\d\.\d+) ", line)
        if clock:
            hours, minutes, seconds = clock.groups()
            stamp = datetime.timedelta(
                hours=int(hours), minutes=int(minutes), seconds=float(seconds)
            ).total_seconds()
            if "=> Send header" in line:
                times.setdefault("request", stamp)
        status = re.match(r"^0000: HTTP/1\.1 (\d{3}) ", line)
        if status:
            times.setdefault(status.group(1), stamp)
    return times


@pytest.mark.parametrize(
    ("example", "app"),
    [("flask_app", "app:app"), ("django_project", "mysite.wsgi")],
    ids=["flask", "django"],
)
def test_gunicorn_wsgi_103_reaches_curl_before_the_views_sleep_ends(
    example: str, app: str, tmp_path: Path
) -> None:
    require_module("django" if example == "django_project" else "flask")
    with _gunicorn_wsgi(example, app, tmp_path) as port:
        # The first request also loads the app's lazy parts (Django's URLconf): time the second.
        head = _curl("-i", "--http1.1", "-H", "accept: text/html", f"http://127.0.0.1:{port}/")
        output = _curl(
            "--http1.1", "--trace-ascii", "-", "--trace-time", "-o", os.devnull,
            "-H", "accept: text/html", f"http://127.0.0.1:{port}/",
        )  # fmt: skip
        times = _trace_times(output)
        early_ms = (times["103"] - times["request"]) * 1000
        final_ms = (times["200"] - times["request"]) * 1000
        print(f"{example}: 103 after {early_ms:.1f} ms, 200 after {final_ms:.1f} ms")
        assert early_ms < THINK_TIME_S * 1000  # before the view's sleep ended
        assert final_ms >= THINK_TIME_S * 1000
        hint = head.split("\n\n")[0].splitlines()  # text mode turned CRLF into LF
        assert hint[0] == "HTTP/1.1 103 Early Hints"
        assert hint[1:] == [f"Link: {value}" for value in MANIFEST_LINKS]


def test_gunicorn_wsgi_sends_the_103_over_http2_too(tmp_path: Path, tls_files: TLSFiles) -> None:
    require_module("flask")
    _require_module("h2", "for Gunicorn's HTTP/2")
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    with _gunicorn_wsgi(
        "flask_app", "app:app", tmp_path, "-k", "gthread", "--http-protocols", "h2,h1", *tls
    ) as port:
        log = nghttp(f"https://127.0.0.1:{port}/", "-H", "accept: text/html")
        (hint,) = log.informational
        assert _links(hint.headers) == MANIFEST_LINKS
        assert log.promises == []  # WSGI has no push
        assert log.final_headers(_main_stream(log)).header(":status") == "200"


# --------------------------------------------------------------------------- Gunicorn, ASGI

GUNICORN_ASGI_APP = """
import asyncio

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from h2push.asgi import H2PushMiddleware
from h2push._core.manifest import Manifest

MANIFEST = Manifest.from_dict({
    "/static/app.css": {"type": "style", "weight": 3},
    "/static/dejavu-serif-bold.woff2": {"type": "font", "weight": 2},
    "/static/app.js": {"type": "script", "weight": 1},
})


async def page(request):
    await asyncio.sleep(%(think)s)
    return HTMLResponse("<p>gunicorn asgi")


app = Starlette(routes=[Route("/", page)])
app.add_middleware(H2PushMiddleware, manifest=MANIFEST%(options)s)
"""

#: Whether the middleware can be told to send 103s as ``http.response.informational``.
INFORMATIONAL = "informational" in inspect.signature(H2PushMiddleware).parameters


@pytest.fixture(scope="module")
def gunicorn_asgi(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_version("gunicorn", (25, 0), "for its ASGI worker")
    _require_module("h2", "for Gunicorn's HTTP/2")
    require_module("starlette")
    directory = tmp_path_factory.mktemp("gunicorn-asgi")
    options = ", informational=True" if INFORMATIONAL else ""
    (directory / "asgi_app.py").write_text(
        GUNICORN_ASGI_APP % {"think": THINK_TIME_S, "options": options}
    )
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = _gunicorn(
        "-k", "asgi", "--http-protocols", "h2,h1", *tls, "-b", f"127.0.0.1:{port}", "asgi_app:app"
    )
    with _running(command, port=port, cwd=directory, log=directory / "gunicorn.log"):
        yield f"https://127.0.0.1:{port}"


def test_gunicorn_asgi_gets_the_link_header(gunicorn_asgi: str, tls_files: TLSFiles) -> None:
    for protocol in ("--http1.1", "--http2"):
        page = _curl(
            "-i", protocol, "--cacert", str(tls_files.ca), "-H", "accept: text/html",
            gunicorn_asgi + "/",
        )  # fmt: skip
        # Text mode turned CRLF into LF; a 103 block, if any, comes first.
        final = next(block for block in page.split("\n\n") if not re.match(r"HTTP/\S+ 103", block))
        assert re.match(r"HTTP/(1\.1|2) 200", final), page
        assert all(value in final for value in MANIFEST_LINKS)


@pytest.mark.xfail(
    not INFORMATIONAL,
    strict=True,
    reason="Gunicorn's ASGI worker takes a 103 as http.response.informational without offering"
    " it in scope['extensions']: needs H2PushMiddleware(informational=True), the asgi.py change",
)
def test_gunicorn_asgi_sends_the_103_when_told_to(gunicorn_asgi: str) -> None:
    log = nghttp(gunicorn_asgi + "/", "-H", "accept: text/html")

    (hint,) = log.informational
    assert _links(hint.headers) == MANIFEST_LINKS
    final = log.final_headers(_main_stream(log))
    assert final.t_s - hint.t_s > THINK_TIME_S * 0.5
    assert log.promises == []  # the worker offers no push
