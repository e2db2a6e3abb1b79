"""The clients that load the page (``nghttp -a`` and headless Chromium) and the benchmark run."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from h2push._tools._common import find_chromium
from h2push._tools.bench.results import (
    BenchError,
    CaseResult,
    Client,
    PageBenchOptions,
    PageBenchResult,
    Protocol,
    RunResult,
    Strategy,
    physical_limit_ms,
)
from h2push._tools.bench.servers import BenchServer
from h2push._tools.bench.site import BenchSite
from h2push._tools.bench.waterfall import (
    Mark,
    Row,
    Waterfall,
    from_page_load,
)
from h2push._tools.browser import BrowserError, Chromium, PageLoad
from h2push._tools.serve.devcert import ensure_dev_certificate
from h2push._tools.trace.models import DEFAULT_ACCEPT

# --------------------------------------------------------------------------- nghttp

_NG_CONNECTED: Final = re.compile(r"^\[\s*([\d.]+)\] Connected")
_NG_FRAME: Final = re.compile(
    r"^\[\s*([\d.]+)\] (send|recv) (\w+) frame <length=(\d+), flags=0x([0-9a-f]+),"
    r" stream_id=(\d+)>"
)
_NG_HEADER: Final = re.compile(r"^\[\s*[\d.]+\] recv \(stream_id=(\d+)\) (:?[^:]+): (.*)$")
_NG_SENT_PATH: Final = re.compile(r"^\s+:path: (.*)$")
_NG_PROMISED: Final = re.compile(r"promised_stream_id=(\d+)")
_END_STREAM: Final = 0x1


@dataclass
class _NgStream:
    stream_id: int
    start_s: float
    path: str = ""
    pushed: bool = False
    status: int | None = None
    end_s: float | None = None
    body_bytes: int = 0
    reset: bool = False


def parse_nghttp(output: str, *, title: str = "nghttp") -> RunResult:
    """Read the page load that ``nghttp -nv[a]`` printed into a :class:`RunResult`.

    Times are ms since nghttp's ``Connected`` line (the TCP connection established; over the
    relay, the emulated handshake round trip still lies ahead). nghttp prints the header fields
    it receives before the frame that carried them, and the promised stream id of a
    PUSH_PROMISE on a line after it.

    Args:
        output: nghttp's standard output.
        title: The waterfall's title.

    Raises:
        BenchError: The output has no ``Connected`` line or the first request never ended.
    """
    connected_s: float | None = None
    streams: dict[int, _NgStream] = {}
    pending: dict[int, list[tuple[str, str]]] = {}
    main_id: int | None = None
    hint_s: float | None = None
    headers_s: float | None = None
    last: tuple[str, str, int, float, str] | None = None  # direction, type, stream, time, path
    for line in output.splitlines():
        if match := _NG_CONNECTED.match(line):
            connected_s = float(match[1])
        elif match := _NG_HEADER.match(line):
            pending.setdefault(int(match[1]), []).append((match[2], match[3]))
        elif match := _NG_FRAME.match(line):
            t_s, direction, kind = float(match[1]), match[2], match[3]
            length, flags, stream_id = int(match[4]), int(match[5], 16), int(match[6])
            fields = dict(pending.pop(stream_id, [])) if direction == "recv" else {}
            last = (direction, kind, stream_id, t_s, fields.get(":path", ""))
            stream = streams.get(stream_id)
            if direction == "send" and kind == "HEADERS":
                streams[stream_id] = _NgStream(stream_id=stream_id, start_s=t_s)
                main_id = stream_id if main_id is None else main_id
            elif direction == "recv" and kind == "HEADERS":
                status = fields.get(":status", "")
                if status.startswith("1") and stream_id == main_id:
                    hint_s = t_s if hint_s is None else hint_s
                elif status.isdigit() and stream is not None:
                    stream.status = int(status)
                    if stream_id == main_id and headers_s is None:
                        headers_s = t_s
                if stream is not None and flags & _END_STREAM:
                    stream.end_s = t_s
            elif direction == "recv" and kind == "DATA" and stream is not None:
                stream.body_bytes += length
                if flags & _END_STREAM:
                    stream.end_s = t_s
            elif direction == "recv" and kind == "RST_STREAM" and stream is not None:
                stream.reset = True
        elif last is not None:
            direction, kind, stream_id, t_s, path = last
            if kind == "PUSH_PROMISE" and (match := _NG_PROMISED.search(line)):
                promised = int(match[1])
                streams[promised] = _NgStream(
                    stream_id=promised, start_s=t_s, path=path, pushed=True
                )
            elif direction == "send" and kind == "HEADERS" and (match := _NG_SENT_PATH.match(line)):
                streams[stream_id].path = match[1]
    if connected_s is None:
        raise BenchError("nghttp printed no 'Connected' line")
    main = streams.get(main_id) if main_id is not None else None
    if main is None or main.end_s is None:
        raise BenchError("nghttp: the page's stream never ended")

    def ms(t_s: float) -> float:
        return (t_s - connected_s) * 1000

    ordered = sorted(streams.values(), key=lambda s: (s.stream_id != main_id, s.start_s))
    rows = tuple(
        Row(
            label=s.path or f"stream {s.stream_id}",
            start_ms=ms(s.start_s),
            end_ms=None if s.end_s is None else ms(s.end_s),
            delivery="pushed" if s.pushed else "normal",
            stream_id=s.stream_id,
            body_bytes=s.body_bytes,
            note="reset" if s.reset else ("" if s.status is None else f"status {s.status}"),
        )
        for s in ordered
    )
    complete_ms = max(ms(s.end_s) for s in streams.values() if s.end_s is not None)
    received = [
        s for s in streams.values() if s is not main and s.end_s is not None and s.status == 200
    ]
    marks = [Mark(kind="early-hint", t_ms=ms(hint_s))] if hint_s is not None else []
    if headers_s is not None:
        marks.append(Mark(kind="headers", t_ms=ms(headers_s)))
    marks.append(Mark(kind="complete", t_ms=complete_ms))
    return RunResult(
        page_complete_ms=complete_ms,
        first_contentful_paint_ms=None,
        early_hint_ms=None if hint_s is None else ms(hint_s),
        main_headers_ms=None if headers_s is None else ms(headers_s),
        page_end_ms=ms(main.end_s),
        resources=len(received),
        pushed=sum(1 for s in received if s.pushed),
        hinted=0,
        waterfall=Waterfall(
            title=title,
            subtitle="ms since the TCP connection was established (nghttp -nav)",
            rows=rows,
            marks=tuple(marks),
        ),
    )


def _run_nghttp(program: str, url: str, *, timeout_s: float, title: str) -> RunResult:
    command = [program, "-nav", "-H", f"accept: {DEFAULT_ACCEPT}", url]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"nghttp did not finish loading {url} within {timeout_s:g} s") from None
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip()[-500:]
        raise BenchError(f"nghttp exited with {completed.returncode}: {tail}")
    return parse_nghttp(completed.stdout, title=title)


# --------------------------------------------------------------------------- Chromium


# Chromium may paint for the first time after the load event: wait for it (at most 2 s).
_FIRST_PAINT_JS: Final = """new Promise((resolve) => {
  const name = "first-contentful-paint";
  const now = performance.getEntriesByName(name)[0];
  if (now) { resolve(now.startTime); return; }
  const timer = setTimeout(() => resolve(null), 2000);
  new PerformanceObserver((list) => {
    const entry = list.getEntriesByName(name)[0];
    if (entry) { clearTimeout(timer); resolve(entry.startTime); }
  }).observe({type: "paint", buffered: true});
})"""


def _run_chromium(browser: Chromium, url: str, *, timeout_s: float, title: str) -> RunResult:
    """One first visit: empty cache and no cookies, then load and read the timings."""
    browser.clear_cache()
    browser.call("Network.clearBrowserCookies")
    load: PageLoad = browser.load(url, timeout_s=timeout_s, settle_s=0.05)
    nav = load.navigation
    if nav.response_status not in (0, 200):
        raise BenchError(f"Chromium got status {nav.response_status} for {url}")
    first_paint = load.first_contentful_paint_ms
    if first_paint is None:
        painted = browser.evaluate(_FIRST_PAINT_JS, timeout_s=5)
        first_paint = None if painted is None else float(painted)
    return RunResult(
        page_complete_ms=nav.load_event_end_ms,
        first_contentful_paint_ms=first_paint,
        early_hint_ms=nav.first_interim_response_start_ms or None,
        main_headers_ms=nav.final_response_headers_start_ms,
        page_end_ms=nav.response_end_ms,
        resources=len(load.by_path()),
        pushed=0,
        hinted=len(load.hinted_paths()),
        waterfall=from_page_load(load, title=title),
    )


# --------------------------------------------------------------------------- the run


def _versions(nghttp: str | None, browser: Chromium | None) -> dict[str, Any]:
    environment: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    for package in ("hypercorn", "h2"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            environment[package] = metadata.version(package)
    if nghttp is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            environment["nghttp"] = subprocess.run(
                [nghttp, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
    if browser is not None:
        with contextlib.suppress(BrowserError):
            environment["chromium"] = browser.call("Browser.getVersion").get("product")
    return environment


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # pragma: no cover - not on this platform
        return None


def run_page_bench(
    options: PageBenchOptions, *, progress: Callable[[str], None] | None = None
) -> PageBenchResult:
    """Serve the bench site and load it with every client, protocol and strategy asked for.

    Runs are interleaved (run 1 of every strategy, then run 2, ...) so that a machine that gets
    busier during the benchmark slows every strategy alike. A failed load is tried once more.

    Args:
        options: What to run.
        progress: Called with one line per load (and a few more), for a progress display.

    Returns:
        PageBenchResult: Every run, in table order.

    Raises:
        BenchError: A client's program is not installed, or a load failed twice.
    """
    say = progress or (lambda _line: None)
    site = BenchSite(options.think_ms)
    limit = physical_limit_ms(
        rtt_ms=options.rtt_ms,
        think_ms=options.think_ms,
        total_bytes=site.total_bytes,
        bandwidth_mbit=options.bandwidth_mbit,
    )
    bandwidth = "" if options.bandwidth_mbit is None else f", {options.bandwidth_mbit:g} Mbit/s"
    say(
        f"bench site: {site.total_bytes} bytes in 7 files, think {options.think_ms:g} ms,"
        f" rtt {options.rtt_ms:g} ms{bandwidth}; physical limit {limit:.0f} ms"
    )
    result = _measure(
        options,
        lambda certfile, keyfile: BenchServer(
            site,
            certfile=certfile,
            keyfile=keyfile,
            rtt_ms=options.rtt_ms,
            bandwidth_mbit=options.bandwidth_mbit,
        ),
        "/",
        say,
    )
    return replace(result, sizes=site.sizes, limit_ms=limit)


def _measure(
    options: PageBenchOptions,
    make_server: Callable[[str, str], BenchServer],
    path: str,
    say: Callable[[str], None],
) -> PageBenchResult:
    """Start the clients and the server, load ``path`` as ``options`` say; sizes and limit unset."""
    nghttp = shutil.which("nghttp") if "nghttp" in options.clients else None
    if "nghttp" in options.clients and nghttp is None:
        raise BenchError("nghttp is not installed (apt-get install nghttp2-client)")
    if "chromium" in options.clients and find_chromium() is None:
        raise BenchError("Chromium is not installed (apt-get install chromium)")
    plan: list[tuple[Client, Protocol]] = []
    skipped: list[str] = []
    for client in options.clients:
        for protocol in options.protocols:
            if client == "nghttp" and protocol != "h2":
                skipped.append(f"nghttp over {protocol}: nghttp speaks HTTP/2 only")
            else:
                plan.append((client, protocol))
    runs: dict[tuple[Client, Protocol, Strategy], list[RunResult]] = {
        (client, protocol, strategy): []
        for client, protocol in plan
        for strategy in options.strategies
    }
    total = len(runs) * options.runs
    done = 0
    load_before = _load_average()
    with contextlib.ExitStack() as stack:
        certificate_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dev = ensure_dev_certificate(certificate_dir / "cert")
        browser: Chromium | None = None
        if any(client == "chromium" for client, _ in plan):
            browser = stack.enter_context(Chromium(spki=[dev.spki_sha256], log_domain=False))
        server = stack.enter_context(make_server(str(dev.cert_file), str(dev.key_file)))

        def load(client: Client, protocol: Protocol, strategy: Strategy, label: str) -> RunResult:
            server.strategy = strategy
            title = f"{client} {protocol} {strategy} ({label})"
            failure: Exception | None = None
            for _attempt in range(2):
                try:
                    with server.endpoint(protocol) as base:
                        url = base + path.lstrip("/")
                        if client == "nghttp":
                            assert nghttp is not None
                            return _run_nghttp(
                                nghttp, url, timeout_s=options.timeout_s, title=title
                            )
                        assert browser is not None
                        return _run_chromium(browser, url, timeout_s=options.timeout_s, title=title)
                except (BenchError, BrowserError) as error:
                    failure = error
                    say(f"  {title}: failed ({error}); trying again")
            raise BenchError(f"{title}: {failure}")

        if options.warmup:
            for client, protocol in plan:
                load(client, protocol, options.strategies[0], "warm-up")
        for number in range(1, options.runs + 1):
            for client, protocol in plan:
                for strategy in options.strategies:
                    result = load(client, protocol, strategy, f"run {number}")
                    runs[client, protocol, strategy].append(result)
                    done += 1
                    say(
                        f"[{done}/{total}] {client} {protocol} {strategy} run {number}:"
                        f" {result.page_complete_ms:.0f} ms"
                    )
        environment = _versions(nghttp, browser)
    environment["load_average_before"] = load_before
    environment["load_average_after"] = _load_average()
    cases = tuple(
        CaseResult(client=client, protocol=protocol, strategy=strategy, runs=tuple(results))
        for (client, protocol, strategy), results in runs.items()
    )
    return PageBenchResult(
        options=options,
        sizes={},
        limit_ms=0.0,
        cases=cases,
        skipped=tuple(skipped),
        environment=environment,
    )
