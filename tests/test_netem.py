"""The latency-emulating relay, over real loopback sockets.

Upstream is a small threaded TCP server: ``echo`` sends every byte back and half-closes after the
client does; ``count`` reads until the client half-closes and only then answers with the number
of bytes it got, so its answer proves the half-close crossed the relay. The end-to-end check
serves a tiny ASGI app with Hypercorn over TLS and fetches it with curl over HTTP/2.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import TLSFiles, free_port, require_program
from h2push._tools.serve import netem
from h2push._tools.serve.netem import LatencyRelay

TIMEOUT_S = 5.0
RTT_MS = 100.0
RTT_S = RTT_MS / 1000


# --------------------------------------------------------------------------- upstream servers


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(TIMEOUT_S)
        with self.request.makefile("rb", buffering=0) as stream:
            while data := stream.read(65536):
                self.request.sendall(data)
        self.request.shutdown(socket.SHUT_WR)


class _Count(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(TIMEOUT_S)
        total = 0
        while data := self.request.recv(65536):
            total += len(data)
        self.request.sendall(f"{total}\n".encode())


class _SlowCount(_Count):
    def handle(self) -> None:
        time.sleep(0.3)  # the relay has to hold back what it cannot deliver yet
        super().handle()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Connections the relay resets on purpose are no error of the test server."""


@contextmanager
def serving(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    """Run a threaded TCP server with ``handler`` on a free loopback port; yield the port."""
    with _Server(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield int(server.server_address[1])
        finally:
            server.shutdown()
            thread.join(TIMEOUT_S)


@pytest.fixture
def echo_port() -> Iterator[int]:
    with serving(_Echo) as port:
        yield port


@pytest.fixture
def count_port() -> Iterator[int]:
    with serving(_Count) as port:
        yield port


# --------------------------------------------------------------------------- client helpers


def connect(relay: LatencyRelay) -> socket.socket:
    return socket.create_connection((relay.host, relay.port), timeout=TIMEOUT_S)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            raise ConnectionError("the connection closed early")
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def recv_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while data := sock.recv(1 << 20):
        chunks.append(data)
    return b"".join(chunks)


def receive_end(sock: socket.socket) -> bytes:
    """Read what is left; a reset counts as the end (the relay aborts connections it drops)."""
    try:
        return recv_all(sock)
    except ConnectionResetError:
        return b""


def round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    """Send ``message`` to an echo server, wait for it to come back; return the seconds taken."""
    start = time.perf_counter()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.perf_counter() - start


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("listen_host", "0.0.0.0"),
        ("listen_host", ""),
        ("listen_host", "192.168.1.10"),
        ("upstream_host", "10.0.0.1"),
        ("upstream_host", "example.com"),
    ],
)
def test_refuses_hosts_outside_loopback(keyword: str, value: str) -> None:
    arguments: dict[str, Any] = {keyword: value}
    with pytest.raises(ValueError, match=rf"{keyword} must be a loopback address"):
        LatencyRelay(8443, rtt_ms=10, **arguments)


def test_accepts_loopback_hosts_and_remote_ones_when_asked() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        LatencyRelay(8443, rtt_ms=10, listen_host=host, upstream_host=host)
    LatencyRelay(8443, rtt_ms=10, upstream_host="10.0.0.1", loopback_only=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rtt_ms": -1}, "rtt_ms must be a finite number of milliseconds >= 0, got -1"),
        ({"rtt_ms": math.nan}, "rtt_ms must be"),
        ({"rtt_ms": math.inf}, "rtt_ms must be"),
        ({"rtt_ms": 10, "bandwidth_mbit": 0}, "bandwidth_mbit must be a finite number of Mbit/s"),
        ({"rtt_ms": 10, "bandwidth_mbit": -5.0}, "bandwidth_mbit must be"),
        ({"rtt_ms": 10, "bandwidth_mbit": math.nan}, "bandwidth_mbit must be"),
        ({"rtt_ms": 10, "listen_port": 65536}, "listen_port must be an integer from 0 to 65535"),
        ({"rtt_ms": 10, "max_queued_bytes": 0}, "max_queued_bytes must be at least 1"),
    ],
)
def test_refuses_bad_numbers(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatencyRelay(8443, **arguments)


def test_refuses_upstream_port_zero() -> None:
    with pytest.raises(ValueError, match="upstream_port must be an integer from 1 to 65535"):
        LatencyRelay(0, rtt_ms=10)


def test_port_exists_only_once_started_and_a_relay_starts_once(echo_port: int) -> None:
    relay = LatencyRelay(echo_port, rtt_ms=0)
    with pytest.raises(RuntimeError, match="start it first"):
        _ = relay.port
    with relay:
        assert relay.port > 0
        with pytest.raises(RuntimeError, match="starts only once"):
            relay.start_in_thread()
    relay.stop()  # a second stop does nothing


def test_a_busy_port_is_reported(echo_port: int) -> None:
    with LatencyRelay(echo_port, rtt_ms=0) as first:
        second = LatencyRelay(echo_port, rtt_ms=0, listen_port=first.port)
        with pytest.raises(OSError, match="address already in use"):
            second.start_in_thread()


# --------------------------------------------------------------------------- delay


def connect_and_round_trip(relay: LatencyRelay) -> float:
    """Connect, exchange one message; return the seconds from before connecting to the answer."""
    start = time.perf_counter()
    with connect(relay) as sock:
        round_trip(sock)
    return time.perf_counter() - start


def test_a_round_trip_takes_one_rtt_after_the_handshake(echo_port: int) -> None:
    with LatencyRelay(echo_port, rtt_ms=RTT_MS) as relay:
        start = time.perf_counter()
        with connect(relay) as sock:
            round_trip(sock)
            first = time.perf_counter() - start
            second = round_trip(sock)
    print(f"connect and first round trip {first * 1000:.1f} ms, second {second * 1000:.1f} ms")
    # The handshake adds one round trip to the first exchange only.
    assert 2 * RTT_S <= first < 2 * RTT_S + 0.08
    assert RTT_S <= second < RTT_S + 0.08


def test_without_handshake_the_first_round_trip_takes_one_rtt(echo_port: int) -> None:
    with LatencyRelay(echo_port, rtt_ms=RTT_MS, handshake=False) as relay, connect(relay) as sock:
        elapsed = round_trip(sock)
    print(f"round trip {elapsed * 1000:.1f} ms")
    assert RTT_S <= elapsed < RTT_S + 0.08


def test_rtt_zero_is_fast(echo_port: int) -> None:
    with LatencyRelay(echo_port, rtt_ms=0) as relay, connect(relay) as sock:
        elapsed = min(round_trip(sock) for _ in range(5))
    print(f"round trip {elapsed * 1000:.2f} ms")
    assert elapsed < 0.02


def test_connections_are_delayed_in_parallel_not_in_turn(echo_port: int) -> None:
    with LatencyRelay(echo_port, rtt_ms=RTT_MS) as relay, ThreadPoolExecutor(5) as pool:
        start = time.perf_counter()
        each = list(pool.map(connect_and_round_trip, [relay] * 5, timeout=TIMEOUT_S))
        elapsed = time.perf_counter() - start
    print(f"5 parallel round trips: {elapsed * 1000:.1f} ms in all, each {each}")
    assert all(seconds >= 2 * RTT_S for seconds in each)
    assert elapsed < 3 * RTT_S


@pytest.mark.parametrize("bandwidth_mbit", [None, 1000.0])
def test_a_large_payload_crosses_unchanged_both_ways(
    echo_port: int, bandwidth_mbit: float | None
) -> None:
    payload = random.Random(8297).randbytes(2 * 1024 * 1024)
    with (
        LatencyRelay(echo_port, rtt_ms=10, bandwidth_mbit=bandwidth_mbit) as relay,
        connect(relay) as sock,
        ThreadPoolExecutor(1) as pool,
    ):
        start = time.perf_counter()

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sent = pool.submit(send)
        received = recv_all(sock)
        sent.result(TIMEOUT_S)
        elapsed = time.perf_counter() - start
    print(f"2 MiB echoed in {elapsed * 1000:.1f} ms")
    assert len(received) == len(payload)
    assert received == payload


def test_the_bandwidth_cap_paces_a_transfer(count_port: int) -> None:
    size = 1024 * 1024
    expected_s = size * 8 / 80e6  # 0.105 s
    with LatencyRelay(count_port, rtt_ms=0, bandwidth_mbit=80) as relay, connect(relay) as sock:
        start = time.perf_counter()
        sock.sendall(bytes(size))
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
        elapsed = time.perf_counter() - start
    print(
        f"1 MiB at 80 Mbit/s in {elapsed * 1000:.1f} ms (the link alone: {expected_s * 1000:.1f})"
    )
    assert answer == f"{size}\n".encode()
    assert expected_s <= elapsed < expected_s + 0.1


def test_the_queue_stays_bounded_while_upstream_does_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peak = 0
    transmit = netem._Direction._transmit

    def spy(self: netem._Direction, now: float, data: bytes | None) -> None:
        nonlocal peak
        transmit(self, now, data)
        peak = max(peak, self._queued_bytes)

    monkeypatch.setattr(netem._Direction, "_transmit", spy)
    size = 16 * 1024 * 1024
    limit = 256 * 1024
    with (
        serving(_SlowCount) as port,
        LatencyRelay(port, rtt_ms=0, max_queued_bytes=limit) as relay,
        connect(relay) as sock,
    ):
        sock.sendall(bytes(size))
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    print(f"at most {peak} bytes queued for a limit of {limit}")
    assert answer == f"{size}\n".encode()
    assert limit <= peak <= limit + netem.READ_BYTES


def test_a_half_close_crosses_the_relay_after_the_data(count_port: int) -> None:
    with LatencyRelay(count_port, rtt_ms=RTT_MS) as relay, connect(relay) as sock:
        sock.sendall(b"x" * 1000)
        start = time.perf_counter()
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
        elapsed = time.perf_counter() - start
    print(f"answer after the half-close: {answer!r} in {elapsed * 1000:.1f} ms")
    assert answer == b"1000\n"
    assert elapsed >= RTT_S


def test_stop_closes_open_connections_promptly(echo_port: int) -> None:
    relay = LatencyRelay(echo_port, rtt_ms=RTT_MS).start_in_thread()
    sockets = [connect(relay) for _ in range(3)]
    try:
        for sock in sockets:
            round_trip(sock)
        for sock in sockets:
            sock.sendall(b"still queued")  # in flight when the relay stops
        start = time.perf_counter()
        relay.stop()
        stopped_s = time.perf_counter() - start
        for sock in sockets:
            assert receive_end(sock) == b""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((relay.host, relay.port), timeout=TIMEOUT_S).close()
    finally:
        relay.stop()
        for sock in sockets:
            sock.close()
    print(f"stop took {stopped_s * 1000:.1f} ms")
    assert stopped_s < 0.5


def test_an_unreachable_upstream_closes_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # The relay retries a refused upstream (a server still starting) for CONNECT_TIMEOUT_S:
    # shorten it well below the client's TIMEOUT_S, so that the relay gives up first every time.
    # The port is bound but not listening, so connecting to it is refused and nothing else can
    # take it meanwhile.
    monkeypatch.setattr(netem, "CONNECT_TIMEOUT_S", TIMEOUT_S / 10)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        with LatencyRelay(closed.getsockname()[1], rtt_ms=0) as relay, connect(relay) as sock:
            started = time.perf_counter()
            assert receive_end(sock) == b""
            assert time.perf_counter() - started < TIMEOUT_S / 2


def test_async_with_in_the_running_loop(echo_port: int) -> None:
    async def main() -> float:
        async with LatencyRelay(echo_port, rtt_ms=RTT_MS, handshake=False) as relay:
            reader, writer = await asyncio.open_connection(relay.host, relay.port)
            try:
                start = time.perf_counter()
                writer.write(b"ping")
                assert await asyncio.wait_for(reader.readexactly(4), TIMEOUT_S) == b"ping"
                return time.perf_counter() - start
            finally:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), TIMEOUT_S)

    elapsed = asyncio.run(main())
    assert RTT_S <= elapsed < RTT_S + 0.08


# --------------------------------------------------------------------------- end to end

ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"relayed"})
"""


@pytest.fixture
def hypercorn_port(tls_files: TLSFiles, tmp_path: Path) -> Iterator[int]:
    """Serve a tiny ASGI app with Hypercorn over TLS on a free port; yield the port."""
    (tmp_path / "netem_app.py").write_text(ASGI_APP)
    port = free_port()
    log = tmp_path / "hypercorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "--certfile",
                str(tls_files.cert),
                "--keyfile",
                str(tls_files.key),
                "--bind",
                f"127.0.0.1:{port}",
                "netem_app:app",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"hypercorn exited with {process.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"hypercorn did not listen on port {port}:\n{log.read_text()}")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.peer
def test_curl_fetches_over_http2_through_the_relay(
    tls_files: TLSFiles, hypercorn_port: int
) -> None:
    curl = require_program("curl")
    with LatencyRelay(hypercorn_port, rtt_ms=RTT_MS) as relay:
        result = subprocess.run(
            [
                curl,
                "--silent",
                "--show-error",
                "--http2",
                "--tlsv1.3",
                "--cacert",
                str(tls_files.ca),
                "--max-time",
                "10",
                "--write-out",
                r"\n%{http_version} %{time_appconnect} %{time_total}",
                f"https://127.0.0.1:{relay.port}/",
            ],
            capture_output=True,
            timeout=20,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    body, _, figures = result.stdout.decode().rpartition("\n")
    version, appconnect, total = figures.split()
    print(f"curl: HTTP/{version}, TLS done at {appconnect} s, response at {total} s")
    assert body == "relayed"
    assert version == "2"
    # TCP handshake and TLS 1.3 handshake: one round trip each; then the request: one more.
    assert float(appconnect) >= 2 * RTT_S
    assert 3 * RTT_S <= float(total) < 3 * RTT_S + 0.5
