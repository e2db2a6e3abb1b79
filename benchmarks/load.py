"""Load on ``h2push serve``: h2load against the demo site, and the memory the server keeps.

Run as ``python benchmarks/load.py [-n REQUESTS] [-c CLIENTS] [-m STREAMS] [--workers N]``;
the defaults are the load test's ``-n 50000 -c 50 -m 10`` on 2 workers. It needs ``h2load``
(Debian's ``nghttp2-client``). ``tests/test_load.py`` runs the same code at a bounded size.

The server is ``h2push serve h2push._tools.demo:app --manifest <the demo's manifest> --workers N``
on a
free loopback port, with a development certificate made in a temporary ``H2PUSH_CACHE_DIR``.
Every request is a navigation (``accept: text/html``): h2push plans it, sends a 103 Early Hints
and asks Hypercorn to push the demo's resources. h2load refuses push (its SETTINGS carry
``ENABLE_PUSH=0``), so Hypercorn drops the pushes: this measures planning, the 103 and the page,
not push delivery. The demo page thinks for 200 ms (``asyncio.sleep``), so requests/s cannot
exceed ``c * m / 0.2``.

h2load counts the first status of each response: with the 103 first, every request lands in its
"3xx" column and a bad final status would go unnoticed. What proves every page arrived whole is
the byte count: h2load's ``data`` must be requests x the page's size (measured with one request
without the accept header, which gets no 103).

Printed: requests/s and h2load's succeeded/failed/errored/timeout counts; the resident memory
(VmRSS) of the server's processes (the parent, the workers and multiprocessing's resource
tracker, from ``/proc``) after a warm-up of ``WARMUP_SHARE`` of the requests in ``WARMUP_ROUNDS``
runs with twice the clients, after the run, and the difference, which must stay within
``RSS_GROWTH_LIMIT_BYTES`` (20 MB): a leak grows with the requests served, the high-water mark
of concurrent streams does not (see :func:`measure`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from h2push._tools.demo import MANIFEST_PATH

REQUESTS, CLIENTS, STREAMS, WORKERS = 50_000, 50, 10, 2
WARMUP_SHARE = 0.1
WARMUP_ROUNDS = 3
WARMUP_CLIENTS_FACTOR = 2
RSS_GROWTH_LIMIT_BYTES = 20_000_000
MB = 1_000_000
NAVIGATION = "accept: text/html"

SRC = Path(__file__).resolve().parents[1] / "src"

_FINISHED = re.compile(r"^finished in [\d.]+m?s, ([\d.]+) req/s", re.MULTILINE)
_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed,"
    r" (\d+) errored, (\d+) timeout",
    re.MULTILINE,
)
_TRAFFIC = re.compile(r"^traffic: .* \((\d+)\) data", re.MULTILINE)
_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)


@dataclass(frozen=True)
class H2LoadSummary:
    """The summary h2load prints (nghttp2 1.52): counts, rate and bytes of body data."""

    total: int
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    requests_per_s: float
    data_bytes: int
    status: tuple[int, int, int, int]  # 2xx, 3xx, 4xx, 5xx of each response's first status
    output: str

    @property
    def line(self) -> str:
        """h2load's ``requests:`` line."""
        match = _REQUESTS.search(self.output)
        return match.group(0) if match else ""


def parse_h2load(output: str) -> H2LoadSummary:
    """Read h2load's summary.

    Raises:
        ValueError: A summary line is missing.
    """
    finished, requests = _FINISHED.search(output), _REQUESTS.search(output)
    traffic, status = _TRAFFIC.search(output), _STATUS.search(output)
    if not (finished and requests and traffic and status):
        raise ValueError(f"no h2load summary in:\n{output}")
    counts = [int(group) for group in requests.groups()]
    return H2LoadSummary(
        *counts,
        requests_per_s=float(finished.group(1)),
        data_bytes=int(traffic.group(1)),
        status=(
            int(status.group(1)),
            int(status.group(2)),
            int(status.group(3)),
            int(status.group(4)),
        ),
        output=output,
    )


def run_h2load(
    url: str,
    *,
    requests: int,
    clients: int,
    streams: int,
    headers: Sequence[str] = (),
    program: str = "h2load",
    timeout_s: float = 600.0,
) -> H2LoadSummary:
    """Run ``h2load -n requests -c clients -m streams [-H header]... url`` and read its summary."""
    command = [program, "-n", str(requests), "-c", str(clients), "-m", str(streams)]
    for header in headers:
        command += ["-H", header]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"h2load exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return parse_h2load(result.stdout)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``/proc/PID/task/TID/children``), parents first."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue  # the task ended meanwhile
    return found


def rss_by_process(pid: int) -> list[int]:
    """The VmRSS of ``pid`` and each of its descendants in bytes, in :func:`process_tree` order.

    A process that ended meanwhile counts 0.
    """
    sizes = []
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            sizes.append(0)
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        sizes.append(int(match.group(1)) * 1024 if match else 0)
    return sizes


def rss_bytes(pid: int) -> int:
    """The summed VmRSS of ``pid`` and its descendants, in bytes."""
    return sum(rss_by_process(pid))


@dataclass(frozen=True)
class Server:
    """A running ``h2push serve``: its URL, process and output file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_demo(
    *, workers: int, cache_dir: Path, log: Path, timeout_s: float = 30.0
) -> Iterator[Server]:
    """Run ``h2push serve h2push._tools.demo:app`` with the demo's manifest on a free loopback port.

    Stops it (SIGTERM, then SIGKILL after 15 s) on exit.

    Raises:
        RuntimeError: The server exited, or did not listen within ``timeout_s``.
    """
    port = _free_port()
    command = [
        *(sys.executable, "-m", "h2push", "serve", "h2push._tools.demo:app"),
        *("--manifest", str(MANIFEST_PATH), "--workers", str(workers)),
        *("--bind", f"127.0.0.1:{port}"),
    ]
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "H2PUSH_CACHE_DIR": str(cache_dir), "PYTHONPATH": pythonpath}
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"h2push serve exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"h2push serve did not listen within {timeout_s} s"
                    ) from None
                time.sleep(0.1)
        yield Server(url=f"https://127.0.0.1:{port}/", process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@dataclass(frozen=True)
class LoadResult:
    """One load measurement: the page's size, the h2load runs, and the server's memory.

    ``rss_warm`` and ``rss_after`` are the VmRSS of each server process (parent first) after
    the warm-up and after the run, in bytes.
    """

    page_bytes: int
    warmup: tuple[H2LoadSummary, ...]
    run: H2LoadSummary
    rss_warm: tuple[int, ...]
    rss_after: tuple[int, ...]

    @property
    def rss_warm_bytes(self) -> int:
        return sum(self.rss_warm)

    @property
    def rss_after_bytes(self) -> int:
        return sum(self.rss_after)

    @property
    def rss_delta_bytes(self) -> int:
        return self.rss_after_bytes - self.rss_warm_bytes

    def report(self) -> str:
        """The figures, one per line."""

        def sizes(values: Sequence[int]) -> str:
            parts = " + ".join(f"{value / MB:.1f}" for value in values)
            return f"{sum(values) / MB:.1f} MB ({parts}: parent first)"

        return "\n".join(
            [
                f"page: {self.page_bytes} bytes",
                *(f"warm-up: {run.line}" for run in self.warmup),
                f"run:     {self.run.line}",
                (
                    f"run:     {self.run.requests_per_s:.1f} req/s, {self.run.data_bytes} bytes"
                    f" of data (requests x page = {self.run.total * self.page_bytes})"
                ),
                f"RSS after warm-up: {sizes(self.rss_warm)}",
                f"RSS after the run: {sizes(self.rss_after)}",
                (
                    f"RSS delta:         {self.rss_delta_bytes / MB:+.1f} MB"
                    f" (limit {RSS_GROWTH_LIMIT_BYTES / MB:.0f} MB)"
                ),
            ]
        )


def measure(
    server: Server,
    *,
    requests: int,
    clients: int,
    streams: int,
    warmup_requests: int,
    warmup_rounds: int = WARMUP_ROUNDS,
    program: str = "h2load",
) -> LoadResult:
    """Probe the page's size, warm the server up, then load it; RSS after warm-up and run.

    The warm-up is ``warmup_rounds`` h2load runs of ``warmup_requests`` in all, with
    ``WARMUP_CLIENTS_FACTOR`` times the run's clients. Memory grows with the streams a worker
    carries at once, up to a high-water mark it then keeps; only growth beyond that mark is a
    leak. Hypercorn's workers share one listening socket and a run's connections often land
    unevenly (40 of 50 on one worker is common), so the warm-up carries more connections than
    the run, in several rounds, to take every worker to its mark first.

    Raises:
        RuntimeError: The probe request did not get a 2xx, or h2load failed.
    """
    probe = run_h2load(server.url, requests=1, clients=1, streams=1, program=program)
    if probe.status[0] != 1:
        raise RuntimeError(f"the probe request did not get a 2xx:\n{probe.output}")

    def navigations(count: int, connections: int) -> H2LoadSummary:
        return run_h2load(
            server.url,
            requests=count,
            clients=connections,
            streams=streams,
            headers=[NAVIGATION],
            program=program,
        )

    warmup_clients = clients * WARMUP_CLIENTS_FACTOR
    per_round = max(warmup_clients * streams, warmup_requests // max(1, warmup_rounds))
    warmup = tuple(navigations(per_round, warmup_clients) for _ in range(warmup_rounds))
    rss_warm = tuple(rss_by_process(server.process.pid))
    run = navigations(requests, clients)
    rss_after = tuple(rss_by_process(server.process.pid))
    return LoadResult(
        page_bytes=probe.data_bytes,
        warmup=warmup,
        run=run,
        rss_warm=rss_warm,
        rss_after=rss_after,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=REQUESTS)
    parser.add_argument("-c", "--clients", type=int, default=CLIENTS)
    parser.add_argument("-m", "--streams", type=int, default=STREAMS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help=f"warm-up requests, in {WARMUP_ROUNDS} runs (default: 10%% of -n)",
    )
    args = parser.parse_args()
    program = shutil.which("h2load")
    if program is None:
        sys.exit("h2load is not installed (apt-get install nghttp2-client)")
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"h2load -n {args.requests} -c {args.clients} -m {args.streams} -H '{NAVIGATION}'"
        f" against h2push serve h2push._tools.demo:app --workers {args.workers}"
    )
    with tempfile.TemporaryDirectory(prefix="h2push-load-") as tmp:
        with serve_demo(
            workers=args.workers, cache_dir=Path(tmp) / "cache", log=Path(tmp) / "serve.log"
        ) as server:
            result = measure(
                server,
                requests=args.requests,
                clients=args.clients,
                streams=args.streams,
                warmup_requests=args.warmup or int(args.requests * WARMUP_SHARE),
                program=program,
            )
        print(result.report())
        whole = result.run.data_bytes == result.run.total * result.page_bytes
        clean = result.run.failed == result.run.errored == result.run.timeout == 0
        bounded = result.rss_delta_bytes <= RSS_GROWTH_LIMIT_BYTES
        print(f"every page whole: {whole}; none failed: {clean}; memory bounded: {bounded}")
        if not (whole and clean and bounded):
            print((Path(tmp) / "serve.log").read_text())
            sys.exit(1)


if __name__ == "__main__":
    main()
