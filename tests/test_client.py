"""``h2push trace``: the HTTP/2 client and its frame trace, against real servers.

Most tests trace :mod:`tests.apps.trace_app` served by Hypercorn over TLS (a 103, a push of
``/style.css``, then the page 200 ms later). What Hypercorn never does (reset a push, split a
header block into CONTINUATION frames, GOAWAY with an error, hang up mid-response) comes from a
small server scripted with ``h2`` itself; HTTP/1.1-only and ALPN-less servers are stdlib ``ssl``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
from click.testing import CliRunner
from h2.errors import ErrorCodes

from apps import trace_app
from conftest import TLSFiles, free_port
from h2push._tools.trace.command import trace_command
from h2push._tools.trace.cookies import CookieJarError, CookieJarFile
from h2push._tools.trace.models import Frame, TraceError
from h2push._tools.trace.session import parse_header_line, trace
from nghttp import nghttp
from processes import running

REPO = Path(__file__).resolve().parent.parent
STARTUP_S = 20.0
PUSH_PATH = "/style.css"
HINT = "</style.css>; rel=preload; as=style"


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def base_url(tls_files: TLSFiles) -> Iterator[str]:
    """Serve tests.apps.trace_app with Hypercorn over TLS; yield ``https://127.0.0.1:PORT``."""
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    command = [
        sys.executable,
        "-m",
        "hypercorn",
        *tls,
        "--bind",
        f"127.0.0.1:{port}",
        "tests.apps.trace_app:app",
    ]
    with running(command, port=port, cwd=REPO):
        yield f"https://127.0.0.1:{port}"


def _server_context(tls_files: TLSFiles, alpn: list[str] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


@contextmanager
def serve_once(
    tls_files: TLSFiles, alpn: list[str] | None, handle: Callable[[ssl.SSLSocket], None]
) -> Iterator[str]:
    """Accept one TLS connection on a free loopback port in a thread and pass it to ``handle``.

    Yields ``https://127.0.0.1:PORT/``. Errors in the thread are kept and re-raised here, except
    connection errors caused by the client going away.
    """
    context = _server_context(tls_files, alpn)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.settimeout(10)
                handle(conn)
        except (OSError, ssl.SSLError):
            pass
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}/"
    finally:
        thread.join(timeout=15)
        listener.close()
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def _read_until_closed(conn: ssl.SSLSocket) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and conn.recv(65536):
        pass


Script = Callable[[h2.connection.H2Connection, ssl.SSLSocket], None]


def h2_server(script: Script) -> Callable[[ssl.SSLSocket], None]:
    """A handler speaking HTTP/2 with ``h2``: on the request on stream 1, run ``script``."""

    def handle(conn: ssl.SSLSocket) -> None:
        server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        server.initiate_connection()
        conn.sendall(server.data_to_send())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = conn.recv(65536)
            if not data:
                return
            events = server.receive_data(data)
            conn.sendall(server.data_to_send())
            if any(isinstance(event, h2.events.RequestReceived) for event in events):
                script(server, conn)
                _read_until_closed(conn)
                return

    return handle


# --------------------------------------------------------------------------- helpers


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _index(frames: tuple[Frame, ...], predicate: Callable[[Frame], bool]) -> int:
    return next(i for i, frame in enumerate(frames) if predicate(frame))


def _run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(trace_command, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- Hypercorn


def test_trace_shows_the_early_hint_the_push_and_the_page(base_url: str) -> None:
    result = trace(f"{base_url}/", insecure=True)

    assert result.ok
    assert result.main.status == 200
    assert result.main.body_bytes == len(trace_app.PAGE)
    assert [hint.links for hint in result.early_hints] == [(HINT,)]

    promises = [frame for frame in result.frames if frame.type == "PUSH_PROMISE"]
    assert [(f.stream_id, f.promised_stream_id, f.path) for f in promises] == [(1, 2, PUSH_PATH)]

    (pushed,) = result.pushes
    assert (pushed.stream_id, pushed.parent_stream_id, pushed.path) == (2, 1, PUSH_PATH)
    assert pushed.status == 200
    assert pushed.body_bytes == len(trace_app.STYLE)
    assert pushed.reset is None
    assert pushed.completed_ms is not None
    assert pushed.promised_ms <= pushed.completed_ms


def test_pushed_data_arrives_before_the_page_headers(base_url: str) -> None:
    frames = trace(f"{base_url}/", insecure=True).frames

    hint = _index(frames, lambda f: f.direction == "recv" and f.status == 103)
    promise = _index(frames, lambda f: f.type == "PUSH_PROMISE")
    pushed_end = _index(frames, lambda f: f.type == "DATA" and f.stream_id == 2 and f.end_stream)
    page = _index(frames, lambda f: f.type == "HEADERS" and f.stream_id == 1 and f.status == 200)

    assert hint < promise < pushed_end < page
    assert frames[page].t_ms - frames[pushed_end].t_ms > 100  # the app thinks for 200 ms
    pushed_bytes = sum(f.length for f in frames if f.type == "DATA" and f.stream_id == 2)
    assert pushed_bytes == len(trace_app.STYLE)


def test_frames_are_in_time_order_from_settings_to_goaway(base_url: str) -> None:
    frames = trace(f"{base_url}/", insecure=True).frames

    times = [frame.t_ms for frame in frames]
    assert times == sorted(times)
    assert times[0] > 0
    assert (frames[0].direction, frames[0].type) == ("send", "SETTINGS")
    assert ("SETTINGS_ENABLE_PUSH", 1) in (frames[0].settings or ())
    request = frames[1]
    assert (request.direction, request.type, request.stream_id, request.path) == (
        "send",
        "HEADERS",
        1,
        "/",
    )
    assert request.end_stream
    assert any(f.direction == "recv" and f.type == "SETTINGS" and f.ack for f in frames)
    last = frames[-1]
    assert (last.direction, last.type, last.error_name) == ("send", "GOAWAY", "NO_ERROR")


def test_no_push_refuses_push_and_still_loads_the_page(base_url: str) -> None:
    result = trace(f"{base_url}/", insecure=True, enable_push=False)

    assert result.ok
    assert result.main.body_bytes == len(trace_app.PAGE)
    assert result.pushes == ()
    assert not [frame for frame in result.frames if frame.type == "PUSH_PROMISE"]
    assert ("SETTINGS_ENABLE_PUSH", 0) in (result.frames[0].settings or ())
    assert [hint.links for hint in result.early_hints] == [(HINT,)]


def test_added_headers_reach_the_server(base_url: str) -> None:
    result = trace(f"{base_url}/", insecure=True, headers=[("X-Trace-Echo", "hello there")])

    assert ("x-echo", "hello there") in result.main.headers
    assert ("x-trace-echo", "hello there") in result.request_headers


def test_cacert_verifies_the_server_without_insecure(base_url: str, tls_files: TLSFiles) -> None:
    assert trace(f"{base_url}/", cacert=tls_files.ca).ok


def test_an_unknown_ca_fails_in_one_line(base_url: str) -> None:
    with pytest.raises(TraceError, match="certificate verification failed") as caught:
        trace(f"{base_url}/")
    assert caught.value.kind == "certificate"

    code, stdout, stderr = _run_cli(f"{base_url}/")
    assert code == 1
    assert stdout == ""
    assert _one_line(stderr).startswith("h2push trace: TLS certificate verification failed")


def test_flow_control_never_stalls_a_large_page_and_push(base_url: str) -> None:
    result = trace(f"{base_url}/big", insecure=True)

    assert result.main.body_bytes == trace_app.BIG_SIZE
    (pushed,) = result.pushes
    assert (pushed.path, pushed.body_bytes) == ("/big.bin", trace_app.BIG_SIZE)
    updates = [f for f in result.frames if f.direction == "send" and f.type == "WINDOW_UPDATE"]
    assert {f.stream_id for f in updates} >= {0, 1, 2}


def test_a_slow_server_times_out_in_one_line(base_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TraceError, match=r"timed out after 0\.5 s") as caught:
        trace(f"{base_url}/slow", insecure=True, timeout_s=0.5)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 3
    assert any(frame.type == "HEADERS" for frame in caught.value.frames)


def test_text_output_shows_frames_and_summary(base_url: str) -> None:
    code, stdout, stderr = _run_cli(f"{base_url}/", "--insecure", "-H", "X-Trace-Echo: text")

    assert (code, stderr) == (0, "")
    assert re.search(r"^\[ *[\d.]+ms\] recv HEADERS frame <.*stream_id=1>$", stdout, re.M)
    assert re.search(r"^ +:status: 103$", stdout, re.M)
    assert re.search(
        r"^\[ *[\d.]+ms\] recv PUSH_PROMISE frame <.*stream_id=1, promised_stream_id=2>$",
        stdout,
        re.M,
    )
    assert re.search(r"^ +:path: /style\.css$", stdout, re.M)
    assert re.search(r"recv DATA frame <length=31, flags=0x00, stream_id=2>", stdout)
    assert re.search(r"^ +x-echo: text$", stdout, re.M)
    assert f"main response: GET / -> 200, {len(trace_app.PAGE)} bytes" in stdout
    assert "103 early hints at " in stdout
    assert re.search(rf"^  2 +/style\.css +200 +{len(trace_app.STYLE)} ", stdout, re.M)


def test_json_output_holds_every_frame_and_the_summary(base_url: str) -> None:
    code, stdout, stderr = _run_cli(f"{base_url}/", "--insecure", "--json")

    assert (code, stderr) == (0, "")
    document = json.loads(stdout)
    frames = document["frames"]
    for frame in frames:
        assert isinstance(frame["t_ms"], float)
        assert frame["direction"] in ("send", "recv")
        assert isinstance(frame["stream_id"], int)
        assert isinstance(frame["end_stream"], bool)
    headers = [f for f in frames if f["type"] == "HEADERS" and f["direction"] == "recv"]
    assert [f["status"] for f in headers] == [103, 200, 200]
    assert all(isinstance(f["headers"], list) for f in headers)
    (promise,) = [f for f in frames if f["type"] == "PUSH_PROMISE"]
    assert (promise["promised_stream_id"], promise["path"]) == (2, PUSH_PATH)
    assert [":path", PUSH_PATH] in promise["headers"]
    assert all(isinstance(f["length"], int) for f in frames if f["type"] == "DATA")
    assert frames[-1]["type"] == "GOAWAY"
    assert frames[-1]["error_code"] == 0

    main = document["main"]
    assert (main["status"], main["bytes"]) == (200, len(trace_app.PAGE))
    assert main["headers_ms"] <= main["completed_ms"]
    assert [":status", "200"] in main["headers"]
    assert [hint["links"] for hint in document["early_hints"]] == [[HINT]]
    (pushed,) = document["pushes"]
    assert {key: pushed[key] for key in ("stream_id", "path", "status", "bytes", "reset")} == {
        "stream_id": 2,
        "path": PUSH_PATH,
        "status": 200,
        "bytes": 31,
        "reset": None,
    }
    assert pushed["promised_ms"] <= pushed["completed_ms"] < main["headers_ms"]


def test_a_non_2xx_page_prints_the_trace_and_exits_non_zero(base_url: str) -> None:
    code, stdout, stderr = _run_cli(f"{base_url}/missing", "--insecure")

    assert code == 1
    assert "main response: GET /missing -> 404" in stdout
    assert _one_line(stderr) == "h2push trace: main response status 404"


def test_the_console_entry_runs_trace(base_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from h2push.cli import main; main()",
            "trace",
            f"{base_url}/",
            "--insecure",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert [pushed["path"] for pushed in document["pushes"]] == [PUSH_PATH]


@pytest.mark.peer
@pytest.mark.parametrize("no_push", [False, True])
def test_nghttp_sees_the_same_pushes(base_url: str, no_push: bool) -> None:
    url = f"{base_url}/"
    log = nghttp(url, *(["--no-push"] if no_push else []))
    nghttp_paths = sorted(promise.header(":path") or "" for promise in log.promises)

    result = trace(url, insecure=True, enable_push=not no_push)
    assert sorted(pushed.path for pushed in result.pushes) == nghttp_paths
    assert nghttp_paths == ([] if no_push else [PUSH_PATH])


# --------------------------------------------------------------------------- other peers


@pytest.mark.parametrize(
    ("alpn", "said"),
    [(["http/1.1"], "(got 'http/1.1')"), (None, "(server selected no protocol)")],
)
def test_a_server_without_h2_fails_in_one_line(
    tls_files: TLSFiles, alpn: list[str] | None, said: str
) -> None:
    with serve_once(tls_files, alpn, _read_until_closed) as url:
        code, stdout, stderr = _run_cli(url, "--insecure")

    assert (code, stdout) == (1, "")
    assert _one_line(stderr) == f"h2push trace: server did not negotiate h2 via ALPN {said}"


def test_connection_refused_fails_in_one_line() -> None:
    port = free_port()  # nothing listens there
    code, stdout, stderr = _run_cli(f"https://127.0.0.1:{port}/", "--insecure")

    assert (code, stdout) == (1, "")
    assert _one_line(stderr) == f"h2push trace: connection to 127.0.0.1:{port} refused"


def _reset_one_push(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
    request = [(":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1")]
    server.push_stream(1, 2, [*request, (":path", "/kept.css")])
    server.push_stream(1, 4, [*request, (":path", "/dropped.js")])
    server.send_headers(2, [(":status", "200")])
    server.send_data(2, b"kept", end_stream=True)
    server.reset_stream(4, ErrorCodes.CANCEL)
    # A header block larger than one frame (16,384 octets) continues in CONTINUATION frames.
    server.send_headers(1, [(":status", "200"), ("x-large", "v" * 20_000)])
    server.send_data(1, b"page", end_stream=True)
    conn.sendall(server.data_to_send())


def test_reset_pushes_and_continuation_frames_are_traced(tls_files: TLSFiles) -> None:
    with serve_once(tls_files, ["h2"], h2_server(_reset_one_push)) as url:
        result = trace(url, insecure=True)

    assert result.ok
    assert [(p.path, p.status, p.body_bytes, p.reset) for p in result.pushes] == [
        ("/kept.css", 200, 4, None),
        ("/dropped.js", None, 0, "CANCEL"),
    ]
    (reset,) = [f for f in result.frames if f.type == "RST_STREAM"]
    assert (reset.direction, reset.stream_id, reset.error_code) == ("recv", 4, 8)
    page = _index(
        result.frames, lambda f: f.type == "HEADERS" and f.direction == "recv" and f.stream_id == 1
    )
    assert result.frames[page].status == 200
    assert "END_HEADERS" not in result.frames[page].flag_names
    assert result.frames[page + 1].type == "CONTINUATION"
    assert ("x-large", "v" * 20_000) in result.main.headers


LINKS_1 = '</a.css>; rel=preload; as=style, </b,c.js>; rel=preload; as=script; title="x, \\"y"'
LINKS_2 = "</d.woff2>; rel=preload; as=font; crossorigin"


def _hint_twice(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
    server.send_headers(1, [(":status", "103"), ("link", LINKS_1)])
    server.send_headers(1, [(":status", "103"), ("link", LINKS_2), ("link", "</e.js>")])
    server.send_headers(1, [(":status", "204")], end_stream=True)
    conn.sendall(server.data_to_send())


def test_every_103_and_each_of_its_links_is_reported(tls_files: TLSFiles) -> None:
    with serve_once(tls_files, ["h2"], h2_server(_hint_twice)) as url:
        result = trace(url, insecure=True)

    assert result.ok
    assert [hint.links for hint in result.early_hints] == [
        ("</a.css>; rel=preload; as=style", '</b,c.js>; rel=preload; as=script; title="x, \\"y"'),
        (LINKS_2, "</e.js>"),
    ]
    assert [f.status for f in result.frames if f.type == "HEADERS" and f.direction == "recv"] == [
        103,
        103,
        204,
    ]


def _goaway_with_error(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
    server.close_connection(ErrorCodes.ENHANCE_YOUR_CALM, additional_data=b"calm down")
    conn.sendall(server.data_to_send())


def _hang_up(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
    server.send_headers(1, [(":status", "200")])
    conn.sendall(server.data_to_send())
    conn.close()


@pytest.mark.parametrize(
    ("script", "kind", "message"),
    [
        (
            _goaway_with_error,
            "protocol",
            (
                "server sent GOAWAY ENHANCE_YOUR_CALM (last_stream_id=1, debug_data='calm down') "
                "before the response to / ended"
            ),
        ),
        (_hang_up, "closed", "server closed the connection before the response to / ended"),
    ],
)
def test_a_server_that_gives_up_early_fails(
    tls_files: TLSFiles, script: Script, kind: str, message: str
) -> None:
    with (
        serve_once(tls_files, ["h2"], h2_server(script)) as url,
        pytest.raises(TraceError) as caught,
    ):
        trace(url, insecure=True)

    assert (caught.value.kind, str(caught.value)) == (kind, message)


def _refuse_the_page(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
    server.reset_stream(1, ErrorCodes.REFUSED_STREAM)
    conn.sendall(server.data_to_send())


def test_a_reset_page_is_traced_and_exits_non_zero(tls_files: TLSFiles) -> None:
    with serve_once(tls_files, ["h2"], h2_server(_refuse_the_page)) as url:
        code, stdout, stderr = _run_cli(url, "--insecure")

    assert code == 1
    assert "recv RST_STREAM frame <length=4, flags=0x00, stream_id=1>" in stdout
    assert "(error_code=REFUSED_STREAM(0x07))" in stdout
    assert "main response: GET / -> no status, 0 bytes" in stdout
    assert _one_line(stderr) == "h2push trace: main response reset REFUSED_STREAM"


def _raw_frame(length: int, kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return length.to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big") + payload


@pytest.mark.parametrize(
    ("bad", "recorded", "goaway", "message"),
    [
        # DATA on stream 3, which the client never opened (RFC 9113 §5.1: PROTOCOL_ERROR).
        (_raw_frame(1, 0x0, 0x1, 3, b"x"), "DATA", "PROTOCOL_ERROR", "HTTP/2 protocol error"),
        # A frame larger than the client's SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2).
        (_raw_frame(20_000, 0x0, 0x0, 1, b""), None, "FRAME_SIZE_ERROR", "exceeds"),
    ],
)
def test_a_protocol_error_sends_goaway_and_fails(
    tls_files: TLSFiles, bad: bytes, recorded: str | None, goaway: str, message: str
) -> None:
    def send_bad_frame(server: h2.connection.H2Connection, conn: ssl.SSLSocket) -> None:
        conn.sendall(bad)

    with (
        serve_once(tls_files, ["h2"], h2_server(send_bad_frame)) as url,
        pytest.raises(TraceError, match=message) as caught,
    ):
        trace(url, insecure=True)

    assert caught.value.kind == "protocol"
    *_, last_recv, sent = caught.value.frames
    if recorded is not None:
        assert (last_recv.direction, last_recv.type, last_recv.stream_id) == ("recv", recorded, 3)
    assert (sent.direction, sent.type, sent.error_name) == ("send", "GOAWAY", goaway)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("X-Trace-Echo: a: b ", ("X-Trace-Echo", "a: b")),
        ("cookie:x=1", ("cookie", "x=1")),
        (":method: HEAD", (":method", "HEAD")),
        ("empty:", ("empty", "")),
    ],
)
def test_parse_header_line(line: str, expected: tuple[str, str]) -> None:
    assert parse_header_line(line) == expected


@pytest.mark.parametrize("line", ["no colon", ": value", ":", "::x"])
def test_parse_header_line_rejects(line: str) -> None:
    with pytest.raises(ValueError, match="expected 'Name: value'"):
        parse_header_line(line)


@pytest.mark.parametrize(
    ("url", "headers", "message"),
    [
        ("http://127.0.0.1/", (), "only https:// URLs"),
        ("https:///", (), "no host"),
        ("https://127.0.0.1:99999/", (), "invalid port"),
        ("https://127.0.0.1/", (("connection", "close"),), "connection-specific"),
        ("https://127.0.0.1/", (("te", "gzip"),), "connection-specific"),
        ("https://127.0.0.1/", ((":protocol", "x"),), "unknown pseudo-header"),
        ("https://127.0.0.1/", (("x-a", "b\r\nx-c: d"),), "invalid request header"),
    ],
)
def test_bad_input_is_a_value_error_before_connecting(
    url: str, headers: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        trace(url, headers=headers, timeout_s=0.1)


# --------------------------------------------------------------------------- --waterfall


def test_waterfall_draws_one_row_per_stream(base_url: str, tmp_path: Path) -> None:
    svg = tmp_path / "trace.svg"
    code, stdout, stderr = _run_cli(f"{base_url}/", "--insecure", "--waterfall", str(svg))

    assert (code, stderr) == (0, "")
    assert "main response: GET / -> 200" in stdout
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    ns = "{http://www.w3.org/2000/svg}"
    rows = [g for g in root.iter(f"{ns}g") if g.get("class") == "row"]
    assert [(g.get("data-stream"), g.get("data-path"), g.get("data-delivery")) for g in rows] == [
        ("1", "/", "normal"),
        ("2", PUSH_PATH, "pushed"),
    ]
    kinds = {g.get("data-kind") for g in root.iter(f"{ns}g") if g.get("class") == "mark"}
    assert kinds == {"early-hint", "headers"}


def test_waterfall_is_written_for_a_non_2xx_page_too(base_url: str, tmp_path: Path) -> None:
    svg = tmp_path / "missing.svg"
    code, _, _ = _run_cli(f"{base_url}/missing", "--insecure", "--waterfall", str(svg))

    assert code == 1
    assert svg.read_text(encoding="utf-8").count('class="row"') == 1


# --------------------------------------------------------------------------- --cookie-jar


def _cookie_server(
    seen: list[dict[str, str]], set_cookies: list[str]
) -> Callable[[ssl.SSLSocket], None]:
    """An HTTP/2 server that records the request's fields and answers 200 with Set-Cookie."""

    def handle(conn: ssl.SSLSocket) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        server = h2.connection.H2Connection(config)
        server.initiate_connection()
        conn.sendall(server.data_to_send())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = conn.recv(65536)
            if not data:
                return
            for event in server.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    fields: dict[str, str] = {}
                    for name, value in event.headers:
                        previous = fields.get(name)
                        fields[name] = value if previous is None else f"{previous}; {value}"
                    seen.append(fields)
                    response = [(":status", "200"), *(("set-cookie", c) for c in set_cookies)]
                    server.send_headers(event.stream_id, response, end_stream=True)
            conn.sendall(server.data_to_send())
            if seen:
                _read_until_closed(conn)
                return

    return handle


def _visit(tls_files: TLSFiles, jar: Path, set_cookies: list[str], *extra: str) -> dict[str, str]:
    seen: list[dict[str, str]] = []
    with serve_once(tls_files, ["h2"], _cookie_server(seen, set_cookies)) as url:
        code, _, stderr = _run_cli(
            url, "--cacert", str(tls_files.ca), "--cookie-jar", str(jar), *extra
        )
    assert (code, stderr) == (0, "")
    (fields,) = seen
    return fields


def test_a_second_trace_sends_the_cookies_of_the_first(tls_files: TLSFiles, tmp_path: Path) -> None:
    jar = tmp_path / "cookies.txt"
    first = _visit(
        tls_files,
        jar,
        [
            "h2push=McAy; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax",
            "session=1; Path=/",
            "elsewhere=1; Path=/admin",
        ],
    )
    assert "cookie" not in first

    lines = jar.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Netscape HTTP Cookie File"
    cookies = [line.split("\t") for line in lines if line and not line.startswith("# ")]
    by_name = {fields[5]: fields for fields in cookies}
    assert set(by_name) == {"h2push", "session", "elsewhere"}
    assert by_name["h2push"][:4] == ["#HttpOnly_127.0.0.1", "FALSE", "/", "TRUE"]
    assert int(by_name["h2push"][4]) > time.time() + 600_000
    assert by_name["session"][4] == "0"  # a session cookie, kept as curl keeps it

    second = _visit(tls_files, jar, [])
    assert sorted(second["cookie"].split("; ")) == ["h2push=McAy", "session=1"]


def test_a_json_jar_is_read_and_written_as_json(tls_files: TLSFiles, tmp_path: Path) -> None:
    jar = tmp_path / "jar.json"
    jar.write_text(
        json.dumps(
            [
                {"name": "kept", "value": "1", "domain": "127.0.0.1", "path": "/"},
                {"name": "other", "value": "2", "domain": "example.com", "path": "/"},
                {"name": "old", "value": "3", "domain": "127.0.0.1", "path": "/", "expires": 1},
            ]
        ),
        encoding="utf-8",
    )
    fields = _visit(tls_files, jar, ["new=4; Max-Age=60; Secure"])

    assert fields["cookie"] == "kept=1"
    saved = {entry["name"]: entry for entry in json.loads(jar.read_text(encoding="utf-8"))}
    assert set(saved) == {"kept", "other", "new"}  # the expired one is dropped
    assert saved["new"]["secure"] is True
    assert saved["new"]["expires"] > time.time()
    assert saved["kept"]["expires"] is None


def test_a_curl_cookie_file_is_understood(tmp_path: Path) -> None:
    jar = tmp_path / "curl.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n"
        "# https://curl.se/docs/http-cookies.html\n"
        "\n"
        "#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t0\tsid\tabc\n"
        ".example.com\tTRUE\t/\tFALSE\t0\twide\tyes\n"
        "127.0.0.1\tFALSE\t/app\tFALSE\t0\tapp\tz\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tempty\n",
        encoding="utf-8",
    )
    cookies = CookieJarFile(jar)

    assert len(cookies) == 4
    assert cookies.header_for("https://127.0.0.1:8443/") == "sid=abc; empty="
    assert cookies.header_for("https://127.0.0.1:8443/app/x") == "app=z; sid=abc; empty="
    assert cookies.header_for("https://www.example.com/") == "wide=yes"
    assert cookies.header_for("https://localhost:8443/") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("127.0.0.1\tFALSE\t/\n", "line 1: expected 7 tab-separated fields"),
        ("127.0.0.1\tMAYBE\t/\tFALSE\t0\tn\tv\n", "line 1: flags must be TRUE/FALSE"),
        ("[1]", "entry 0: expected an object"),
        ('[{"name": "n"}]', "entry 0: name, value and domain must be strings"),
        ("{not json", "JSON"),
    ],
)
def test_a_malformed_jar_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    jar = tmp_path / "bad"
    jar.write_text(content, encoding="utf-8")
    with pytest.raises(CookieJarError, match=message):
        CookieJarFile(jar)

    result = CliRunner().invoke(trace_command, ["https://127.0.0.1:1/", "--cookie-jar", str(jar)])
    assert result.exit_code == 2
    assert message in result.stderr
