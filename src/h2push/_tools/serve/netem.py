"""A latency-emulating TCP relay on loopback: a round-trip time and an optional bandwidth cap.

Over loopback a response can reach the client before the client has finished sending its
request, a race that real networks hide: Chromium, for one, drops a 103 Early Hints (RFC 8297)
that arrives that early. Serving through a :class:`LatencyRelay` puts a realistic path between
client and server without root and without Linux ``tc netem``:

* every byte takes ``rtt_ms / 2`` to cross, in each direction. The delay is a pipe, not a queue of
  sleeps: a chunk read at time *t* is written at *t* + ``rtt_ms / 2`` and chunks in flight overlap.
  Bytes are never reordered or changed;
* with ``bandwidth_mbit`` each direction is also a link of that rate: a segment of *n* bytes takes
  *n* * 8 / rate to serialise, one after the other, as on a real link;
* a new connection pays for the TCP three-way handshake (RFC 9293 §3.5): the client's first bytes
  reach the server 1.5 round trips after it connected, as over a real path (``handshake=False``
  turns this off);
* a half-close (``shutdown(SHUT_WR)``) crosses the relay after the same delay, behind the data
  sent before it.

What it does not emulate: the two endpoints' own TCP stacks still talk over loopback, so slow
start and the initial congestion window (RFC 6928) cost no extra round trips; there is no loss,
jitter or reordering.

Two ways to run it::

    async with LatencyRelay(8443, rtt_ms=100) as relay:  # in the running event loop
        ...  # connect to 127.0.0.1:relay.port

    with LatencyRelay(8443, rtt_ms=100) as relay:  # its own event loop in a daemon thread
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any, Final

logger = logging.getLogger(__name__)

READ_BYTES: Final = 64 * 1024
"""Most bytes read from a socket at once."""

SEGMENT_BYTES: Final = 1460
"""Fewest bytes per segment on a rate-capped link (the TCP MSS of a 1500-byte Ethernet MTU)."""

SEGMENT_S: Final = 0.001
"""Link time a segment may take before it is split, in seconds: about what event-loop timers
resolve. Faster links get larger segments, which keeps the work per byte low."""

MIN_QUEUED_BYTES: Final = 4 * 1024 * 1024
"""Smallest default bound of the bytes queued in one direction of one connection."""

CONNECT_TIMEOUT_S: Final = 5.0
"""How long the relay waits for the upstream server to accept a connection, in seconds."""

UPSTREAM_RETRY_S: Final = 0.02
"""Pause between attempts while the upstream server refuses connections (still starting)."""

CLOSE_TIMEOUT_S: Final = 2.0
"""How long closing waits for connections and sockets to finish, in seconds."""

START_TIMEOUT_S: Final = 5.0
"""How long :meth:`LatencyRelay.start_in_thread` waits for the port to be bound, in seconds."""

LOOPBACK_NAMES: Final = frozenset({"localhost"})


def _check_host(host: str, role: str, *, loopback_only: bool) -> None:
    if not loopback_only or host in LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"{role} must be a loopback address (127.0.0.0/8, ::1 or localhost), got {host!r}"
        )


def _check_port(port: int, role: str, *, lowest: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not lowest <= port <= 65535:
        raise ValueError(f"{role} must be an integer from {lowest} to 65535, got {port!r}")


class _Direction:
    """One direction of one relayed connection: a link with a one-way delay and an optional rate.

    :meth:`receive` reads from ``reader`` and stamps each segment with the time it arrives at the
    far end; :meth:`deliver` writes it to ``writer`` at that time. Arrival times never decrease,
    so the bytes keep their order.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        delay_s: float,
        bits_per_s: float | None,
        not_before: float,
        max_queued_bytes: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._delay_s = delay_s
        self._bits_per_s = bits_per_s
        self._link_free_at = not_before
        self._max_queued_bytes = max_queued_bytes
        self._queue: deque[tuple[float, bytes | None]] = deque()  # (arrival, data); None = EOF
        self._queued_bytes = 0
        self._has_data = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()

    def _transmit(self, now: float, data: bytes | None) -> None:
        start = max(now, self._link_free_at)
        if data is not None and self._bits_per_s is not None:
            start += len(data) * 8 / self._bits_per_s
        self._link_free_at = start
        self._queue.append((start + self._delay_s, data))
        self._has_data.set()
        if data is not None:
            self._queued_bytes += len(data)
            if self._queued_bytes >= self._max_queued_bytes:
                self._has_room.clear()

    async def receive(self) -> None:
        """Read until end of file, queueing each segment with its arrival time."""
        loop = asyncio.get_running_loop()
        if self._bits_per_s is None:
            step = READ_BYTES
        else:
            step = max(SEGMENT_BYTES, int(self._bits_per_s / 8 * SEGMENT_S))
        while True:
            await self._has_room.wait()
            data = await self._reader.read(READ_BYTES)
            now = loop.time()
            if not data:
                self._transmit(now, None)
                return
            for offset in range(0, len(data), step):
                self._transmit(now, data[offset : offset + step])

    async def deliver(self) -> None:
        """Write each queued segment when it is due; pass the end of file on and return."""
        loop = asyncio.get_running_loop()
        while True:
            await self._has_data.wait()
            due = self._queue[0][0]
            while (wait_s := due - loop.time()) > 0:
                await asyncio.sleep(wait_s)
            now = loop.time()
            chunks: list[bytes] = []
            end_of_file = False
            while self._queue and self._queue[0][0] <= now:
                data = self._queue.popleft()[1]
                if data is None:
                    end_of_file = True
                    break
                chunks.append(data)
            if not self._queue:
                self._has_data.clear()
            if chunks:
                payload = b"".join(chunks)
                self._queued_bytes -= len(payload)
                if self._queued_bytes < self._max_queued_bytes:
                    self._has_room.set()
                self._writer.write(payload)
                await self._writer.drain()
            if end_of_file:
                if self._writer.can_write_eof():
                    self._writer.write_eof()
                return


async def _run_together(*coroutines: Coroutine[Any, Any, None]) -> BaseException | None:
    """Run ``coroutines`` until all return or one fails; cancel the rest; return the failure."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


async def _close(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)


class LatencyRelay:
    """An asyncio TCP relay that delays every byte by half a round trip in each direction.

    It listens on ``listen_host:listen_port`` and relays each accepted connection to a new
    connection to ``upstream_host:upstream_port``. See the module docstring for what it emulates.
    An instance starts once, either in the running event loop (``async with``, or :meth:`start`
    and :meth:`aclose`) or in its own event loop in a daemon thread (``with``, or
    :meth:`start_in_thread` and :meth:`stop`).

    Args:
        upstream_port: Port of the server to relay to.
        rtt_ms: Round-trip time to add, in milliseconds: ``rtt_ms / 2`` in each direction.
        bandwidth_mbit: Rate of each direction in Mbit/s (10**6 bits of payload per second), or
            ``None`` for no cap.
        upstream_host: Address of the server to relay to.
        listen_host: Address to listen on; ``"localhost"`` listens on ``127.0.0.1``.
        listen_port: Port to listen on; 0 picks a free one (read it from :attr:`port`).
        handshake: Whether a new connection pays one round trip for the TCP handshake before its
            first bytes are relayed.
        max_queued_bytes: Most bytes held for one direction of one connection, in bytes; beyond
            it the relay stops reading and TCP flow control slows the sender down. Throughput
            cannot exceed this many bytes per ``rtt_ms / 2``. ``None`` picks the larger of
            4 MiB and twice the bytes the capped link carries in ``rtt_ms / 2``.
        loopback_only: Whether to refuse hosts outside 127.0.0.0/8, ``::1`` and ``localhost``.
            This tool emulates a network on one machine; it is no proxy for real traffic.

    Raises:
        ValueError: ``rtt_ms`` is negative or not finite, ``bandwidth_mbit`` is not a finite
            number above 0, a port is out of range, ``max_queued_bytes`` is below 1, or a host is
            not a loopback address while ``loopback_only`` holds.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        rtt_ms: float,
        bandwidth_mbit: float | None = None,
        upstream_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        handshake: bool = True,
        max_queued_bytes: int | None = None,
        loopback_only: bool = True,
    ) -> None:
        if not math.isfinite(rtt_ms) or rtt_ms < 0:
            raise ValueError(f"rtt_ms must be a finite number of milliseconds >= 0, got {rtt_ms!r}")
        if bandwidth_mbit is not None and not (
            math.isfinite(bandwidth_mbit) and bandwidth_mbit > 0
        ):
            raise ValueError(
                f"bandwidth_mbit must be a finite number of Mbit/s > 0 or None, "
                f"got {bandwidth_mbit!r}"
            )
        _check_port(upstream_port, "upstream_port", lowest=1)
        _check_port(listen_port, "listen_port", lowest=0)
        _check_host(upstream_host, "upstream_host", loopback_only=loopback_only)
        _check_host(listen_host, "listen_host", loopback_only=loopback_only)
        self._delay_s = rtt_ms / 2000
        self._bits_per_s = None if bandwidth_mbit is None else bandwidth_mbit * 1e6
        if max_queued_bytes is None:
            in_flight = 0 if self._bits_per_s is None else self._bits_per_s / 8 * self._delay_s
            max_queued_bytes = max(MIN_QUEUED_BYTES, math.ceil(2 * in_flight))
        elif max_queued_bytes < 1:
            raise ValueError(f"max_queued_bytes must be at least 1, got {max_queued_bytes!r}")
        self._max_queued_bytes = max_queued_bytes
        self._rtt_ms = float(rtt_ms)
        self._bandwidth_mbit = bandwidth_mbit
        self._handshake = handshake
        self._upstream = (upstream_host, upstream_port)
        self._listen = ("127.0.0.1" if listen_host in LOOPBACK_NAMES else listen_host, listen_port)
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._started = False
        self._closing = False
        self._connections: set[asyncio.Task[Any]] = set()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    def __repr__(self) -> str:
        listen = f"{self._listen[0]}:{self._port if self._port is not None else self._listen[1]}"
        bandwidth = "" if self._bandwidth_mbit is None else f", {self._bandwidth_mbit} Mbit/s"
        upstream = f"{self._upstream[0]}:{self._upstream[1]}"
        return f"<LatencyRelay {listen} -> {upstream}, rtt {self._rtt_ms} ms{bandwidth}>"

    @property
    def host(self) -> str:
        """The address the relay listens on."""
        return self._listen[0]

    @property
    def port(self) -> int:
        """The port the relay listens on.

        Raises:
            RuntimeError: The relay has not started.
        """
        if self._port is None:
            raise RuntimeError("the relay has no port yet: start it first")
        return self._port

    @property
    def rtt_ms(self) -> float:
        """The round-trip time the relay adds, in milliseconds."""
        return self._rtt_ms

    @property
    def bandwidth_mbit(self) -> float | None:
        """The rate of each direction in Mbit/s, or ``None`` for no cap."""
        return self._bandwidth_mbit

    # ------------------------------------------------------------------ in the running loop

    async def start(self) -> None:
        """Bind the listening socket and start relaying in the running event loop.

        Raises:
            RuntimeError: The relay has already started, or has been closed.
            OSError: The address cannot be bound (for example, the port is in use).
        """
        if self._started or self._closing:
            raise RuntimeError("a LatencyRelay starts only once")
        self._started = True
        self._server = await asyncio.start_server(self._relay, *self._listen)
        self._port = int(self._server.sockets[0].getsockname()[1])
        logger.debug("%r listening", self)

    async def aclose(self) -> None:
        """Stop listening and close every relayed connection at once; wait at most a few seconds.

        Bytes still queued in the relay are dropped. Calling it again does nothing.
        """
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        connections = set(self._connections)
        for task in connections:
            task.cancel()
        if connections:
            await asyncio.wait(connections, timeout=CLOSE_TIMEOUT_S)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)

    async def __aenter__(self) -> LatencyRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if self._closing:
            await _close(client_writer, abort=True)
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._relay_connection(client_reader, client_writer)
        except asyncio.CancelledError:
            # aclose() cancelled it. Ending cancelled would make asyncio before 3.12 log an
            # error: the done callback of start_server calls task.exception() on it.
            if not self._closing:
                raise
        finally:
            self._connections.discard(task)

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to the upstream server, waiting while it is still starting (refused).

        Bounded by the caller's :data:`CONNECT_TIMEOUT_S`.
        """
        while True:
            try:
                return await asyncio.open_connection(*self._upstream)
            except ConnectionRefusedError:
                await asyncio.sleep(UPSTREAM_RETRY_S)

    async def _relay_connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        accepted_at = asyncio.get_running_loop().time()
        upstream_writer: asyncio.StreamWriter | None = None
        clean = False
        try:
            try:
                upstream_reader, upstream = await asyncio.wait_for(
                    self._connect_upstream(), CONNECT_TIMEOUT_S
                )
            except (OSError, asyncio.TimeoutError) as error:
                logger.warning("%r cannot connect upstream: %s", self, str(error) or "timed out")
                return
            upstream_writer = upstream
            # A real client sends its first bytes once the SYN-ACK is back (one round trip); a
            # real server can send once the last ACK of the handshake is in (one and a half).
            handshake_s = 2 * self._delay_s if self._handshake else 0.0
            to_upstream = _Direction(
                client_reader,
                upstream,
                delay_s=self._delay_s,
                bits_per_s=self._bits_per_s,
                not_before=accepted_at + handshake_s,
                max_queued_bytes=self._max_queued_bytes,
            )
            to_client = _Direction(
                upstream_reader,
                client_writer,
                delay_s=self._delay_s,
                bits_per_s=self._bits_per_s,
                not_before=accepted_at + 1.5 * handshake_s,
                max_queued_bytes=self._max_queued_bytes,
            )
            failure = await _run_together(
                to_upstream.receive(),
                to_upstream.deliver(),
                to_client.receive(),
                to_client.deliver(),
            )
            if failure is None:
                clean = True
            else:
                level = logging.DEBUG if isinstance(failure, OSError) else logging.ERROR
                logger.log(level, "%r connection failed: %r", self, failure, exc_info=failure)
        finally:
            # Anything but both directions ending in a half-close resets the connection.
            await _close(client_writer, abort=not clean)
            if upstream_writer is not None:
                await _close(upstream_writer, abort=not clean)

    # ------------------------------------------------------------------ in a thread

    def start_in_thread(self, timeout_s: float = START_TIMEOUT_S) -> LatencyRelay:
        """Start relaying in a new event loop in a daemon thread; return once the port is bound.

        Args:
            timeout_s: How long to wait for the port to be bound, in seconds.

        Returns:
            The relay itself, listening on :attr:`port`.

        Raises:
            RuntimeError: The relay has already started.
            OSError: The address cannot be bound.
            TimeoutError: The thread did not bind the port within ``timeout_s``.
        """
        if self._started or self._thread is not None:
            raise RuntimeError("a LatencyRelay starts only once")
        loop = asyncio.new_event_loop()
        self._thread_loop = loop
        self._thread_stop = asyncio.Event()
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(loop, started), name=repr(self), daemon=True
        )
        self._thread.start()
        if not started.wait(timeout_s):
            self.stop(timeout_s)
            raise TimeoutError(f"{self!r} did not start within {timeout_s} s")
        if self._thread_error is not None:
            self._thread.join(timeout_s)
            raise self._thread_error
        return self

    def stop(self, timeout_s: float = 2 * CLOSE_TIMEOUT_S) -> None:
        """Stop a relay started by :meth:`start_in_thread`: close everything, end the thread.

        Calling it again, or on a relay that never started, does nothing.

        Args:
            timeout_s: How long to wait for the thread to end, in seconds.

        Raises:
            TimeoutError: The thread is still running after ``timeout_s``.
        """
        thread, loop, stop = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the thread has ended
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
        if thread.is_alive():
            raise TimeoutError(f"{self!r} did not stop within {timeout_s} s")

    def __enter__(self) -> LatencyRelay:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _thread_main(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve_until_stopped(started))
        except BaseException as error:  # handed to start_in_thread
            self._thread_error = error
        finally:
            started.set()
            try:
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def _serve_until_stopped(self, started: threading.Event) -> None:
        assert self._thread_stop is not None
        await self.start()
        started.set()
        try:
            await self._thread_stop.wait()
        finally:
            await self.aclose()
