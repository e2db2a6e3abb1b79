"""``h2push bench api``: a list and its N items over an emulated round trip, three clients.

The server is ``h2push serve`` (Hypercorn with :class:`h2push.asgi.H2PushMiddleware`, its
development certificate, a :class:`h2push._tools.serve.netem.LatencyRelay` in front) serving
:func:`create_app`: ``GET /items`` answers ``{"items": ["/items/0", ...]}`` and ``GET /items/{i}``
the item. Each client fetches the list and then every item, first one after another (the N+1
loop of a client that follows links), then all items gathered at once:

- httpx over HTTP/1.1 (its default; the concurrent case opens more connections);
- httpx over HTTP/2 (``httpx[http2]``: one connection, multiplexed);
- httpx with :class:`h2push.httpx.AsyncPushTransport`, asking with ``Preload: "/items/*"``
  (draft-dunglas-vulcain) so that the server pushes every item with the list.

Each measurement starts on an open connection (the TLS handshake is not timed) and ends when the
last item's body has arrived; every body is compared with what a plain GET returned first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import click

from h2push._delivery.asgi_types import Receive, Scope, Send
from h2push._tools._common import free_port
from h2push._tools._options import json_option, rtt_ms_option

#: The speed-up of the push transport over httpx's HTTP/2 in the N+1 loop the bench looks for.
TARGET_SPEEDUP: Final = 5.0
_PRELOAD: Final = '"/items/*"'
_START_TIMEOUT_S: Final = 30.0


def create_app(items: int = 20, item_bytes: int = 256) -> Callable[..., Awaitable[None]]:
    """The bench API as an ASGI 3 app: ``/items`` lists ``items`` item URLs; ``/stats`` counts.

    Args:
        items: How many items the list names (int >= 0).
        item_bytes: The size of each item's ``description`` string (int >= 0, characters).

    Returns:
        The ASGI application. ``GET /stats`` answers ``{"requests": n, "pushed": m}``: the item
        requests that reached it, and how many of those were pushed requests.
    """
    counts = {"requests": 0, "pushed": 0}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                await send({"type": f"{kind}.complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        status: int = 404
        document: dict[str, Any] = {"error": "not found"}
        if path == "/items":
            status, document = 200, {"items": [f"/items/{i}" for i in range(items)]}
        elif path.startswith("/items/") and path[7:].isdigit() and int(path[7:]) < items:
            index = int(path[7:])
            counts["requests"] += 1
            if any(name == b"x-h2push-pushed" for name, _ in scope["headers"]):
                counts["pushed"] += 1
            status, document = 200, _item(index, item_bytes)
        elif path == "/stats":
            status, document = 200, dict(counts)
        body = json.dumps(document).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _item(index: int, size: int) -> dict[str, Any]:
    filler = f"item {index} " * (size // 7 + 1)
    return {"id": index, "name": f"Item {index}", "description": filler[:size]}


# --------------------------------------------------------------------------- server


@contextlib.contextmanager
def serve_api(
    *, items: int, rtt_ms: float, push: bool = True, item_bytes: int = 256
) -> Iterator[tuple[str, Path]]:
    """Run ``h2push serve`` on :func:`create_app` in a child process until the block ends.

    Yields:
        The origin (``https://127.0.0.1:PORT``) and the CA file of its certificate.

    Raises:
        click.ClickException: The server did not start within 30 s (its output attached).
    """
    from h2push._tools.serve.devcert import ensure_dev_certificate  # noqa: PLC0415

    ca_file = Path(ensure_dev_certificate().ca_file)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "h2push",
        "serve",
        f"h2push._tools.bench.api:create_app(items={items}, item_bytes={item_bytes})",
        "--bind",
        f"127.0.0.1:{port}",
        "--rtt-ms",
        f"{rtt_ms:g}",
        "--max-pushes",
        str(max(items, 10)),
        "--max-pushes-per-connection",
        str(max(items * 4, 100)),
    ]
    if not push:
        command.append("--no-push")
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, process, output, ca_file)
            yield f"https://127.0.0.1:{port}", ca_file
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], output: Any, ca_file: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        # The relay listens before Hypercorn does: wait for a TLS handshake through both.
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                context = ssl.create_default_context(cafile=str(ca_file))
                with context.wrap_socket(sock, server_hostname="127.0.0.1"):
                    return
        except (OSError, ssl.SSLError):
            time.sleep(0.1)
    output.seek(0)
    log = output.read().decode(errors="replace")
    raise click.ClickException(f"h2push serve did not start on port {port}:\n{log}")


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ApiCase:
    """The timings of one client (milliseconds per run) and what its push transport counted.

    Attributes:
        client: The client's name.
        sequential_ms: Per run, the list then each item one after another (list of float).
        concurrent_ms: Per run, the list then every item gathered at once (list of float).
        requests_sent: Requests the client sent in its last sequential run (int), or None.
        served_from_push: Responses its push cache answered in that run (int), or None.
    """

    client: str
    sequential_ms: list[float] = field(default_factory=list)
    concurrent_ms: list[float] = field(default_factory=list)
    requests_sent: int | None = None
    served_from_push: int | None = None

    @property
    def sequential_median_ms(self) -> float:
        """The median of :attr:`sequential_ms`."""
        return statistics.median(self.sequential_ms)

    @property
    def concurrent_median_ms(self) -> float:
        """The median of :attr:`concurrent_ms`."""
        return statistics.median(self.concurrent_ms)


@dataclass(frozen=True)
class ApiBenchResult:
    """A run of ``h2push bench api``."""

    items: int
    rtt_ms: float
    repeat: int
    cases: list[ApiCase]

    def case(self, client: str) -> ApiCase:
        """The case of ``client`` (one of the names in the table)."""
        return next(c for c in self.cases if c.client == client)

    @property
    def speedup(self) -> float:
        """The sequential median of httpx over HTTP/2 divided by the push transport's."""
        return self.case(HTTPX_H2).sequential_median_ms / self.case(PUSH).sequential_median_ms


HTTPX_H1: Final = "httpx HTTP/1.1"
HTTPX_H2: Final = "httpx HTTP/2"
PUSH: Final = 'h2push transport, Preload "/items/*"'


def _make_client(kind: str, ca_file: Path) -> Any:
    import httpx  # noqa: PLC0415

    from h2push.httpx import AsyncPushTransport  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(ca_file))
    if kind == HTTPX_H1:
        return httpx.AsyncClient(verify=context)
    if kind == HTTPX_H2:
        return httpx.AsyncClient(verify=context, http1=False, http2=True)
    return httpx.AsyncClient(transport=AsyncPushTransport(verify=str(ca_file)))


async def _fetch_all(
    client: Any, origin: str, *, concurrent: bool, preload: bool, expected: dict[str, bytes]
) -> float:
    headers = {"preload": _PRELOAD} if preload else {}
    started = time.perf_counter()
    listing = await client.get(f"{origin}/items", headers=headers)
    listing.raise_for_status()
    urls = listing.json()["items"]
    if concurrent:
        responses = await asyncio.gather(*(client.get(origin + url) for url in urls))
    else:
        responses = [await client.get(origin + url) for url in urls]
    elapsed_ms = (time.perf_counter() - started) * 1000
    for url, response in zip(urls, responses, strict=True):
        if response.status_code != 200 or response.content != expected[url]:
            raise click.ClickException(f"{url}: the body differs from a plain GET's")
    return elapsed_ms


async def _measure(origin: str, ca_file: Path, *, repeat: int) -> list[ApiCase]:
    import httpx  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(ca_file))
    async with httpx.AsyncClient(verify=context) as plain:
        urls = (await plain.get(f"{origin}/items")).json()["items"]
        expected = {url: (await plain.get(origin + url)).content for url in urls}
    cases = []
    for kind in (HTTPX_H1, HTTPX_H2, PUSH):
        sequential: list[float] = []
        concurrent: list[float] = []
        sent = served = None
        for _ in range(repeat):
            for gathered in (False, True):
                async with _make_client(kind, ca_file) as client:
                    await client.get(f"{origin}/stats")  # open the connection first
                    transport = client._transport
                    before = getattr(transport, "push_stats", None)
                    elapsed = await _fetch_all(
                        client,
                        origin,
                        concurrent=gathered,
                        preload=kind == PUSH,
                        expected=expected,
                    )
                    (concurrent if gathered else sequential).append(elapsed)
                    if before is not None and not gathered:
                        after = transport.push_stats
                        sent = after.requests_sent - before.requests_sent
                        served = after.served - before.served
        cases.append(ApiCase(kind, sequential, concurrent, sent, served))
    return cases


def run_api_bench(*, items: int = 20, rtt_ms: float = 50.0, repeat: int = 3) -> ApiBenchResult:
    """Serve the bench API with ``h2push serve`` and time the three clients against it.

    Args:
        items: Items in the list (int >= 1).
        rtt_ms: The round trip to emulate, in milliseconds (> 0).
        repeat: Runs per client and case (int >= 1); the table shows medians.

    Raises:
        click.ClickException: The server did not start, or a body differed from a plain GET's.
    """
    with serve_api(items=items, rtt_ms=rtt_ms) as (origin, ca_file):
        cases = asyncio.run(_measure(origin, ca_file, repeat=repeat))
    return ApiBenchResult(items=items, rtt_ms=rtt_ms, repeat=repeat, cases=cases)


def format_api_table(result: ApiBenchResult) -> str:
    """The result as a plain-text table, with the speed-up the bench looks for."""
    width = max(len(c.client) for c in result.cases)
    lines = [
        (
            f"h2push bench api: 1 list + {result.items} items, {result.rtt_ms:g} ms round trip,"
            f" median of {result.repeat} runs (connection already open)"
        ),
        "",
        f"{'client':<{width}}  {'N+1 one by one':>15}  {'N gathered':>11}  requests sent",
    ]
    for case in result.cases:
        sent = (
            f"{case.requests_sent} ({case.served_from_push} from push)"
            if case.requests_sent is not None
            else f"{result.items + 1}"
        )
        lines.append(
            f"{case.client:<{width}}  {case.sequential_median_ms:>12.0f} ms"
            f"  {case.concurrent_median_ms:>8.0f} ms  {sent}"
        )
    speedup = result.speedup
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    lines += [
        "",
        (
            f"N+1 loop: push transport {speedup:.1f}x faster than httpx HTTP/2"
            f" (target >= {TARGET_SPEEDUP:g}x: {verdict})"
        ),
    ]
    return "\n".join(lines)


@click.command("api")
@click.option("--items", type=click.IntRange(min=1, max=1000), default=20, show_default=True)
@rtt_ms_option(
    default=50.0,
    help="Round trip to emulate between the clients and the server (milliseconds).",
    allow_zero=False,
)
@click.option("--repeat", type=click.IntRange(min=1, max=50), default=3, show_default=True)
@json_option(help="Print the result as JSON.")
def api_command(items: int, rtt_ms: float, repeat: int, as_json: bool) -> None:
    """A list and its items: httpx HTTP/1.1 and HTTP/2 against push with Vulcain Preload.

    Needs httpx and h2 (pip install 'h2push[httpx]').
    """
    try:
        import h2  # noqa: F401, PLC0415
        import httpx  # noqa: F401, PLC0415
    except ImportError as error:
        raise click.ClickException(
            f"{error.name} is missing: pip install 'h2push[httpx]'"
        ) from None
    result = run_api_bench(items=items, rtt_ms=rtt_ms, repeat=repeat)
    if as_json:
        payload = {
            "items": result.items,
            "rtt_ms": result.rtt_ms,
            "repeat": result.repeat,
            "speedup": round(result.speedup, 2),
            "cases": [
                {
                    "client": c.client,
                    "sequential_ms": [round(v, 1) for v in c.sequential_ms],
                    "concurrent_ms": [round(v, 1) for v in c.concurrent_ms],
                    "requests_sent": c.requests_sent,
                    "served_from_push": c.served_from_push,
                }
                for c in result.cases
            ],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(format_api_table(result))
