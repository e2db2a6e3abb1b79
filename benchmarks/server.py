"""End-to-end throughput: h2load against Hypercorn serving the demo, with and without h2push.

Run as ``python benchmarks/server.py [--runs N] [--duration S]``. For each scenario the demo
site (:mod:`h2push._tools.demo`) is served by Hypercorn over TLS (ALPN ``h2``, one worker, in a
process of its own) once bare and once wrapped in ``H2PushMiddleware`` with the demo's
manifest, exactly as ``h2push demo`` builds it (default cookie-digest tracker). ``h2load``
(one thread) then loads it for ``--duration`` seconds after a one-second warm-up, each run
starting a fresh server; runs alternate between bare and wrapped.

Scenarios:

* ``page, think 0 ms``: ``GET /`` as a navigation (``Accept: text/html``) with the view's think
  time set to 0, so the server's CPU is the limit: every request is planned, gets a 103 with
  four links, four push messages (dropped by Hypercorn: h2load refuses push), a Link header and
  a Set-Cookie. This is the worst case for the ratio.
* ``page, think 200 ms``: the same with the demo's own 200 ms think time.
* ``static file``: ``GET /static/demo.css``, not a navigation: the middleware plans nothing.

Printed per scenario and variant: requests per second, p50 and p99 latency (from h2load's
per-request log), each the median of the runs; the requests h2load counted as failed or errored,
summed over the runs; and the ratio of wrapped to bare. (h2load files a response that began
with a 103 under "3xx" in its own summary; that column of its output is not used.)

For the first scenario two more variants show where the cost lies: the middleware with
``push=False``, and with ``tracker=None`` (no cache-digest cookie).

``python benchmarks/server.py --serve VARIANT --bind HOST:PORT --certfile F --keyfile F
[--think-ms MS]`` is the server process this script starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_S = 20.0
TARGET = 0.95
"""Target: Hypercorn with the middleware at least this times the requests/s without it."""

VARIANTS: dict[str, str] = {
    "bare": "without",
    "h2push": "with middleware",
    "h2push-no-push": "with middleware, push=False",
    "h2push-no-tracker": "with middleware, tracker=None",
}
"""Server variants: the bare demo, ``h2push demo``'s middleware, and two with one part off."""

BREAKDOWN = ("bare", "h2push", "h2push-no-push", "h2push-no-tracker")
COMPARE = ("bare", "h2push")

SCENARIOS: list[tuple[str, str, float, bool, tuple[str, ...]]] = [
    # name, path, think ms, navigation, variants
    ("page, think 0 ms", "/", 0.0, True, BREAKDOWN),
    ("page, think 200 ms", "/", 200.0, True, COMPARE),
    ("static file", "/static/demo.css", 200.0, False, COMPARE),
]
ACCEPT_HTML = "accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


# --------------------------------------------------------------------------- the server


def serve(variant: str, bind: str, certfile: str, keyfile: str, think_ms: float) -> None:
    """Serve the demo with Hypercorn until SIGTERM (runs in the child process)."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    import h2push._tools.demo as demo
    from h2push._core.manifest import Manifest
    from h2push._tools.serve.server import apply_hypercorn_fixes, build_app
    from h2push.asgi import H2PushMiddleware

    apply_hypercorn_fixes()  # as h2push serve does: the server this process runs is h2push's

    demo.THINK_TIME_S = think_ms / 1000  # type: ignore[misc] # read on every request
    manifest = Manifest.load(demo.MANIFEST_PATH)
    app: Any = demo.app
    if variant == "h2push":
        app = build_app(demo.app, "asgi", manifest=manifest)
    elif variant == "h2push-no-push":
        app = build_app(demo.app, "asgi", manifest=manifest, push=False)
    elif variant == "h2push-no-tracker":
        app = H2PushMiddleware(demo.app, manifest=manifest, tracker=None)
    config = Config()
    config.bind = [bind]
    config.certfile = certfile
    config.keyfile = keyfile
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.loglevel = "WARNING"
    asyncio.run(hypercorn_serve(app, config, mode="asgi"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    variant: str, certfile: Path, keyfile: Path, think_ms: float, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        sys.executable,
        __file__,
        "--serve",
        variant,
        "--bind",
        f"127.0.0.1:{port}",
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
        "--think-ms",
        str(think_ms),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the {variant} server exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            if time.monotonic() > deadline:
                stop_server(process)
                message = f"the {variant} server did not listen within {STARTUP_S} s"
                raise RuntimeError(message) from None
            time.sleep(0.05)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --------------------------------------------------------------------------- h2load


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # h2load's "failed" plus "errored": requests that got no complete response


@dataclass
class Result:
    samples: dict[str, list[Sample]] = field(default_factory=dict)


_FINISHED = re.compile(r"finished in [\d.]+\w*, ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed,"
    r" (\d+) errored"
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def run_h2load(
    h2load: str, url: str, *, navigation: bool, duration_s: float, log: Path, clients: int
) -> Sample:
    command = [
        h2load,
        "-t",
        "1",
        "-c",
        str(clients),
        "-m",
        "10",
        "-D",
        f"{round(duration_s * 1000)}ms",
        "--warm-up-time",
        "1",
        "--log-file",
        str(log),
        *(["-H", ACCEPT_HTML] if navigation else []),
        url,
    ]
    log.unlink(missing_ok=True)  # h2load appends to an existing log
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    output = completed.stdout
    finished = _FINISHED.search(output)
    counts = _REQUESTS.search(output)
    if completed.returncode != 0 or finished is None or counts is None:
        raise RuntimeError(f"h2load failed ({completed.returncode}):\n{output}\n{completed.stderr}")
    succeeded, failed, errored = int(counts[3]), int(counts[4]), int(counts[5])
    if not succeeded:
        raise RuntimeError(f"h2load: no request succeeded:\n{output}")
    latencies_ms = []
    for line in log.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].isdigit():
            latencies_ms.append(int(fields[2]) / 1000)
    if not latencies_ms:
        raise RuntimeError("h2load wrote no per-request log")
    return Sample(
        rps=float(finished[1]),
        p50_ms=percentile(latencies_ms, 0.50),
        p99_ms=percentile(latencies_ms, 0.99),
        requests=succeeded,
        failed=failed + errored,
    )


def dev_certificate(directory: Path) -> tuple[Path, Path]:
    from h2push._tools.serve.devcert import ensure_dev_certificate

    dev = ensure_dev_certificate(directory)
    return dev.cert_file, dev.key_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="h2load runs per variant")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per h2load run")
    parser.add_argument("--clients", type=int, default=10, help="h2load connections (-c)")
    parser.add_argument("--serve", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--bind", help=argparse.SUPPRESS)
    parser.add_argument("--certfile", help=argparse.SUPPRESS)
    parser.add_argument("--keyfile", help=argparse.SUPPRESS)
    parser.add_argument("--think-ms", type=float, default=200.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.bind, args.certfile, args.keyfile, args.think_ms)
        return 0

    h2load = shutil.which("h2load")
    if h2load is None:
        print("h2load is not installed (apt-get install nghttp2-client)", file=sys.stderr)
        return 1
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        certfile, keyfile = dev_certificate(directory / "cert")
        for name, path, think_ms, navigation, variants in SCENARIOS:
            result = results[name] = Result({variant: [] for variant in variants})
            for run in range(1, args.runs + 1):
                for variant in variants:
                    process, port = start_server(
                        variant, certfile, keyfile, think_ms, directory / f"{variant}.log"
                    )
                    try:
                        sample = run_h2load(
                            h2load,
                            f"https://127.0.0.1:{port}{path}",
                            navigation=navigation,
                            duration_s=args.duration,
                            log=directory / "h2load.log",
                            clients=args.clients,
                        )
                    finally:
                        stop_server(process)
                    result.samples[variant].append(sample)
                    failures = f", {sample.failed} failed" if sample.failed else ""
                    print(
                        f"{name}, {variant}, run {run}/{args.runs}: {sample.rps:,.0f} req/s,"
                        f" p50 {sample.p50_ms:.1f} ms, p99 {sample.p99_ms:.1f} ms{failures}",
                        file=sys.stderr,
                        flush=True,
                    )

    version = subprocess.run(
        [h2load, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"h2load -t 1 -c {args.clients} -m 10 -D {args.duration:g} --warm-up-time 1 against"
        f" Hypercorn (1 worker, TLS, h2) serving the demo; median of {args.runs} runs;"
        f" {version}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print()
    print("| scenario | server | req/s | p50 ms | p99 ms | failed | req/s ratio | target |")
    print("|---|---|--:|--:|--:|--:|--:|---|")
    for name, result in results.items():
        medians = {
            variant: (
                statistics.median(s.rps for s in samples),
                statistics.median(s.p50_ms for s in samples),
                statistics.median(s.p99_ms for s in samples),
                sum(s.failed for s in samples),
            )
            for variant, samples in result.samples.items()
        }
        for variant, (rps, p50, p99, failed) in medians.items():
            ratio = rps / medians["bare"][0]
            target = ""
            if variant == "h2push":
                target = f">= {TARGET:.2f}: {'met' if ratio >= TARGET else 'MISSED'}"
            label = VARIANTS[variant]
            print(
                f"| {name} | {label} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {failed} | {ratio:.2f}"
                f" | {target} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
