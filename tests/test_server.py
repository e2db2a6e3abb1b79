"""``h2push serve`` and ``h2push demo``: loading APP, the bundled demo site, and real servers.

The servers are the real command in a subprocess on a free loopback port, checked with curl (and
nghttp and Chromium for the demo); the demo's ASGI app is also driven directly, message by message.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from conftest import TLSFiles, free_port, require_module, require_program
from h2push._core.manifest import Manifest
from h2push._tools.demo import MANIFEST_PATH, THINK_TIME_S, static_paths
from h2push._tools.demo import app as demo_app
from h2push._tools.serve.devcert import spki_sha256_base64
from h2push._tools.serve.server import (
    AppLoadError,
    build_app,
    detect_interface,
    import_app,
    parse_bind,
)
from h2push.asgi import H2PushMiddleware
from h2push.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"

ASGI_SOURCE = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b"<!doctype html><title>tiny</title><link rel=stylesheet href=/tiny.css><p>asgi"
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/html; charset=utf-8")],
    })
    await send({"type": "http.response.body", "body": body})
"""

WSGI_SOURCE = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>tiny</title><p>wsgi " + environ["PATH_INFO"].encode()]
"""

TINY_MANIFEST = {"/tiny.css": {"type": "style", "weight": 1}}

DEMO_FILES = {
    "/static/demo.css": "text/css; charset=utf-8",
    "/static/demo.js": "text/javascript; charset=utf-8",
    "/static/dejavu-serif-bold.woff2": "font/woff2",
    "/static/hero.svg": "image/svg+xml",
}


# -- loading APP --------------------------------------------------------------------------------


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A current directory for APP modules; sys.path and sys.modules are restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules_before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - modules_before:
        del sys.modules[name]


def _module(directory: Path, source: str) -> str:
    name = f"app_{uuid.uuid4().hex[:12]}"
    (directory / f"{name}.py").write_text(source)
    return name


async def _asgi_function(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI application that is a coroutine function."""


class _ASGIInstance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """An ASGI application that is an object with an async ``__call__``."""


def _wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


@pytest.mark.parametrize(
    ("target", "interface"),
    [
        (_asgi_function, "asgi"),
        (_ASGIInstance(), "asgi"),
        (functools.partial(_asgi_function), "asgi"),
        (_wsgi_function, "wsgi"),
    ],
    ids=["asgi-function", "asgi-instance", "asgi-partial", "wsgi-function"],
)
def test_detect_interface(target: object, interface: str) -> None:
    assert detect_interface(target) == interface


def test_a_flask_app_is_wsgi() -> None:
    flask = require_module("flask")

    assert detect_interface(flask.Flask(__name__)) == "wsgi"


def test_a_starlette_app_is_asgi() -> None:
    applications = require_module("starlette.applications")

    assert detect_interface(applications.Starlette()) == "asgi"


@pytest.mark.parametrize(
    ("target", "message"),
    [(42, "neither an ASGI nor a WSGI"), (_ASGIInstance, "class _ASGIInstance")],
    ids=["not-callable", "a-class"],
)
def test_detect_interface_refuses(target: object, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        detect_interface(target)


def test_import_app_from_the_current_directory(app_dir: Path) -> None:
    name = _module(app_dir, ASGI_SOURCE + "\nclass holder:\n    app = app\n")

    target = import_app(f"{name}:app")

    assert detect_interface(target) == "asgi"
    assert import_app(name) is target  # the attribute defaults to "app"
    assert import_app(f"{name}:holder.app") is target
    assert str(app_dir) in sys.path


@pytest.mark.parametrize(
    ("source", "spec", "message"),
    [
        (None, "no_such_module_here:app", r"cannot import 'no_such_module_here': no module named"),
        ("x = 1\n", "{name}:missing", r"'{name}' has no attribute 'missing'"),
        ("x = 1\n", "{name}:x.real.y", r"'{name}.x.real' has no attribute 'y'"),
        (
            "import no_such_dependency_here\n",
            "{name}:app",
            (
                r"importing '{name}' failed: ModuleNotFoundError: No module named"
                r" 'no_such_dependency_here' \(.*{name}\.py:1\)"
            ),
        ),
        (
            "raise RuntimeError('boom')\n",
            "{name}:app",
            r"importing '{name}' failed: RuntimeError: boom \(.*{name}\.py:1\)",
        ),
        ("def broken(:\n", "{name}:app", r"importing '{name}' failed: SyntaxError"),
        (None, "not a spec", r"must look like module:attribute"),
        (None, ":app", r"must look like module:attribute"),
        (None, "pkg:app[0]", r"must look like module:attribute"),
    ],
    ids=[
        "no-module",
        "no-attribute",
        "no-nested-attribute",
        "missing-dependency",
        "raises",
        "syntax-error",
        "spaces",
        "no-module-name",
        "subscript",
    ],
)
def test_import_app_errors_are_one_line(
    app_dir: Path, source: str | None, spec: str, message: str
) -> None:
    name = _module(app_dir, source) if source is not None else "unused"

    with pytest.raises(AppLoadError) as caught:
        import_app(spec.format(name=name))

    text = str(caught.value)
    assert "\n" not in text
    assert re.search(message.format(name=name), text), text


def test_build_app_wraps_asgi_as_it_is() -> None:
    manifest = Manifest.from_dict(TINY_MANIFEST)

    wrapped = build_app(_asgi_function, "asgi", manifest=manifest, push=False, early_hints=True)

    assert isinstance(wrapped, H2PushMiddleware)
    # With push off, the app is held so that it cannot push by itself either.
    assert cast(Any, wrapped.app).app is _asgi_function
    assert cast(H2PushMiddleware, build_app(_asgi_function, "asgi")).app is _asgi_function
    assert wrapped.manifest is manifest
    assert (wrapped.push, wrapped.early_hints, wrapped.push_preload) == (False, True, False)


def test_build_app_bridges_wsgi_and_pushes_its_link_preloads() -> None:
    a2wsgi = require_module("a2wsgi")

    wrapped = build_app(_wsgi_function, "wsgi")

    assert isinstance(wrapped, H2PushMiddleware)
    assert isinstance(wrapped.app, a2wsgi.WSGIMiddleware)
    assert wrapped.push_preload
    assert wrapped.preloads is None


def test_build_app_plans_a_flask_apps_declarations_before_the_view(tmp_path: Path) -> None:
    flask = require_module("flask")
    from h2push.flask import H2Push

    (tmp_path / "push_manifest.json").write_text(json.dumps(TINY_MANIFEST))
    flask_app = flask.Flask("flask_app", root_path=str(tmp_path))
    H2Push(flask_app)

    @flask_app.route("/")
    def index() -> str:
        return "index"

    wrapped = build_app(flask_app, detect_interface(flask_app))

    assert isinstance(wrapped, H2PushMiddleware)
    assert wrapped.preloads is not None
    assert [preload.url for preload in wrapped.preloads("/", True)] == ["/tiny.css"]


def test_build_app_carries_a_flask_apps_h2push_settings(tmp_path: Path) -> None:
    flask = require_module("flask")
    from h2push.flask import H2Push, SessionTracker
    from h2push.trackers import CookieDigestTracker

    configured = flask.Flask("configured", root_path=str(tmp_path))
    configured.config.update(H2PUSH_MAX_PUSHES=2, H2PUSH_EARLY_HINTS=False)
    H2Push(configured, tracker=None)
    wrapped = build_app(configured, "wsgi")
    assert isinstance(wrapped, H2PushMiddleware)
    assert (wrapped.max_pushes, wrapped.early_hints, wrapped.tracker) == (2, False, None)
    # The command line's --max-pushes wins over the app's setting.
    assert cast(H2PushMiddleware, build_app(configured, "wsgi", max_pushes=7)).max_pushes == 7

    # Flask's session is out of the middleware's reach: it keeps its own cookie tracker.
    session_app = flask.Flask("session_app", root_path=str(tmp_path))
    H2Push(session_app, tracker=SessionTracker(), max_pushes=3)
    wrapped = build_app(session_app, "wsgi", early_hints=False)
    assert isinstance(wrapped, H2PushMiddleware)
    assert isinstance(wrapped.tracker, CookieDigestTracker)
    assert (wrapped.max_pushes, wrapped.early_hints) == (3, False)

    plain = build_app(flask.Flask("plain", root_path=str(tmp_path)), "wsgi")
    assert isinstance(plain, H2PushMiddleware)
    assert (plain.max_pushes, plain.early_hints) == (10, True)


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:65535", ("::1", 65535)),
    ],
)
def test_parse_bind(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", ":99999", "::1:8443"])
def test_parse_bind_refuses(bind: str) -> None:
    with pytest.raises(ValueError, match="bind"):
        parse_bind(bind)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "no_such_module_here:app"], "cannot import 'no_such_module_here'"),
        (["serve", "{name}:nope"], "has no attribute 'nope'"),
        (["serve", "{name}:app", "--manifest", "missing.json"], "missing.json: cannot be read"),
        (["serve", "{name}:app", "--certfile", "c.pem", "--keyfile", "k.pem"], "c.pem"),
    ],
    ids=["no-module", "no-attribute", "no-manifest", "no-certificate"],
)
def test_serve_errors_are_one_line_without_traceback(
    app_dir: Path, args: list[str], message: str
) -> None:
    name = _module(app_dir, ASGI_SOURCE)

    result = CliRunner().invoke(main, [arg.format(name=name) for arg in args])

    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["--certfile", "c.pem"], ["--keyfile", "k.pem"], ["--bind", "127.0.0.1"], ["--workers", "0"]],
)
def test_serve_usage_errors(app_dir: Path, args: list[str]) -> None:
    name = _module(app_dir, ASGI_SOURCE)

    result = CliRunner().invoke(main, ["serve", f"{name}:app", *args])

    assert result.exit_code == 2
    assert "Traceback" not in result.output


# -- the demo app, driven directly ----------------------------------------------------------------


def _call(
    method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Run one request through the demo's ASGI app; return status, headers and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }
    messages: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    asyncio.run(asyncio.wait_for(demo_app(scope, receive, send), timeout=10))
    start, *bodies = messages
    assert start["type"] == "http.response.start"
    return start["status"], dict(start["headers"]), b"".join(m["body"] for m in bodies)


def test_demo_page_thinks_then_answers() -> None:
    started = time.monotonic()

    status, headers, body = _call("GET", "/")

    assert time.monotonic() - started >= THINK_TIME_S
    assert status == 200
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"cache-control"] == b"no-store"
    assert int(headers[b"content-length"]) == len(body)
    assert b"<h1>h2push demo</h1>" in body


@pytest.mark.parametrize(("path", "content_type"), DEMO_FILES.items())
def test_demo_static_files(path: str, content_type: str) -> None:
    status, headers, body = _call("GET", path)

    assert status == 200
    assert headers[b"content-type"].decode() == content_type
    assert headers[b"cache-control"].startswith(b"public, max-age=")
    assert int(headers[b"content-length"]) == len(body) > 0

    head_status, head_headers, head_body = _call("HEAD", path)
    assert (head_status, head_body) == (200, b"")
    assert head_headers == headers

    etag = headers[b"etag"]
    for if_none_match in (etag, b'W/"other", ' + etag, b"*"):
        status, revalidated, body = _call("GET", path, [(b"if-none-match", if_none_match)])
        assert (status, body) == (304, b"")
        assert revalidated[b"etag"] == etag
    assert _call("GET", path, [(b"if-none-match", b'"other"')])[0] == 200


def test_demo_font_is_a_small_woff2() -> None:
    _, _, body = _call("GET", "/static/dejavu-serif-bold.woff2")

    assert body[:4] == b"wOF2"
    assert len(body) < 16_000


@pytest.mark.parametrize("path", ["/nope", "/static/", "/static/../index.html", "/index.html"])
def test_demo_unknown_paths_are_404(path: str) -> None:
    assert _call("GET", path)[0] == 404


def test_demo_refuses_other_methods() -> None:
    status, headers, _ = _call("POST", "/")

    assert status == 405
    assert headers[b"allow"] == b"GET, HEAD"


def test_demo_manifest_declares_the_pages_critical_resources() -> None:
    manifest = Manifest.load(MANIFEST_PATH)
    preloads = manifest.preloads_for("/")

    assert [(p.url, p.as_) for p in preloads] == [
        ("/static/demo.css", "style"),
        ("/static/dejavu-serif-bold.woff2", "font"),
        ("/static/demo.js", "script"),
        ("/static/hero.svg", "image"),
    ]
    assert next(p for p in preloads if p.as_ == "font").crossorigin == "anonymous"
    assert {p.url for p in preloads} <= set(static_paths())
    # Each declared resource is one the page really uses, directly or through its stylesheet.
    page = _call("GET", "/")[2].decode()
    stylesheet = _call("GET", "/static/demo.css")[2].decode()
    for preload in preloads:
        assert f'"{preload.url}"' in page + stylesheet, preload.url


# -- real servers ---------------------------------------------------------------------------------


class Server:
    """A running ``h2push`` subprocess and what it printed."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"https://127.0.0.1:{port}/"

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the server with ``sig`` (by its own process id) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
            pytest.fail(f"h2push did not stop on signal {sig}:\n{self.output}")


def _start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from h2push.cli import main; main()",
        *args,
        "--bind",
        f"127.0.0.1:{port}",
    ]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "H2PUSH_CACHE_DIR": str(cwd / "cache"),
        **(env or {}),
    }
    log = cwd / f"h2push-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"h2push exited with {process.returncode}:\n{server.output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    pytest.fail(f"h2push did not listen on {port} within 30 s:\n{server.output}")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test started; stopped by their process ids at the end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


def _curl(*args: str) -> str:
    curl = require_program("curl")
    result = subprocess.run(
        [curl, "-s", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"curl {args} failed ({result.returncode}): {result.stderr!r}"
    return result.stdout.decode("utf-8", "replace")


def _site(tmp_path: Path, source: str) -> Path:
    (tmp_path / "tiny_app.py").write_text(source)
    (tmp_path / "push_manifest.json").write_text(json.dumps(TINY_MANIFEST))
    return tmp_path


@pytest.mark.peer
@pytest.mark.parametrize(("source", "interface"), [(ASGI_SOURCE, "ASGI"), (WSGI_SOURCE, "WSGI")])
def test_serve_over_http1_and_http2(
    tmp_path: Path, tls_files: TLSFiles, servers: list[Server], source: str, interface: str
) -> None:
    site = _site(tmp_path, source)
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    server = _start(["serve", "tiny_app:app", "--manifest", "push_manifest.json", *tls], site)
    servers.append(server)

    http1 = _curl("--http1.1", "-k", "-i", "-H", "Accept: text/html", server.url)
    http2 = _curl("--http2", "-k", "-i", "-H", "Accept: text/html", server.url)

    assert http1.startswith("HTTP/1.1 200")
    assert f"<p>{interface.lower()}" in http1
    assert re.search(r"(?im)^link: </tiny.css>; rel=preload; as=style", http1)
    assert http2.startswith("HTTP/2 103")
    assert re.search(
        r"(?is)^HTTP/2 103.*link: </tiny.css>; rel=preload; as=style.*HTTP/2 200", http2
    )
    output = server.output
    assert f"h2push serve: tiny_app:app ({interface}) with 103 Early Hints and push" in output
    assert f"URL:      {server.url}" in output
    spki = spki_sha256_base64(tls_files.cert.read_bytes())
    assert f"--ignore-certificate-errors-spki-list={spki}" in output
    assert "CA file" not in output  # the certificate given is not h2push's development one
    assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.output


@pytest.mark.peer
def test_serve_without_early_hints_still_sets_link(
    tmp_path: Path, tls_files: TLSFiles, servers: list[Server]
) -> None:
    site = _site(tmp_path, ASGI_SOURCE)
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    args = ["serve", "tiny_app:app", "--manifest", "push_manifest.json", "--no-early-hints", *tls]
    server = _start(args, site)
    servers.append(server)

    http2 = _curl("--http2", "-k", "-i", "-H", "Accept: text/html", server.url)

    assert http2.startswith("HTTP/2 200")
    assert re.search(r"(?im)^link: </tiny.css>; rel=preload; as=style", http2)
    assert "with push" in server.output
    assert server.stop(signal.SIGINT) == 0


@pytest.mark.peer
def test_serve_with_worker_processes(
    tmp_path: Path, tls_files: TLSFiles, servers: list[Server]
) -> None:
    site = _site(tmp_path, ASGI_SOURCE)
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    args = ["serve", "tiny_app:app", "--manifest", "push_manifest.json", "--workers", "2", *tls]
    server = _start(args, site, env={"H2PUSH_SERVE_OPTIONS": "stale"})
    servers.append(server)

    for _ in range(4):
        http2 = _curl("--http2", "-k", "-i", "-H", "Accept: text/html", server.url)
        assert http2.startswith("HTTP/2 103"), http2
        assert "<p>asgi" in http2
    # Hypercorn's parent runs the workers as spawned child processes (beside the resource tracker).
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    commands = [Path(f"/proc/{child}/cmdline").read_bytes() for child in children]
    assert sum(b"spawn_main" in command for command in commands) == 2
    assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.output


@pytest.mark.peer
def test_serve_refuses_a_busy_port(tmp_path: Path, tls_files: TLSFiles) -> None:
    site = _site(tmp_path, ASGI_SOURCE)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from h2push.cli import main; main()",
                "serve",
                "tiny_app:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--certfile",
                str(tls_files.cert),
                "--keyfile",
                str(tls_files.key),
            ],
            cwd=site,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def _banner(server: Server) -> dict[str, str]:
    fields = {}
    for line in server.output.splitlines():
        match = re.match(r"^  (URL|CA file|SPKI|Chromium):\s+(.*)$", line)
        if match:
            fields[match.group(1)] = match.group(2)
    return fields


@pytest.mark.peer
def test_demo_prints_how_to_open_it_and_serves_its_files(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = _start(["demo"], tmp_path)
    servers.append(server)
    banner = _banner(server)
    cache = tmp_path / "cache"

    assert banner["URL"] == server.url
    assert Path(banner["CA file"]) == cache / "ca.pem"
    assert banner["SPKI"] == spki_sha256_base64((cache / "cert.pem").read_bytes())
    assert banner["Chromium"].endswith(
        f" --ignore-certificate-errors-spki-list={banner['SPKI']}"
        f' --user-data-dir="$(mktemp -d)" {server.url}'
    )
    # The development CA is enough for curl to verify the server: no -k.
    trust = ["--cacert", banner["CA file"]]
    page = _curl(*trust, "--http2", "-i", "-H", "Accept: text/html", server.url)
    assert re.search(r"(?s)^HTTP/2 103.*HTTP/2 200", page), page
    assert "content-type: text/html; charset=utf-8" in page
    for path, content_type in DEMO_FILES.items():
        status = _curl(
            *trust,
            "--http2",
            "-o",
            os.devnull,
            "-w",
            "%{http_code} %{content_type}",
            server.url.rstrip("/") + path,
        )
        assert status == f"200 {content_type}", path
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.peer
def test_demo_pushes_its_manifest_to_a_client_that_accepts_push(
    tmp_path: Path, servers: list[Server]
) -> None:
    from nghttp import nghttp

    server = _start(["demo"], tmp_path)
    servers.append(server)

    log = nghttp(server.url, "-H", "accept: text/html")

    promised = [frame.header(":path") for frame in log.promises]
    assert promised == [
        "/static/demo.css",
        "/static/dejavu-serif-bold.woff2",
        "/static/demo.js",
        "/static/hero.svg",
    ]

    # h2push's own tracer shows the same: the 103, the promises, and a summary.
    traced = subprocess.run(
        [sys.executable, "-m", "h2push", "trace", "--insecure", server.url],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    assert ":status: 103" in traced.stdout
    assert traced.stdout.count("recv PUSH_PROMISE frame") == 4
    assert "main response: GET / -> 200" in traced.stdout
    assert "pushed: 4" in traced.stdout


@pytest.mark.peer
def test_demo_page_reports_early_hints_in_chromium(tmp_path: Path, servers: list[Server]) -> None:
    require_program("chromium")
    from h2push._tools.browser import Chromium

    server = _start(["demo"], tmp_path)
    servers.append(server)
    spki = _banner(server)["SPKI"]

    with Chromium(spki=[spki]) as browser:
        load = browser.load(server.url, settle_s=0.5)
        report = browser.evaluate("JSON.stringify(window.h2pushDemo)")

    for path in ("/static/demo.css", "/static/dejavu-serif-bold.woff2", "/static/demo.js"):
        assert load.initiator_of(path) == "early-hints", (path, load.resources)
    rows = {row["path"]: row["delivery"] for row in json.loads(report)["resources"]}
    assert rows["/static/demo.css"] == "103 Early Hints"
    assert rows["/static/dejavu-serif-bold.woff2"] == "103 Early Hints"
    assert rows["/static/demo.js"] == "103 Early Hints"
    assert not load.console_errors


def test_build_app_leaves_hypercorn_unpatched() -> None:
    # build_app runs inside a user's test process (h2push.testing): no process-wide patch there.
    probe = (
        "from hypercorn.protocol.h2 import H2Protocol; "
        "before = H2Protocol._create_stream; "
        "from h2push._tools.serve.server import build_app; "
        "build_app(lambda scope, receive, send: None, 'asgi'); "
        "print(H2Protocol._create_stream is before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


def test_apply_hypercorn_fixes_patches_the_server_h2push_starts() -> None:
    probe = (
        "from importlib import metadata; "
        "from hypercorn.protocol.h2 import H2Protocol; "
        "before = H2Protocol._create_stream; "
        "from h2push._tools.serve.server import apply_hypercorn_fixes; "
        "apply_hypercorn_fixes(); "
        "print(metadata.version('hypercorn').startswith('0.18.'), "
        "H2Protocol._create_stream is before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    patched_series, unchanged = result.stdout.split()
    assert unchanged == ("False" if patched_series == "True" else "True")
