"""Benchmark results as tables, target checks, SVG charts and files."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from h2push._tools.bench.results import CaseResult, PageBenchResult, Strategy, check_targets
from h2push._tools.bench.waterfall import (
    ChartBar,
    render_chart_svg,
)
from h2push._tools.bench.waterfall import render_svg as render_waterfall_svg

# --------------------------------------------------------------------------- reporting


def _range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _early(case: CaseResult) -> str:
    pushed = [run.pushed for run in case.runs]
    hinted = [run.hinted for run in case.runs]
    parts = []
    if any(pushed):
        parts.append(f"{_range(pushed)} pushed")
    if any(hinted):
        parts.append(f"{_range(hinted)} hinted")
    return ", ".join(parts) or "-"


def format_table(result: PageBenchResult) -> str:
    """The results as a Markdown table (readable as plain text), with a heading line.

    Columns: client, protocol, strategy; median, min and max page-complete time (ms); the
    median over the physical limit; how many times faster than ``nothing`` the median is; the
    median time from the page's last byte to page complete ("after page", ms: where the time
    beyond the limit goes); the median first contentful paint (Chromium); subresources received
    (of the six the bench site's page uses); how many came early (pushed, or through the 103's
    cache fill). For the user's page the heading names it and its measured server time.
    """
    options = result.options
    bandwidth = (
        "no bandwidth cap"
        if options.bandwidth_mbit is None
        else f"{options.bandwidth_mbit:g} Mbit/s"
    )
    if result.page is None:
        think = f"think {options.think_ms:g} ms"
    else:
        think = f"server {result.server_ms or 0:.0f} ms (measured)"
    heading = (
        f"Page complete, ms: {result.page + ': ' if result.page else ''}rtt {options.rtt_ms:g}"
        f" ms, {think}, {bandwidth}, {options.runs} run(s) each; physical limit"
        f" {result.limit_ms:.0f} ms ({sum(result.sizes.values())} bytes)"
    )
    columns = (
        "| client | protocol | strategy | median | min | max | x limit | vs nothing"
        " | after page | FCP | resources | early |"
    )
    lines = [heading, "", columns, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for case in result.cases:
        speedup = result.speedup(case)
        fcp = case.fcp_median_ms
        resources = _range([run.resources for run in case.runs])
        lines.append(
            f"| {case.client} | {case.protocol} | {case.strategy} | {case.median_ms:.0f}"
            f" | {case.min_ms:.0f} | {case.max_ms:.0f} | {case.median_ms / result.limit_ms:.2f}"
            f" | {'-' if speedup is None else f'{speedup:.2f}'}"
            f" | {case.after_page_median_ms:.0f}"
            f" | {'-' if fcp is None else f'{fcp:.0f}'}"
            f" | {resources}{'' if result.subresources is None else f'/{result.subresources}'}"
            f" | {_early(case)} |"
        )
    lines.extend(f"skipped: {reason}" for reason in result.skipped)
    return "\n".join(lines)


def format_comparison(result: PageBenchResult) -> str:
    """For each client and protocol, each strategy's median page-complete time over nothing's.

    The user's page's summary: below 1.00 h2push made the page faster, above it slower.
    """
    lines = ["Page complete with h2push / without (median over nothing's median):"]
    for case in result.cases:
        baseline = result.case(case.client, case.protocol, "nothing")
        if case.strategy == "nothing" or baseline is None or baseline.median_ms <= 0:
            continue
        ratio = case.median_ms / baseline.median_ms
        lines.append(
            f"  {case.name}: {ratio:.2f} x ({case.median_ms:.0f} ms against"
            f" {baseline.median_ms:.0f} ms; early: {_early(case)})"
        )
    if len(lines) == 1:
        lines.append("  run the strategy nothing and another to compare them")
    if result.case("chromium", "h2", "push") is not None:
        lines.append("  chromium refuses push (SETTINGS_ENABLE_PUSH=0): its push row measures Link")
    return "\n".join(lines)


def format_targets(result: PageBenchResult) -> str:
    """The target checks, one line each, after a heading; notes on cases they skip."""
    options = result.options
    lines = [
        (
            f"Targets (set for rtt 100 ms, think 200 ms; this run: rtt"
            f" {options.rtt_ms:g} ms, think {options.think_ms:g} ms):"
        )
    ]
    checks = check_targets(result)
    lines.extend(f"  {check.describe()}" for check in checks)
    if not checks:
        lines.append("  none apply to the cases run")
    if result.case("chromium", "h2", "push") is not None:
        lines.append(
            "  chromium h2 push: not a target (Chromium refuses push, SETTINGS_ENABLE_PUSH=0;"
            " the row measures the Link header)"
        )
    if result.case("nghttp", "h2", "hints") is not None:
        lines.append(
            "  nghttp h2 hints: not a target (nghttp does not act on 103 or Link; the row"
            " measures nothing)"
        )
    return "\n".join(lines)


_STRATEGY_COLOURS: Final[Mapping[Strategy, str]] = {
    "nothing": "#9aa0a6",
    "link": "#d68910",
    "hints": "#138d75",
    "push": "#8e44ad",
    "push+103": "#2e86c1",
}


def chart_svg(result: PageBenchResult) -> str:
    """A bar chart (SVG) of the median page-complete times, with min-max whiskers and the limit."""
    options = result.options
    bars = [
        ChartBar(
            label=case.strategy,
            median_ms=case.median_ms,
            min_ms=case.min_ms,
            max_ms=case.max_ms,
            colour=_STRATEGY_COLOURS[case.strategy],
            group=f"{case.client}, {case.protocol}",
        )
        for case in result.cases
    ]
    bandwidth = "" if options.bandwidth_mbit is None else f", {options.bandwidth_mbit:g} Mbit/s"
    return render_chart_svg(
        bars,
        title="h2push bench page: page-complete time by delivery strategy",
        subtitle=f"median of {options.runs} first visits (whiskers: min to max), ms;"
        f" rtt {options.rtt_ms:g} ms, think {options.think_ms:g} ms{bandwidth}",
        limit_ms=result.limit_ms,
    )


def _summary(result: PageBenchResult) -> str:
    return format_targets(result) if result.page is None else format_comparison(result)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def write_results(result: PageBenchResult, directory: Path) -> list[Path]:
    """Write ``page.json`` (everything), ``page.svg`` (the chart) and ``page.md`` (the tables).

    Returns:
        list[Path]: The files written.

    Raises:
        OSError: The directory cannot be created or written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "page.json": json.dumps(result.to_dict(), indent=2) + "\n",
        "page.svg": chart_svg(result),
        "page.md": format_table(result) + "\n\n" + _summary(result) + "\n",
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_waterfalls(result: PageBenchResult, directory: Path) -> list[Path]:
    """Write one waterfall SVG per case, of its median run.

    Files are named ``waterfall-CLIENT-PROTOCOL-STRATEGY.svg`` (``http1.1``, ``push-103``).

    Returns:
        list[Path]: The files written.

    Raises:
        OSError: The directory cannot be created or written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for case in result.cases:
        path = directory / (
            f"waterfall-{case.client}-{_slug(case.protocol.replace('/', ''))}"
            f"-{_slug(case.strategy)}.svg"
        )
        path.write_text(render_waterfall_svg(case.median_run().waterfall), encoding="utf-8")
        written.append(path)
    return written
