"""Waterfall pictures of one page load, and a summary chart of benchmark results, as SVG.

A :class:`Waterfall` is one row per stream (or, for a browser, per fetched resource): a bar from
the request, or from the ``PUSH_PROMISE`` (RFC 9113 §8.4) of a pushed resource, to its last
byte, coloured by how the resource was delivered (:data:`DELIVERY_COLOURS`: pushed, early hint,
normal), with vertical marks for the ``103 Early Hints`` response (RFC 8297) and the main
response's HEADERS. Build one from an ``h2push trace`` (:func:`from_trace`), from Chromium's
Resource Timing (:func:`from_page_load`) or from rows of your own, and draw it with
:func:`render_svg`.

Everything here is pure: values in, an SVG document (str) out. The SVG is self-contained (no
script, no external reference, no font file) and names its parts for machines as well as people:
each row is a ``<g class="row">`` with ``data-stream``, ``data-path`` and ``data-delivery``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from h2push._tools.browser import PageLoad
    from h2push._tools.trace.models import Trace


Delivery = Literal["pushed", "early-hint", "normal"]
MarkKind = Literal["early-hint", "headers", "complete"]

DELIVERY_COLOURS: Final[dict[Delivery, str]] = {
    "pushed": "#8e44ad",
    "early-hint": "#138d75",
    "normal": "#d68910",
}
"""Bar colour per delivery: purple for a pushed stream, teal for a resource a 103 Early Hints
response started, amber for an ordinary request."""

DELIVERY_LABELS: Final[dict[Delivery, str]] = {
    "pushed": "pushed (PUSH_PROMISE)",
    "early-hint": "103 Early Hints preload",
    "normal": "requested normally",
}

MARK_COLOURS: Final[dict[MarkKind, str]] = {
    "early-hint": DELIVERY_COLOURS["early-hint"],
    "headers": "#1d2430",
    "complete": "#c0392b",
}
"""Colour of each vertical mark: the 103 in the early-hint colour, the main response's HEADERS
in ink, the page's completion (load event, last byte) in red."""

_MARK_LABELS: Final[dict[MarkKind, str]] = {
    "early-hint": "103 Early Hints received",
    "headers": "main response HEADERS",
    "complete": "page complete",
}

_FONT: Final = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"
_INK: Final = "#1d2430"
_MUTED: Final = "#5b6472"
_GRID: Final = "#e3e0d8"
_PAPER: Final = "#ffffff"

_WIDTH: Final = 960
_LABEL_W: Final = 250
_RIGHT_PAD: Final = 70
_ROW_H: Final = 22
_BAR_H: Final = 12
_TOP: Final = 56


@dataclass(frozen=True, kw_only=True)
class Row:
    """One stream or fetched resource.

    Attributes:
        label: What the row shows, usually the path (``/static/app.css``).
        start_ms: When the request was sent or the push promised, in ms since the origin of the
            waterfall (the TCP connect for a trace, navigation start for a browser).
        end_ms: When its last byte arrived, in ms; None when it never completed (reset, or
            still open when the trace ended).
        delivery: ``"pushed"``, ``"early-hint"`` or ``"normal"``.
        stream_id: The HTTP/2 stream id, or None (a browser does not tell).
        body_bytes: Body bytes received (0 when unknown or read from a cache).
        note: Extra words for the row's tooltip (``"reset CANCEL"``, ``"read from cache"``).
    """

    label: str
    start_ms: float
    end_ms: float | None
    delivery: Delivery
    stream_id: int | None = None
    body_bytes: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "label": self.label,
            "start_ms": round(self.start_ms, 3),
            "end_ms": None if self.end_ms is None else round(self.end_ms, 3),
            "delivery": self.delivery,
            "stream_id": self.stream_id,
            "bytes": self.body_bytes,
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class Mark:
    """A moment drawn as a vertical line across every row.

    Attributes:
        kind: ``"early-hint"`` (a 103 arrived), ``"headers"`` (the main response's final
            HEADERS arrived) or ``"complete"`` (the page was complete).
        t_ms: When, in ms since the origin of the waterfall.
    """

    kind: MarkKind
    t_ms: float

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"kind": self.kind, "t_ms": round(self.t_ms, 3)}


@dataclass(frozen=True, kw_only=True)
class Waterfall:
    """What :func:`render_svg` draws.

    Attributes:
        title: The heading, e.g. the URL.
        rows: One per stream, in the order to draw them (top to bottom).
        marks: Vertical marks.
        subtitle: A second line: the clock's origin and anything else worth saying.
    """

    title: str
    rows: tuple[Row, ...]
    marks: tuple[Mark, ...] = ()
    subtitle: str = ""

    @property
    def end_ms(self) -> float:
        """The latest time in the picture, in ms (at least 1)."""
        times = [m.t_ms for m in self.marks]
        for row in self.rows:
            times.append(row.start_ms)
            if row.end_ms is not None:
                times.append(row.end_ms)
        return max([1.0, *times])

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "title": self.title,
            "subtitle": self.subtitle,
            "rows": [row.to_dict() for row in self.rows],
            "marks": [mark.to_dict() for mark in self.marks],
        }


# --------------------------------------------------------------------------- builders


def from_trace(trace: Trace) -> Waterfall:
    """Build the waterfall of an ``h2push trace`` (:class:`h2push._tools.trace.models.Trace`).

    Rows: the main request (from its HEADERS frame to END_STREAM), then each pushed stream (from
    its PUSH_PROMISE to END_STREAM, in promise order). Marks: every 103 and the main
    response's final HEADERS. Times are ms since the TCP connect started, as in the trace.
    """
    request_path = dict(trace.request_headers).get(":path", "/")
    sent = next(
        (
            frame.t_ms
            for frame in trace.frames
            if frame.direction == "send"
            and frame.type == "HEADERS"
            and frame.stream_id == trace.main.stream_id
        ),
        trace.connection.tls_ms,
    )
    main = trace.main
    rows = [
        Row(
            label=request_path,
            start_ms=sent,
            end_ms=main.completed_ms,
            delivery="normal",
            stream_id=main.stream_id,
            body_bytes=main.body_bytes,
            note=_status_note(main.status, main.reset),
        )
    ]
    rows.extend(
        Row(
            label=pushed.path,
            start_ms=pushed.promised_ms,
            end_ms=pushed.completed_ms,
            delivery="pushed",
            stream_id=pushed.stream_id,
            body_bytes=pushed.body_bytes,
            note=_status_note(pushed.status, pushed.reset),
        )
        for pushed in trace.pushes
    )
    marks = [Mark(kind="early-hint", t_ms=hint.t_ms) for hint in trace.early_hints]
    if main.headers_ms is not None:
        marks.append(Mark(kind="headers", t_ms=main.headers_ms))
    return Waterfall(
        title=f"h2push trace {trace.url}",
        subtitle=f"ms since TCP connect; {trace.connection.tls_version} to {trace.connection.peer}",
        rows=tuple(rows),
        marks=tuple(marks),
    )


def from_page_load(load: PageLoad, *, title: str | None = None) -> Waterfall:
    """Build the waterfall of a Chromium page load (:class:`h2push._tools.browser.PageLoad`).

    Rows: the document (from ``requestStart`` to ``responseEnd``), then each resource in fetch
    order (``startTime`` to ``responseEnd``), coloured ``early-hint`` when its
    ``initiatorType`` is ``"early-hints"``. A hinted resource's entry describes the page
    reading it from the HTTP cache the 103 filled, so its bar starts when the page asked for it.
    Chromium never accepts push, so no row is ``pushed``. Marks: the 103, the final response's
    HEADERS and ``loadEventEnd``. Times are ms since navigation start.
    """
    nav = load.navigation
    rows = [
        Row(
            label=urlsplit(nav.name).path or "/",
            start_ms=nav.request_start_ms,
            end_ms=nav.response_end_ms,
            delivery="normal",
            body_bytes=nav.encoded_body_size,
            note=f"document, {nav.next_hop_protocol}",
        )
    ]
    for resource in load.resources:
        hinted = resource.initiator_type == "early-hints"
        note = f"initiator {resource.initiator_type}, {resource.next_hop_protocol}"
        if hinted:
            note += "; read from the cache the 103 filled"
        rows.append(
            Row(
                label=resource.path,
                start_ms=resource.start_time_ms,
                end_ms=resource.response_end_ms,
                delivery="early-hint" if hinted else "normal",
                body_bytes=resource.encoded_body_size,
                note=note,
            )
        )
    marks = []
    if nav.first_interim_response_start_ms > 0:
        marks.append(Mark(kind="early-hint", t_ms=nav.first_interim_response_start_ms))
    marks.append(Mark(kind="headers", t_ms=nav.final_response_headers_start_ms))
    if nav.load_event_end_ms > 0:
        marks.append(Mark(kind="complete", t_ms=nav.load_event_end_ms))
    return Waterfall(
        title=title or f"Chromium {load.url}",
        subtitle="ms since navigation start (Resource Timing); bars of hinted resources"
        " show the page reading them from the cache",
        rows=tuple(rows),
        marks=tuple(marks),
    )


def _status_note(status: int | None, reset: str | None) -> str:
    if reset:
        return f"reset {reset}"
    return "no response" if status is None else f"status {status}"


# --------------------------------------------------------------------------- drawing


def _nice_step(span: float, target_ticks: int = 8) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``target_ticks`` ticks."""
    raw = max(span, 1e-9) / max(target_ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    """A coordinate with at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg_open(height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_fmt(height)}"'
        f' viewBox="0 0 {_WIDTH} {_fmt(height)}" font-family={quoteattr(_FONT)} font-size="12">'
    )


def _text(x: float, y: float, content: str, **attrs: str) -> str:
    extra = "".join(
        f" {name.replace('_', '-')}={quoteattr(value)}" for name, value in attrs.items()
    )
    return f'<text x="{_fmt(x)}" y="{_fmt(y)}"{extra}>{escape(content)}</text>'


def _axis(
    left: float, width: float, top: float, bottom: float, *, end_ms: float
) -> tuple[list[str], float]:
    """Grid lines and tick labels of a time axis from 0 to ``end_ms``, and its px per ms."""
    step = _nice_step(end_ms)
    axis_end = math.ceil(end_ms / step) * step
    scale = width / axis_end
    parts = []
    tick = 0.0
    while tick <= axis_end + step / 2:
        x = left + tick * scale
        parts.append(
            f'<line x1="{_fmt(x)}" y1="{_fmt(top)}" x2="{_fmt(x)}" y2="{_fmt(bottom)}"'
            f' stroke="{_GRID}" stroke-width="1"/>'
        )
        parts.append(
            _text(x, top - 6, f"{tick:g}", text_anchor="middle", fill=_MUTED, font_size="11")
        )
        tick += step
    parts.append(_text(left - 14, top - 6, "ms", text_anchor="end", fill=_MUTED, font_size="11"))
    return parts, scale


def render_svg(waterfall: Waterfall) -> str:
    """Draw a waterfall as a standalone SVG document (str, UTF-8 text, no XML declaration).

    Layout: a title, a time axis in ms, one row per :class:`Row` (label on the left, bar from
    start to end; an unfinished row is an outlined bar to the end of the axis), vertical marks,
    and a legend naming the three delivery colours and the marks. Each row is a
    ``<g class="row" data-stream=... data-path=... data-delivery=...>`` with a ``<title>``
    tooltip; the legend is ``<g class="legend">``.
    """
    rows = waterfall.rows
    plot_left = _LABEL_W
    plot_width = _WIDTH - _LABEL_W - _RIGHT_PAD
    rows_top = _TOP + 10
    rows_bottom = rows_top + max(len(rows), 1) * _ROW_H
    legend_top = rows_bottom + 24
    height = legend_top + 2 * 22 + 16
    parts = [
        _svg_open(height),
        f"<title>{escape(waterfall.title)}</title>",
        f'<rect x="0" y="0" width="{_WIDTH}" height="{height}" fill="{_PAPER}"/>',
        _text(12, 20, waterfall.title, font_size="15", font_weight="600", fill=_INK),
    ]
    if waterfall.subtitle:
        parts.append(_text(12, 37, waterfall.subtitle, fill=_MUTED, font_size="11"))
    grid, scale = _axis(plot_left, plot_width, rows_top, rows_bottom, end_ms=waterfall.end_ms)
    parts.append('<g class="axis">' + "".join(grid) + "</g>")
    axis_end_x = plot_left + plot_width

    for index, row in enumerate(rows):
        y = rows_top + index * _ROW_H
        if index % 2:
            parts.append(
                f'<rect x="0" y="{_fmt(y)}" width="{_WIDTH}" height="{_ROW_H}"'
                ' fill="#f6f4ef" fill-opacity="0.6"/>'
            )
        colour = DELIVERY_COLOURS[row.delivery]
        x0 = plot_left + row.start_ms * scale
        bar_y = y + (_ROW_H - _BAR_H) / 2
        if row.end_ms is None:
            bar = (
                f'<rect class="bar" x="{_fmt(x0)}" y="{_fmt(bar_y)}"'
                f' width="{_fmt(max(axis_end_x - x0, 2))}" height="{_BAR_H}" fill="none"'
                f' stroke="{colour}" stroke-dasharray="4 3" rx="2"/>'
            )
            duration = "did not complete"
        else:
            width = max((row.end_ms - row.start_ms) * scale, 2)
            bar = (
                f'<rect class="bar" x="{_fmt(x0)}" y="{_fmt(bar_y)}" width="{_fmt(width)}"'
                f' height="{_BAR_H}" fill="{colour}" rx="2"/>'
            )
            duration = f"{row.start_ms:.1f} to {row.end_ms:.1f} ms"
        label = row.label if len(row.label) <= 34 else "…" + row.label[-33:]
        stream = "" if row.stream_id is None else f"stream {row.stream_id}: "
        details = [f"{stream}{row.label}", DELIVERY_LABELS[row.delivery], duration]
        if row.body_bytes:
            details.append(f"{row.body_bytes} bytes")
        if row.note:
            details.append(row.note)
        stream_attr = "" if row.stream_id is None else str(row.stream_id)
        parts.append(
            f'<g class="row" data-stream={quoteattr(stream_attr)} data-path={quoteattr(row.label)}'
            f" data-delivery={quoteattr(row.delivery)}>"
            f"<title>{escape(' — '.join(details))}</title>"
            + _text(
                12,
                y + _ROW_H / 2 + 4,
                (f"{row.stream_id:>3}  " if row.stream_id is not None else "") + label,
                fill=_INK,
                font_family="ui-monospace, 'DejaVu Sans Mono', monospace",
                font_size="11.5",
            )
            + bar
            + "</g>"
        )

    mark_kinds: list[MarkKind] = []
    for mark in waterfall.marks:
        x = plot_left + mark.t_ms * scale
        colour = MARK_COLOURS[mark.kind]
        dash = ' stroke-dasharray="5 3"' if mark.kind == "early-hint" else ""
        parts.append(
            f'<g class="mark" data-kind="{mark.kind}"><title>{escape(_MARK_LABELS[mark.kind])}'
            f" at {mark.t_ms:.1f} ms</title>"
            f'<line x1="{_fmt(x)}" y1="{_fmt(rows_top - 2)}" x2="{_fmt(x)}"'
            f' y2="{_fmt(rows_bottom + 2)}" stroke="{colour}" stroke-width="2"{dash}/></g>'
        )
        if mark.kind not in mark_kinds:
            mark_kinds.append(mark.kind)

    parts.append(_legend(12, legend_top, mark_kinds))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


_LegendEntry = tuple[str, str, Callable[[float, float], str]]
"""A legend entry: its data attribute, its label and what draws its swatch at ``(x, y)``."""


def _legend(x: float, y: float, mark_kinds: Sequence[MarkKind]) -> str:
    """Two legend lines: the delivery colours, then the marks drawn (or all, if none)."""
    deliveries: list[_LegendEntry] = [
        (f'data-delivery="{delivery}"', DELIVERY_LABELS[delivery], partial(_bar_swatch, colour))
        for delivery, colour in DELIVERY_COLOURS.items()
    ]
    marks: list[_LegendEntry] = [
        (f'data-mark="{kind}"', _MARK_LABELS[kind], partial(_mark_swatch, kind))
        for kind in mark_kinds or tuple(MARK_COLOURS)
    ]
    lines = _legend_line(deliveries, x, y) + _legend_line(marks, x, y + 22)
    return f'<g class="legend">{lines}</g>'


def _legend_line(entries: Sequence[_LegendEntry], x: float, y: float) -> str:
    """The entries side by side from ``x``, each its swatch then its label, on baseline ``y``."""
    items = []
    cursor = x
    for data, label, swatch in entries:
        text = _text(cursor + 28, y, label, fill=_INK)
        items.append(f'<g class="legend-item" {data}>{swatch(cursor, y)}{text}</g>')
        cursor += 60 + 7 * len(label)
    return "".join(items)


def _bar_swatch(colour: str, x: float, y: float) -> str:
    """A delivery's swatch: a short bar of its colour."""
    return (
        f'<rect x="{_fmt(x)}" y="{_fmt(y - 10)}" width="22" height="{_BAR_H}"'
        f' fill="{colour}" rx="2"/>'
    )


def _mark_swatch(kind: MarkKind, x: float, y: float) -> str:
    """A mark's swatch: a short vertical line, as the mark is drawn across the rows."""
    dash = ' stroke-dasharray="5 3"' if kind == "early-hint" else ""
    return (
        f'<line x1="{_fmt(x + 11)}" y1="{_fmt(y - 13)}" x2="{_fmt(x + 11)}"'
        f' y2="{_fmt(y + 3)}" stroke="{MARK_COLOURS[kind]}" stroke-width="2"{dash}/>'
    )


# --------------------------------------------------------------------------- summary chart


@dataclass(frozen=True, kw_only=True)
class ChartBar:
    """One bar of :func:`render_chart_svg`: a median with its min-max range.

    Attributes:
        label: The bar's name, e.g. ``"chromium h2 hints"``.
        median_ms: The bar's length, in ms.
        min_ms: Left end of the range whisker, in ms.
        max_ms: Right end of the range whisker, in ms.
        colour: Fill colour (a CSS colour).
        group: Bars with the same group are drawn together under a group heading.
    """

    label: str
    median_ms: float
    min_ms: float
    max_ms: float
    colour: str
    group: str = ""


def render_chart_svg(
    bars: Sequence[ChartBar], *, title: str, subtitle: str = "", limit_ms: float | None = None
) -> str:
    """Draw horizontal bars (median, with a min-max whisker) and a physical-limit line, as SVG.

    Args:
        bars: The bars, top to bottom; consecutive bars of one ``group`` share a heading.
        title: The heading.
        subtitle: A second line (settings, units).
        limit_ms: Where to draw the dashed "physical limit" line, in ms; None for none.

    Returns:
        str: A standalone SVG document; each bar is a ``<g class="bar" data-label=...>``.
    """
    row_h = 22
    heading_h = 22
    groups = [bar.group for bar in bars]
    headings = sum(1 for i, g in enumerate(groups) if g and (i == 0 or groups[i - 1] != g))
    top = _TOP + 10
    bottom = top + len(bars) * row_h + headings * heading_h
    height = int(bottom + 40)
    plot_left = _LABEL_W
    plot_width = _WIDTH - _LABEL_W - _RIGHT_PAD - 40
    end_ms = max([1.0, *(bar.max_ms for bar in bars), limit_ms or 0.0])
    parts = [
        _svg_open(height),
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{_WIDTH}" height="{height}" fill="{_PAPER}"/>',
        _text(12, 20, title, font_size="15", font_weight="600", fill=_INK),
    ]
    if subtitle:
        parts.append(_text(12, 37, subtitle, fill=_MUTED, font_size="11"))
    grid, scale = _axis(plot_left, plot_width, top, bottom, end_ms=end_ms)
    parts.append('<g class="axis">' + "".join(grid) + "</g>")
    y = top
    previous_group: str | None = None
    for bar in bars:
        if bar.group and bar.group != previous_group:
            parts.append(
                _text(12, y + 16, bar.group, font_weight="600", fill=_INK, font_size="12.5")
            )
            y += heading_h
        previous_group = bar.group
        bar_y = y + (row_h - _BAR_H) / 2
        mid = bar_y + _BAR_H / 2
        x_min, x_max = plot_left + bar.min_ms * scale, plot_left + bar.max_ms * scale
        parts.append(
            f'<g class="bar" data-label={quoteattr(bar.label)}>'
            f"<title>{escape(bar.label)}: median {bar.median_ms:.0f} ms"
            f" (min {bar.min_ms:.0f}, max {bar.max_ms:.0f})</title>"
            + _text(24, y + row_h / 2 + 4, bar.label, fill=_INK)
            + f'<rect x="{_fmt(plot_left)}" y="{_fmt(bar_y)}"'
            f' width="{_fmt(max(bar.median_ms * scale, 1))}" height="{_BAR_H}"'
            f' fill="{bar.colour}" rx="2"/>'
            f'<line x1="{_fmt(x_min)}" y1="{_fmt(mid)}" x2="{_fmt(x_max)}" y2="{_fmt(mid)}"'
            f' stroke="{_INK}" stroke-width="1.2"/>'
            f'<line x1="{_fmt(x_min)}" y1="{_fmt(mid - 4)}" x2="{_fmt(x_min)}"'
            f' y2="{_fmt(mid + 4)}" stroke="{_INK}" stroke-width="1.2"/>'
            f'<line x1="{_fmt(x_max)}" y1="{_fmt(mid - 4)}" x2="{_fmt(x_max)}"'
            f' y2="{_fmt(mid + 4)}" stroke="{_INK}" stroke-width="1.2"/>'
            + _text(
                plot_left + bar.max_ms * scale + 6,
                y + row_h / 2 + 4,
                f"{bar.median_ms:.0f}",
                fill=_MUTED,
                font_size="11",
            )
            + "</g>"
        )
        y += row_h
    if limit_ms is not None:
        x = plot_left + limit_ms * scale
        parts.append(
            f'<g class="limit"><title>physical limit {limit_ms:.0f} ms</title>'
            f'<line x1="{_fmt(x)}" y1="{_fmt(top - 2)}" x2="{_fmt(x)}" y2="{_fmt(bottom + 2)}"'
            f' stroke="{MARK_COLOURS["complete"]}" stroke-width="2" stroke-dasharray="6 4"/>'
            + _text(
                x,
                bottom + 18,
                f"physical limit {limit_ms:.0f} ms",
                text_anchor="middle",
                fill=MARK_COLOURS["complete"],
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
