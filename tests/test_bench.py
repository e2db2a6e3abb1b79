"""``h2push bench page``: the bench site, the strategies through the real stack, a tiny bench.

No test here asserts a performance target: timings on a shared machine are noise. The tiny
benches check the shape of what is printed and written, and that a pushed or hinted page is not
slower than the same page without h2push by more than noise.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import TLSFiles, free_port, require_program
from h2push._tools.bench.app import _without_preloads, prepare_page, run_app_bench
from h2push._tools.bench.clients import parse_nghttp, run_page_bench
from h2push._tools.bench.command import bench_command
from h2push._tools.bench.report import format_table, format_targets, write_results, write_waterfalls
from h2push._tools.bench.results import (
    CLIENTS,
    STRATEGIES,
    BenchError,
    CaseResult,
    PageBenchOptions,
    PageBenchResult,
    RunResult,
    check_targets,
    physical_limit_ms,
)
from h2push._tools.bench.servers import BenchServer
from h2push._tools.bench.site import BenchSite
from h2push._tools.bench.waterfall import Waterfall
from h2push._tools.serve.devcert import DevCertificate, ensure_dev_certificate
from h2push._tools.trace.session import trace
from h2push.cli import main
from processes import h2push_command, running

SUBRESOURCES = {
    "/static/bench.css",
    "/static/bench.woff2",
    "/static/backdrop.svg",
    "/static/app.js",
    "/static/main.mjs",
    "/static/lib.mjs",
}
NOISE_MS = 60.0
"""How much slower than "nothing" a pushed page may be before the test calls it slower."""


# --------------------------------------------------------------------------- the site


def _get(site: BenchSite, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """One in-process ASGI GET; returns status, headers and body."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "headers": []}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(site(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_the_site_serves_a_page_that_uses_every_resource() -> None:
    site = BenchSite(think_ms=0)
    status, headers, page = _get(site, "/")

    assert status == 200
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"content-type"].startswith(b"text/html")
    assert b'<link rel="stylesheet" href="/static/bench.css">' in page
    assert b'<script src="/static/app.js" defer></script>' in page
    assert b'<script type="module" src="/static/main.mjs"></script>' in page
    css = _get(site, "/static/bench.css")[2]
    assert b'url("/static/bench.woff2")' in css
    assert b'url("/static/backdrop.svg")' in css
    assert b'from "/static/lib.mjs"' in _get(site, "/static/main.mjs")[2]
    assert _get(site, "/missing")[0] == 404


def test_static_files_are_cacheable_and_sized() -> None:
    site = BenchSite(think_ms=0)
    for path in SUBRESOURCES:
        status, headers, body = _get(site, path)
        assert status == 200, path
        assert headers[b"cache-control"] == b"public, max-age=3600"
        assert int(headers[b"content-length"]) == len(body) == site.sizes[path]
    assert _get(site, "/static/bench.woff2")[2][:4] == b"wOF2"
    assert site.total_bytes == sum(site.sizes.values()) > 40_000


def test_the_manifest_declares_the_six_resources_for_the_page_only() -> None:
    manifest = BenchSite(think_ms=0).manifest

    assert {p.url for p in manifest.preloads_for("/")} == SUBRESOURCES
    assert manifest.preloads_for("/static/bench.css") == ()
    rels = {p.url: p.rel for p in manifest.preloads_for("/")}
    assert rels["/static/lib.mjs"] == "modulepreload"


def test_a_negative_think_time_is_refused() -> None:
    with pytest.raises(ValueError, match="think_ms"):
        BenchSite(think_ms=-1)


def test_physical_limit_is_handshakes_a_request_think_time_and_bytes() -> None:
    assert physical_limit_ms(rtt_ms=100, think_ms=200, total_bytes=10**6, bandwidth_mbit=None) == (
        500.0
    )
    # 125,000 bytes at 10 Mbit/s take 100 ms.
    limit = physical_limit_ms(rtt_ms=50, think_ms=0, total_bytes=125_000, bandwidth_mbit=10)
    assert limit == pytest.approx(250.0)


# --------------------------------------------------------------------------- strategies


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    return ensure_dev_certificate(tmp_path_factory.mktemp("devcert"))


@pytest.fixture(scope="module")
def server(dev: DevCertificate) -> Iterator[BenchServer]:
    site = BenchSite(think_ms=30)
    with BenchServer(
        site, certfile=str(dev.cert_file), keyfile=str(dev.key_file), rtt_ms=4
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("strategy", "hinted", "pushed", "linked"),
    [
        ("nothing", False, False, False),
        ("link", False, False, True),
        ("hints", True, False, True),
        ("push", False, True, True),
        ("push+103", True, True, True),
    ],
)
def test_each_strategy_sends_what_it_says(
    server: BenchServer,
    dev: DevCertificate,
    strategy: str,
    hinted: bool,
    pushed: bool,
    linked: bool,
) -> None:
    server.strategy = strategy  # type: ignore[assignment]
    with server.endpoint("h2") as url:
        result = trace(url, cacert=dev.ca_file)

    assert result.ok
    assert bool(result.early_hints) is hinted
    assert {p.path for p in result.pushes} == (SUBRESOURCES if pushed else set())
    links = dict(result.main.headers).get("link", "")
    assert all(path in links for path in SUBRESOURCES) if linked else links == ""


def test_an_unknown_strategy_is_refused(server: BenchServer) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        server.strategy = "everything"  # type: ignore[assignment]


def test_the_relay_adds_the_round_trip(server: BenchServer, dev: DevCertificate) -> None:
    server.strategy = "nothing"
    with server.endpoint("h2") as url:
        result = trace(url, cacert=dev.ca_file)
    # TCP and TLS handshakes (2 RTT), then the request (1 RTT) and the 30 ms think time.
    assert result.main.completed_ms is not None
    assert result.main.completed_ms >= 3 * 4 + 30


# --------------------------------------------------------------------------- nghttp output

NGHTTP_OUTPUT = """\
[  0.010] Connected
The negotiated protocol: h2
[  0.110] send SETTINGS frame <length=12, flags=0x00, stream_id=0>
[  0.110] send HEADERS frame <length=43, flags=0x25, stream_id=13>
          ; END_STREAM | END_HEADERS | PRIORITY
          (padlen=0, dep_stream_id=11, weight=16, exclusive=0)
          ; Open new stream
          :method: GET
          :path: /
          :scheme: https
[  0.160] recv (stream_id=13) :status: 103
[  0.160] recv (stream_id=13) link: </a.css>; rel=preload; as=style
[  0.160] recv HEADERS frame <length=30, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0)
[  0.161] recv (stream_id=13) :method: GET
[  0.161] recv (stream_id=13) :path: /a.css
[  0.161] recv (stream_id=13) :scheme: https
[  0.161] recv PUSH_PROMISE frame <length=25, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0, promised_stream_id=2)
[  0.162] recv (stream_id=2) :status: 200
[  0.162] recv HEADERS frame <length=45, flags=0x04, stream_id=2>
          ; END_HEADERS
          (padlen=0)
          ; First push response header
[  0.163] recv DATA frame <length=100, flags=0x00, stream_id=2>
[  0.164] recv DATA frame <length=0, flags=0x01, stream_id=2>
          ; END_STREAM
[  0.360] recv (stream_id=13) :status: 200
[  0.360] recv HEADERS frame <length=69, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0)
[  0.361] recv DATA frame <length=3744, flags=0x01, stream_id=13>
          ; END_STREAM
[  0.361] send HEADERS frame <length=28, flags=0x25, stream_id=15>
          ; END_STREAM | END_HEADERS | PRIORITY
          :method: GET
          :path: /b.js
[  0.461] recv (stream_id=15) :status: 200
[  0.461] recv HEADERS frame <length=45, flags=0x04, stream_id=15>
          ; END_HEADERS
[  0.462] recv DATA frame <length=50, flags=0x01, stream_id=15>
          ; END_STREAM
[  0.462] send GOAWAY frame <length=8, flags=0x00, stream_id=0>
"""


def test_nghttp_output_becomes_streams_times_and_marks() -> None:
    run = parse_nghttp(NGHTTP_OUTPUT, title="canned")

    assert run.page_complete_ms == pytest.approx(452.0)  # 0.462 s - 0.010 s
    assert run.early_hint_ms == pytest.approx(150.0)
    assert run.main_headers_ms == pytest.approx(350.0)
    assert run.page_end_ms == pytest.approx(351.0)
    assert (run.resources, run.pushed, run.hinted) == (2, 1, 0)
    rows = run.waterfall.rows
    assert [(r.stream_id, r.label, r.delivery) for r in rows] == [
        (13, "/", "normal"),
        (2, "/a.css", "pushed"),
        (15, "/b.js", "normal"),
    ]
    assert rows[0].start_ms == pytest.approx(100.0)
    assert rows[1].start_ms == pytest.approx(151.0)
    assert rows[1].end_ms == pytest.approx(154.0)
    assert rows[1].body_bytes == 100
    assert [m.kind for m in run.waterfall.marks] == ["early-hint", "headers", "complete"]


def test_nghttp_output_without_a_finished_page_is_an_error() -> None:
    from h2push._tools.bench.results import BenchError

    with pytest.raises(BenchError, match="Connected"):
        parse_nghttp("[  0.1] send HEADERS frame <length=1, flags=0x25, stream_id=13>\n")
    unfinished = NGHTTP_OUTPUT.split("[  0.360]")[0]
    with pytest.raises(BenchError, match="never ended"):
        parse_nghttp(unfinished)


# --------------------------------------------------------------------------- reporting


def _run(ms: float, *, pushed: int = 0, hinted: int = 0) -> RunResult:
    return RunResult(
        page_complete_ms=ms,
        first_contentful_paint_ms=None,
        early_hint_ms=None,
        main_headers_ms=None,
        page_end_ms=ms - 40,
        resources=6,
        pushed=pushed,
        hinted=hinted,
        waterfall=Waterfall(title="t", rows=()),
    )


def _case(client: str, strategy: str, *times: float) -> CaseResult:
    return CaseResult(
        client=client,  # type: ignore[arg-type]
        protocol="h2",
        strategy=strategy,  # type: ignore[arg-type]
        runs=tuple(
            _run(ms, hinted=6 if "103" in strategy or strategy == "hints" else 0) for ms in times
        ),
    )


def test_targets_are_checked_where_they_apply() -> None:
    result = PageBenchResult(
        options=PageBenchOptions(runs=3),
        sizes={"/": 1000},
        limit_ms=500.0,
        cases=(
            _case("chromium", "nothing", 800, 790, 900),
            _case("chromium", "hints", 540, 530, 560),  # 1.08 x limit, 1.48 x faster
            _case("chromium", "push", 700, 700, 700),  # push: not a Chromium target
            _case("nghttp", "push", 600, 560, 640),  # 1.20 x limit
        ),
    )
    checks = {(c.case, c.measure): c for c in check_targets(result)}

    assert set(checks) == {
        ("chromium h2 hints", "x limit"),
        ("chromium h2 hints", "vs nothing"),
        ("nghttp h2 push", "x limit"),
    }
    limit = checks["chromium h2 hints", "x limit"]
    assert (limit.value, limit.met, limit.gap_ms) == (pytest.approx(1.08), True, 0.0)
    speed = checks["chromium h2 hints", "vs nothing"]
    assert speed.value == pytest.approx(800 / 540)
    assert not speed.met
    assert speed.gap_ms == pytest.approx(540 - 800 / 1.5)
    nghttp = checks["nghttp h2 push", "x limit"]
    assert not nghttp.met
    assert nghttp.gap_ms == pytest.approx(600 - 550)
    text = format_targets(result)
    assert "nghttp h2 push: 1.20 x limit (target <= 1.10): MISSED by 50 ms" in text
    assert "chromium h2 push: not a target" in text


def test_the_table_has_a_row_per_case_and_the_ratios() -> None:
    result = PageBenchResult(
        options=PageBenchOptions(runs=2),
        sizes={"/": 1000},
        limit_ms=500.0,
        cases=(_case("chromium", "nothing", 800, 1000), _case("chromium", "hints", 450, 550)),
    )
    lines = format_table(result).splitlines()

    assert lines[0].startswith("Page complete, ms: rtt 100 ms, think 200 ms")
    assert lines[2].startswith("| client | protocol | strategy | median | min | max | x limit")
    assert lines[4] == (
        "| chromium | h2 | nothing | 900 | 800 | 1000 | 1.80 | 1.00 | 40 | - | 6/6 | - |"
    )
    assert lines[5] == (
        "| chromium | h2 | hints | 500 | 450 | 550 | 1.00 | 1.80 | 40 | - | 6/6 | 6 hinted |"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"rtt_ms": 0},
        {"think_ms": -1},
        {"bandwidth_mbit": 0},
        {"runs": 0},
        {"strategies": ("fast",)},
        {"clients": ()},
        {"protocols": ("h3",)},
    ],
)
def test_bad_options_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        PageBenchOptions(**changes)


# --------------------------------------------------------------------------- tiny benches


def _shape(result: PageBenchResult, tmp_path: Path) -> dict[str, Any]:
    written = write_results(result, tmp_path / "out")
    assert sorted(p.name for p in written) == ["page.json", "page.md", "page.svg"]
    waterfalls = write_waterfalls(result, tmp_path / "waterfalls")
    assert len(waterfalls) == len(result.cases)
    for path in waterfalls:
        assert path.read_text().count('<g class="row"') >= 1
    document: dict[str, Any] = json.loads((tmp_path / "out" / "page.json").read_text())
    assert document["physical_limit_ms"] == pytest.approx(result.limit_ms)
    assert document["site"]["total_bytes"] == sum(result.sizes.values())
    for entry in document["results"]:
        assert entry["min_ms"] <= entry["median_ms"] <= entry["max_ms"]
        assert len(entry["runs"]) == result.options.runs
        for run in entry["runs"]:
            assert run["page_complete_ms"] > 0
            assert run["streams"]
    return document


@pytest.mark.peer
def test_a_tiny_nghttp_bench(tmp_path: Path) -> None:
    require_program("nghttp")
    options = PageBenchOptions(
        rtt_ms=20,
        think_ms=50,
        runs=1,
        strategies=("nothing", "push"),
        clients=("nghttp",),
        protocols=("h2", "http/1.1"),
        warmup=False,
    )
    lines: list[str] = []
    result = run_page_bench(options, progress=lines.append)

    assert [case.name for case in result.cases] == ["nghttp h2 nothing", "nghttp h2 push"]
    assert result.skipped == ("nghttp over http/1.1: nghttp speaks HTTP/2 only",)
    assert any(line.startswith("[2/2] nghttp h2 push run 1: ") for line in lines)
    nothing, push = result.cases
    assert (nothing.runs[0].pushed, nothing.runs[0].resources) == (0, 3)  # HTML links only
    assert (push.runs[0].pushed, push.runs[0].resources) == (6, 6)
    assert push.median_ms <= nothing.median_ms + NOISE_MS
    # Nothing beats the handshakes, the request and the think time.
    assert push.median_ms >= 3 * 20 + 50 - 5

    document = _shape(result, tmp_path)
    assert [(e["client"], e["strategy"]) for e in document["results"]] == [
        ("nghttp", "nothing"),
        ("nghttp", "push"),
    ]
    table = format_table(result)
    assert "| nghttp | h2 | push |" in table
    assert "6 pushed" in table


@pytest.mark.peer
def test_one_chromium_run_takes_the_hints(tmp_path: Path) -> None:
    require_program("chromium")
    options = PageBenchOptions(
        rtt_ms=20,
        think_ms=50,
        runs=1,
        strategies=("nothing", "hints"),
        clients=("chromium",),
        protocols=("h2",),
        warmup=False,
    )
    result = run_page_bench(options)

    nothing, hints = result.cases
    assert nothing.runs[0].hinted == 0
    assert hints.runs[0].hinted == len(SUBRESOURCES)
    assert hints.runs[0].resources == nothing.runs[0].resources == len(SUBRESOURCES)
    assert hints.runs[0].early_hint_ms is not None
    assert hints.median_ms <= nothing.median_ms + NOISE_MS
    assert hints.runs[0].first_contentful_paint_ms is not None
    rows = hints.runs[0].waterfall.rows
    assert {r.label for r in rows if r.delivery == "early-hint"} == SUBRESOURCES
    _shape(result, tmp_path)


@pytest.mark.peer
def test_the_command_prints_the_table_and_writes_files(tmp_path: Path) -> None:
    require_program("nghttp")
    result = CliRunner().invoke(
        bench_command,
        [
            "--waterfall",
            str(tmp_path / "wf"),
            "page",
            "--runs",
            "1",
            "--rtt-ms",
            "10",
            "--think-ms",
            "10",
            "--client",
            "nghttp",
            "--strategy",
            "push+103",
            "--out",
            str(tmp_path / "out"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "| nghttp | h2 | push+103 |" in result.stdout
    assert "Targets (set for rtt 100 ms, think 200 ms" in result.stdout
    assert "[1/1] nghttp h2 push+103 run 1:" in result.stderr
    assert (tmp_path / "out" / "page.json").is_file()
    assert (tmp_path / "wf" / "waterfall-nghttp-h2-push-103.svg").is_file()


def test_no_product_text_speaks_of_the_projects_issues() -> None:
    """What the product prints, and its docstrings, mean something to a user without the tracker."""
    source = Path(__file__).resolve().parents[1] / "src" / "h2push"
    pattern = re.compile(r"(?i)\bissues? ?#?\d+|\bissues?/\d+")
    found = [
        f"{path.relative_to(source)}:{number}: {line.strip()}"
        for path in sorted(source.rglob("*"))
        if path.suffix in {".py", ".html", ".json", ".css", ".js", ".txt", ".md"}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_the_group_alone_prints_help() -> None:
    result = CliRunner().invoke(bench_command, [])
    assert result.exit_code == 0
    assert "page" in result.stdout
    assert set(CLIENTS) == {"nghttp", "chromium"}
    assert STRATEGIES == ("nothing", "link", "hints", "push", "push+103")


# --------------------------------------------------------------------------- your own page

OWN_APP = """
PAGE = (b"<!doctype html><title>own</title><link rel=stylesheet href=/static/own.css>"
        b"<script src=/static/own.js defer></script><p>own page")
FILES = {"/static/own.css": (b"text/css", b"body { margin: 0 }" * 50),
         "/static/own.js": (b"text/javascript", b"console.log(1);" * 50)}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/":
        status, kind, body = 200, b"text/html; charset=utf-8", PAGE
    elif scope["path"] in FILES:
        status, (kind, body) = 200, FILES[scope["path"]]
    else:
        status, kind, body = 404, b"text/plain", b"not found"
    headers = [(b"content-type", kind), (b"cache-control", b"public, max-age=3600")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app():
    return app
"""

OWN_FILES = {"/static/own.css", "/static/own.js"}


@pytest.fixture
def own_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small ASGI app (with a factory) in the current directory, as ``own_app``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "own_app.py").write_text(OWN_APP)
    yield tmp_path
    sys.modules.pop("own_app", None)


def test_preload_link_values_are_taken_out_the_rest_stays() -> None:
    headers = [
        (b"content-type", b"text/html"),
        (b"link", b"</a.css>; rel=preload; as=style, </next>; rel=next"),
        (b"Link", b"</m.mjs>; rel=modulepreload"),
    ]

    assert _without_preloads(headers) == [
        (b"content-type", b"text/html"),
        (b"link", b"</next>; rel=next"),
    ]


def test_the_page_prepared_from_an_app_finds_what_it_uses(own_app: Path) -> None:
    page = prepare_page(app="own_app:create_app()")

    assert page.name == "own_app:create_app() /"
    assert page.declared == "found in the page"
    assert set(page.sizes) == {"/", *OWN_FILES}
    assert page.sizes["/static/own.css"] == len(b"body { margin: 0 }" * 50)
    with pytest.raises(BenchError, match="answered 404, not 2xx"):
        prepare_page(app="own_app:app", path="/nope")
    with pytest.raises(BenchError, match="no attribute 'missing'"):
        prepare_page(app="own_app:missing")


@pytest.mark.peer
def test_bench_app_prints_the_table_for_the_users_page(own_app: Path) -> None:
    require_program("nghttp")
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--app",
            "own_app:create_app()",
            "--runs",
            "1",
            "--rtt-ms",
            "10",
            "--client",
            "nghttp",
            "--strategy",
            "nothing",
            "--strategy",
            "push+103",
            "--waterfall",
            str(own_app / "wf"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "(hinted: found in the page), rtt 10 ms" in result.stderr
    assert "Page complete, ms: own_app:create_app() /: rtt 10 ms, server " in result.stdout
    rows = {
        line.split(" | ")[2]: line for line in result.stdout.splitlines() if "| nghttp |" in line
    }
    assert rows["nothing"].endswith("| 2 | - |")  # both resources, none pushed
    assert rows["push+103"].endswith("| 2 | 2 pushed |")
    assert "nghttp h2 push+103: " in result.stdout
    assert "Page complete with h2push / without" in result.stdout
    assert "Targets" not in result.stdout
    assert (own_app / "wf" / "waterfall-nghttp-h2-push-103.svg").is_file()


@pytest.mark.peer
def test_bench_url_measures_a_running_server_through_its_proxy(
    own_app: Path, tls_files: TLSFiles
) -> None:
    require_program("nghttp")
    port = free_port()
    tls = ["--certfile", str(tls_files.cert), "--keyfile", str(tls_files.key)]
    manifest = own_app / "push_manifest.json"
    manifest.write_text(json.dumps({"/static/own.css": {"type": "style", "weight": 1}}))
    # The server pushes and links its manifest itself: the bench's "nothing" must not.
    command = h2push_command("serve", "own_app:app", "-m", str(manifest), *tls)
    with running([*command, "--bind", f"127.0.0.1:{port}"], port=port, cwd=own_app):
        result = CliRunner().invoke(
            main,
            [
                "bench",
                f"https://localhost:{port}/",
                "--cacert",
                str(tls_files.ca),
                "--runs",
                "1",
                "--rtt-ms",
                "10",
                "--client",
                "nghttp",
                "--strategy",
                "nothing",
                "--strategy",
                "push",
            ],
        )

    assert result.exit_code == 0, result.output
    rows = {
        line.split(" | ")[2]: line for line in result.stdout.splitlines() if "| nghttp |" in line
    }
    assert rows["nothing"].endswith("| 2 | - |")
    assert rows["push"].endswith("| 2 | 2 pushed |")  # what the page uses, found through the proxy
    assert f"Page complete, ms: https://localhost:{port}/: rtt 10 ms" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://localhost:1/", "--app", "x:app"], "give the page's URL or --app"),
        (["--runs", "1"], "give the page's URL or --app"),
        (["https://localhost:1/", "--path", "/a"], "--path is for --app"),
        (["--app", "x:app", "--insecure"], "--cacert and --insecure are for a URL"),
    ],
)
def test_bench_url_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["bench", *args, "--client", "nghttp"])

    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.peer
def test_bench_app_in_chromium_takes_the_hints_of_a_cacheable_page(own_app: Path) -> None:
    require_program("chromium")
    page = prepare_page(app="own_app:app")
    options = PageBenchOptions(
        rtt_ms=20,
        runs=1,
        strategies=("nothing", "hints"),
        clients=("chromium",),
        protocols=("h2",),
        warmup=False,
    )

    result = run_app_bench(page, options)

    nothing, hints = result.cases
    # Both files, and maybe /favicon.ico (a 404 Chromium asks for by itself).
    assert nothing.runs[0].resources >= 2
    assert nothing.runs[0].hinted == 0
    assert hints.runs[0].hinted == 2
    assert result.page == "own_app:app /"
    assert result.server_ms is not None
    assert result.limit_ms == pytest.approx(3 * 20 + result.server_ms)
