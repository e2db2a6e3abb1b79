"""Waterfall SVGs: from hand-made rows, from a real ``h2push trace``, and rendered by Chromium.

The real trace loads the benchmark site served by Hypercorn with ``H2PushMiddleware`` sending a
103 and six pushes (:class:`h2push._tools.bench.servers.BenchServer`, strategy ``push+103``).
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_program
from h2push._tools.bench.servers import BenchServer
from h2push._tools.bench.site import BenchSite
from h2push._tools.bench.waterfall import (
    DELIVERY_COLOURS,
    MARK_COLOURS,
    ChartBar,
    Mark,
    Row,
    Waterfall,
    from_page_load,
    from_trace,
    render_chart_svg,
    render_svg,
)
from h2push._tools.browser import Chromium, NavigationTiming, PageLoad, ResourceTiming
from h2push._tools.serve.devcert import DevCertificate, ensure_dev_certificate
from h2push._tools.trace.models import Trace
from h2push._tools.trace.session import trace

SVG = "{http://www.w3.org/2000/svg}"


def _rows(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]


def _legend(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    return legend


# --------------------------------------------------------------------------- pure


def test_one_row_per_stream_coloured_by_delivery_with_a_legend() -> None:
    waterfall = Waterfall(
        title="a <page> & more",
        rows=(
            Row(label="/", start_ms=10, end_ms=300, delivery="normal", stream_id=1),
            Row(label="/a.css", start_ms=40, end_ms=60, delivery="pushed", stream_id=2),
            Row(label="/b.js", start_ms=45, end_ms=None, delivery="early-hint", note="reset"),
        ),
        marks=(Mark(kind="early-hint", t_ms=40), Mark(kind="headers", t_ms=250)),
    )
    svg = render_svg(waterfall)
    rows = _rows(svg)

    assert [(g.get("data-stream"), g.get("data-path"), g.get("data-delivery")) for g in rows] == [
        ("1", "/", "normal"),
        ("2", "/a.css", "pushed"),
        ("", "/b.js", "early-hint"),
    ]
    bars = [next(g.iter(f"{SVG}rect")) for g in rows]
    assert [bar.get("fill") for bar in bars[:2]] == [
        DELIVERY_COLOURS["normal"],
        DELIVERY_COLOURS["pushed"],
    ]
    unfinished = bars[2]
    assert (unfinished.get("fill"), unfinished.get("stroke")) == (
        "none",
        DELIVERY_COLOURS["early-hint"],
    )
    assert unfinished.get("stroke-dasharray")
    legend = _legend(svg)
    assert {item.get("data-delivery") for item in legend} >= set(DELIVERY_COLOURS)
    assert "103 Early Hints preload" in "".join(legend.itertext())
    assert "a &lt;page&gt; &amp; more" in svg  # escaped, and still well-formed XML
    marks = [line.get("stroke") for line in ET.fromstring(svg).iter(f"{SVG}line")]
    assert MARK_COLOURS["early-hint"] in marks
    assert MARK_COLOURS["headers"] in marks


def test_bars_are_placed_in_time() -> None:
    waterfall = Waterfall(
        title="t",
        rows=(
            Row(label="/", start_ms=0, end_ms=100, delivery="normal"),
            Row(label="/x", start_ms=50, end_ms=100, delivery="normal"),
        ),
    )
    first, second = (next(g.iter(f"{SVG}rect")) for g in _rows(render_svg(waterfall)))
    x1, w1 = float(first.get("x", "0")), float(first.get("width", "0"))
    x2, w2 = float(second.get("x", "0")), float(second.get("width", "0"))
    assert x2 == pytest.approx(x1 + w1 / 2, abs=0.2)
    assert w2 == pytest.approx(w1 / 2, abs=0.2)


def test_an_empty_waterfall_still_draws_the_legend() -> None:
    svg = render_svg(Waterfall(title="nothing happened", rows=()))
    assert _rows(svg) == []
    assert {item.get("data-mark") for item in _legend(svg)} >= {"early-hint", "headers"}


def test_a_page_load_becomes_rows_of_hinted_and_fetched_resources() -> None:
    def resource(path: str, initiator: str, start: float, end: float) -> ResourceTiming:
        return ResourceTiming(
            name=f"https://127.0.0.1:8443{path}",
            initiator_type=initiator,
            start_time_ms=start,
            response_start_ms=start,
            response_end_ms=end,
            transfer_size=0,
            encoded_body_size=100,
            next_hop_protocol="h2",
        )

    load = PageLoad(
        url="https://127.0.0.1:8443/",
        navigation=NavigationTiming(
            name="https://127.0.0.1:8443/",
            request_start_ms=200,
            response_start_ms=300,
            first_interim_response_start_ms=300,
            final_response_headers_start_ms=500,
            response_end_ms=505,
            dom_content_loaded_event_end_ms=520,
            load_event_end_ms=560,
            transfer_size=4000,
            encoded_body_size=3700,
            next_hop_protocol="h2",
            response_status=200,
        ),
        resources=(
            resource("/a.css", "early-hints", 510, 515),
            resource("/b.png", "css", 520, 620),
        ),
    )
    waterfall = from_page_load(load)

    assert [(r.label, r.delivery, r.start_ms, r.end_ms) for r in waterfall.rows] == [
        ("/", "normal", 200, 505),
        ("/a.css", "early-hint", 510, 515),
        ("/b.png", "normal", 520, 620),
    ]
    assert [(m.kind, m.t_ms) for m in waterfall.marks] == [
        ("early-hint", 300),
        ("headers", 500),
        ("complete", 560),
    ]


def test_the_chart_draws_a_bar_per_case_and_the_limit() -> None:
    bars = [
        ChartBar(label="nothing", median_ms=800, min_ms=780, max_ms=850, colour="#999", group="a"),
        ChartBar(label="hints", median_ms=560, min_ms=550, max_ms=600, colour="#0a0", group="a"),
        ChartBar(label="nothing", median_ms=900, min_ms=880, max_ms=950, colour="#999", group="b"),
    ]
    svg = render_chart_svg(bars, title="chart", limit_ms=500)
    root = ET.fromstring(svg)
    drawn = [g.get("data-label") for g in root.iter(f"{SVG}g") if g.get("class") == "bar"]

    assert drawn == ["nothing", "hints", "nothing"]
    assert "physical limit 500 ms" in svg
    assert [t.text for t in root.iter(f"{SVG}text") if t.text in {"a", "b"}] == ["a", "b"]


# --------------------------------------------------------------------------- a real trace


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    return ensure_dev_certificate(tmp_path_factory.mktemp("devcert"))


@pytest.fixture(scope="module")
def traced(dev: DevCertificate) -> Iterator[Trace]:
    """A trace of the bench page served with a 103 and six pushes, 10 ms round trip."""
    site = BenchSite(think_ms=50)
    with BenchServer(
        site, certfile=str(dev.cert_file), keyfile=str(dev.key_file), rtt_ms=10
    ) as server:
        server.strategy = "push+103"
        with server.endpoint("h2") as url:
            yield trace(url, cacert=dev.ca_file)


def test_a_real_trace_draws_one_row_per_stream(traced: Trace) -> None:
    assert traced.ok
    assert len(traced.pushes) == 6
    svg = render_svg(from_trace(traced))
    rows = _rows(svg)

    streams = [traced.main.stream_id, *(p.stream_id for p in traced.pushes)]
    assert [int(g.get("data-stream", "0")) for g in rows] == streams
    assert [g.get("data-delivery") for g in rows] == ["normal"] + ["pushed"] * 6
    assert [g.get("data-path") for g in rows] == ["/", *(p.path for p in traced.pushes)]
    for colour in DELIVERY_COLOURS.values():
        assert colour in svg
    legend = _legend(svg)
    assert len([i for i in legend if i.get("data-delivery")]) == 3
    marks = {g.get("data-kind") for g in ET.fromstring(svg).iter(f"{SVG}g")}
    assert {"early-hint", "headers"} <= marks


def test_trace_times_put_the_pushes_before_the_page(traced: Trace) -> None:
    waterfall = from_trace(traced)
    main, *pushed = waterfall.rows
    marks = {m.kind: m.t_ms for m in waterfall.marks}

    assert main.end_ms is not None
    assert all(row.end_ms is not None and row.end_ms < marks["headers"] for row in pushed)
    assert main.start_ms < marks["early-hint"] < marks["headers"] <= main.end_ms


# --------------------------------------------------------------------------- rendering


def _png_colours(png: bytes, rows: int) -> set[tuple[int, int, int]]:
    """The RGB colours in the first ``rows`` rows of an 8-bit non-interlaced RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, bpp = 8, b"", 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour in (2, 6), interlace) == (8, True, 0)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * bpp
    previous, colours = bytearray(stride), set()
    for y in range(rows):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filters (RFC 2083 §6)
            left = line[i - bpp] if i >= bpp else 0
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (
                    line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)
                ) & 0xFF
        colours.update((line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp))
        previous = line
    return colours


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


@pytest.mark.peer
def test_chromium_renders_the_waterfall(traced: Trace, tmp_path: Path) -> None:
    require_program("chromium")
    path = tmp_path / "waterfall.svg"
    path.write_text(render_svg(from_trace(traced)), encoding="utf-8")

    with Chromium() as browser:
        browser.load(path.as_uri(), settle_s=0.1)
        shape = browser.evaluate(
            "({root: document.documentElement.localName,"
            " errors: document.getElementsByTagName('parsererror').length,"
            " rows: document.querySelectorAll('g.row').length,"
            " width: document.documentElement.getBoundingClientRect().width})"
        )
        png = browser.screenshot()

    assert shape == {"root": "svg", "errors": 0, "rows": 7, "width": 960}
    colours = _png_colours(png, rows=240)
    assert len(colours) > 20  # text, bars, grid: not a blank page
    for colour in (DELIVERY_COLOURS["pushed"], DELIVERY_COLOURS["normal"]):
        assert _rgb(colour) in colours, colour
