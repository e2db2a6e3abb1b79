"""The strategies and protocols a page benchmark compares, and its results (plain data)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from h2push._core.errors import H2PushError
from h2push._tools._common import round_ms
from h2push._tools.bench.waterfall import (
    Waterfall,
)

Strategy = Literal["nothing", "link", "hints", "push", "push+103"]
Protocol = Literal["h2", "http/1.1"]

STRATEGIES: Final[tuple[Strategy, ...]] = ("nothing", "link", "hints", "push", "push+103")
"""Delivery strategies, in table order: no middleware; the Link header on the final response
only; 103 Early Hints only; HTTP/2 push only; push and 103 together. Every strategy but
``nothing`` also sends the Link header (that is what the middleware always does)."""

PROTOCOLS: Final[tuple[Protocol, ...]] = ("h2", "http/1.1")
"""Protocols, by ALPN id (RFC 7301). Over HTTP/1.1 Hypercorn offers neither push nor 103, so
every strategy there is ``nothing`` or ``link``."""

_MIDDLEWARE: Final[Mapping[Strategy, tuple[bool, bool] | None]] = {
    "nothing": None,
    "link": (False, False),
    "hints": (True, False),
    "push": (False, True),
    "push+103": (True, True),
}
"""Per strategy: None for no middleware, else ``(early_hints, push)``."""

HANDSHAKE_RTTS: Final = 2
"""Round trips before the first request can leave: TCP (RFC 9293 §3.5) and TLS 1.3 (RFC 8446
§2), whose client Finished travels with the request."""

STATIC_MAX_AGE_S: Final = 3600
"""``max-age`` of the site's static files, in seconds: hinted resources must be cacheable."""

_START_TIMEOUT_S: Final = 20.0
_STOP_TIMEOUT_S: Final = 10.0


def physical_limit_ms(
    *, rtt_ms: float, think_ms: float, total_bytes: int, bandwidth_mbit: float | None
) -> float:
    """The fastest any strategy can complete the page, in milliseconds.

    ``HANDSHAKE_RTTS`` round trips (TCP, TLS 1.3) + one request round trip + the think time +
    every body byte through the bandwidth cap (none when ``bandwidth_mbit`` is None). Header and
    framing bytes, and the client's own work (parsing, layout), are left out: the limit is a
    floor, not an estimate.

    Args:
        rtt_ms: The emulated round trip, in milliseconds.
        think_ms: The server's think time, in milliseconds.
        total_bytes: Body bytes of the page and its resources.
        bandwidth_mbit: The link's rate in Mbit/s (10**6 bit/s), or None.
    """
    transfer_ms = 0.0 if bandwidth_mbit is None else total_bytes * 8 / (bandwidth_mbit * 1e3)
    return (HANDSHAKE_RTTS + 1) * rtt_ms + think_ms + transfer_ms


# --------------------------------------------------------------------------- results

Client = Literal["nghttp", "chromium"]

CLIENTS: Final[tuple[Client, ...]] = ("nghttp", "chromium")
"""Clients, in table order. nghttp speaks HTTP/2 only."""

_SUBRESOURCES: Final = 6
"""Resources the page needs besides itself: stylesheet, font, image, script, two modules."""


class BenchError(H2PushError):
    """The benchmark cannot run (a client is missing) or a page load failed twice in a row."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One page load.

    Attributes:
        page_complete_ms: Chromium: ``loadEventEnd``, ms since navigation start. nghttp: the
            last byte of the last stream, ms since its TCP connection was established.
        first_contentful_paint_ms: Chromium's first contentful paint, ms; None for nghttp.
        early_hint_ms: When the 103 arrived, ms (same origin); None when none did.
        main_headers_ms: When the page's final HEADERS arrived, ms.
        page_end_ms: When the page's last byte arrived, ms.
        resources: Subresources the client received (the page itself not counted).
        pushed: Of those, how many were pushed.
        hinted: Of those, how many came through the cache a 103 filled (Chromium).
        waterfall: Every stream of the load.
    """

    page_complete_ms: float
    first_contentful_paint_ms: float | None
    early_hint_ms: float | None
    main_headers_ms: float | None
    page_end_ms: float
    resources: int
    pushed: int
    hinted: int
    waterfall: Waterfall

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "page_complete_ms": round(self.page_complete_ms, 3),
            "first_contentful_paint_ms": round_ms(self.first_contentful_paint_ms),
            "early_hint_ms": round_ms(self.early_hint_ms),
            "main_headers_ms": round_ms(self.main_headers_ms),
            "page_end_ms": round(self.page_end_ms, 3),
            "resources": self.resources,
            "pushed": self.pushed,
            "hinted": self.hinted,
            "streams": [row.to_dict() for row in self.waterfall.rows],
        }


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """Every run of one client, protocol and strategy.

    Attributes:
        client: ``"nghttp"`` or ``"chromium"``.
        protocol: ``"h2"`` or ``"http/1.1"``.
        strategy: One of :data:`STRATEGIES`.
        runs: The runs, in the order they ran.
    """

    client: Client
    protocol: Protocol
    strategy: Strategy
    runs: tuple[RunResult, ...]

    @property
    def times_ms(self) -> list[float]:
        """Page-complete time of every run, in ms."""
        return [run.page_complete_ms for run in self.runs]

    @property
    def median_ms(self) -> float:
        """Median page-complete time, in ms."""
        return float(statistics.median(self.times_ms))

    @property
    def min_ms(self) -> float:
        """Fastest page-complete time, in ms."""
        return min(self.times_ms)

    @property
    def max_ms(self) -> float:
        """Slowest page-complete time, in ms."""
        return max(self.times_ms)

    @property
    def after_page_median_ms(self) -> float:
        """Median time from the page's last byte to page complete, in ms.

        The client's own work (parsing, styles, scripts, layout) plus whatever it still had to
        fetch: where the time beyond the physical limit goes.
        """
        return float(statistics.median(r.page_complete_ms - r.page_end_ms for r in self.runs))

    @property
    def fcp_median_ms(self) -> float | None:
        """Median first contentful paint, in ms; None when the client does not paint."""
        values = [r.first_contentful_paint_ms for r in self.runs]
        painted = [v for v in values if v is not None]
        return float(statistics.median(painted)) if painted else None

    def median_run(self) -> RunResult:
        """The run whose page-complete time is nearest the median (the first of equals)."""
        median = self.median_ms
        return min(self.runs, key=lambda run: abs(run.page_complete_ms - median))

    @property
    def name(self) -> str:
        """``"client protocol strategy"``."""
        return f"{self.client} {self.protocol} {self.strategy}"


@dataclass(frozen=True, kw_only=True)
class PageBenchOptions:
    """What ``h2push bench page`` runs.

    Attributes:
        rtt_ms: Emulated round trip, in ms (> 0).
        think_ms: How long the page's view thinks, in ms.
        bandwidth_mbit: Rate of the emulated link in Mbit/s, or None for no cap.
        runs: Measured loads per client, protocol and strategy.
        strategies: Which of :data:`STRATEGIES`, in table order.
        clients: Which of :data:`CLIENTS`.
        protocols: Which of :data:`PROTOCOLS`; nghttp skips ``http/1.1``.
        timeout_s: Limit for one page load, in seconds.
        warmup: Load the page once per client and protocol before measuring, unrecorded.
    """

    rtt_ms: float = 100.0
    think_ms: float = 200.0
    bandwidth_mbit: float | None = None
    runs: int = 10
    strategies: tuple[Strategy, ...] = STRATEGIES
    clients: tuple[Client, ...] = CLIENTS
    protocols: tuple[Protocol, ...] = PROTOCOLS
    timeout_s: float = 30.0
    warmup: bool = True

    def __post_init__(self) -> None:
        if self.rtt_ms <= 0:
            raise ValueError(f"rtt_ms must be > 0, got {self.rtt_ms!r}")
        if self.think_ms < 0:
            raise ValueError(f"think_ms must be >= 0, got {self.think_ms!r}")
        if self.bandwidth_mbit is not None and self.bandwidth_mbit <= 0:
            raise ValueError(f"bandwidth_mbit must be > 0, got {self.bandwidth_mbit!r}")
        if self.runs < 1:
            raise ValueError(f"runs must be >= 1, got {self.runs!r}")
        for name, values, allowed in (
            ("strategies", self.strategies, STRATEGIES),
            ("clients", self.clients, CLIENTS),
            ("protocols", self.protocols, PROTOCOLS),
        ):
            unknown = [value for value in values if value not in allowed]
            if unknown or not values:
                raise ValueError(f"{name} must be some of {allowed}, got {values!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rtt_ms": self.rtt_ms,
            "think_ms": self.think_ms,
            "bandwidth_mbit": self.bandwidth_mbit,
            "runs": self.runs,
            "strategies": list(self.strategies),
            "clients": list(self.clients),
            "protocols": list(self.protocols),
        }


@dataclass(frozen=True, kw_only=True)
class PageBenchResult:
    """Everything one ``h2push bench page`` measured.

    Attributes:
        options: What was run.
        sizes: Body bytes per path of the site.
        limit_ms: The physical limit (:func:`physical_limit_ms`), in ms.
        cases: One per client, protocol and strategy, in table order.
        skipped: Why combinations were left out (``"nghttp over http/1.1: ..."``).
        environment: Machine, versions and load average, for the record.
        page: The user's page that was measured (``h2push bench URL``), None for the bench
            site.
        server_ms: The user's page's median server time, in ms (the limit's think time).
        subresources: Resources the page needs besides itself, when known (the bench site's
            six), else None.
    """

    options: PageBenchOptions
    sizes: Mapping[str, int]
    limit_ms: float
    cases: tuple[CaseResult, ...]
    skipped: tuple[str, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    page: str | None = None
    server_ms: float | None = None
    subresources: int | None = _SUBRESOURCES

    def case(self, client: str, protocol: str, strategy: str) -> CaseResult | None:
        """The case of that client, protocol and strategy, or None when it was not run."""
        for case in self.cases:
            if (case.client, case.protocol, case.strategy) == (client, protocol, strategy):
                return case
        return None

    def speedup(self, case: CaseResult) -> float | None:
        """How many times faster than ``nothing`` (same client and protocol) the median is."""
        baseline = self.case(case.client, case.protocol, "nothing")
        if baseline is None or case.median_ms <= 0:
            return None
        return baseline.median_ms / case.median_ms

    def to_dict(self) -> dict[str, Any]:
        """Return the whole result as a JSON-ready dict."""
        return {
            "benchmark": "h2push bench page" if self.page is None else "h2push bench",
            "page": self.page,
            "server_ms": round_ms(self.server_ms),
            "settings": self.options.to_dict(),
            "site": {"bytes": dict(self.sizes), "total_bytes": sum(self.sizes.values())},
            "physical_limit_ms": round(self.limit_ms, 3),
            "physical_limit": (
                f"{HANDSHAKE_RTTS} handshake RTTs + 1 request RTT + think time"
                " + total bytes / bandwidth"
            ),
            "environment": dict(self.environment),
            "skipped": list(self.skipped),
            "results": [
                {
                    "client": case.client,
                    "protocol": case.protocol,
                    "strategy": case.strategy,
                    "median_ms": round(case.median_ms, 3),
                    "min_ms": round(case.min_ms, 3),
                    "max_ms": round(case.max_ms, 3),
                    "ratio_to_limit": round(case.median_ms / self.limit_ms, 4),
                    "speedup_vs_nothing": round_ms(self.speedup(case)),
                    "after_page_median_ms": round(case.after_page_median_ms, 3),
                    "fcp_median_ms": round_ms(case.fcp_median_ms),
                    "runs": [run.to_dict() for run in case.runs],
                }
                for case in self.cases
            ],
            "targets": (
                [check.to_dict() for check in check_targets(self)] if self.page is None else []
            ),
        }


@dataclass(frozen=True, kw_only=True)
class TargetCheck:
    """One page-load target against what was measured.

    Attributes:
        case: The case it is about (``"chromium h2 hints"``).
        measure: ``"x limit"`` (median over the physical limit) or ``"vs nothing"``
            (nothing's median over this median).
        value: What was measured.
        bound: The target: at most this for ``x limit``, at least this for ``vs nothing``.
        met: Whether the value is on the right side of the bound.
        gap_ms: By how many ms of median page-complete time it was missed (0 when met).
    """

    case: str
    measure: Literal["x limit", "vs nothing"]
    value: float
    bound: float
    met: bool
    gap_ms: float

    def describe(self) -> str:
        """One line: the case, the value against the bound, met or missed and by how much."""
        relation = "<=" if self.measure == "x limit" else ">="
        verdict = "met" if self.met else f"MISSED by {self.gap_ms:.0f} ms"
        return (
            f"{self.case}: {self.value:.2f} {self.measure} (target {relation}"
            f" {self.bound:.2f}): {verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "case": self.case,
            "measure": self.measure,
            "value": round(self.value, 4),
            "bound": self.bound,
            "met": self.met,
            "gap_ms": round(self.gap_ms, 1),
        }


LIMIT_TARGET: Final = 1.10
"""Target: with 103 or push, page-complete at most this times the physical limit."""

SPEEDUP_TARGET: Final = 1.5
"""Target: with 103 or push, Chromium over HTTP/2 at least this times faster than nothing."""

# Which clients act on which mechanism: Chromium on 103 (it refuses push), nghttp on push (it
# ignores 103 and Link).
_APPLIES: Final[Mapping[Strategy, tuple[Client, ...]]] = {
    "hints": ("chromium",),
    "push": ("nghttp",),
    "push+103": ("chromium", "nghttp"),
}


def check_targets(result: PageBenchResult) -> list[TargetCheck]:
    """Check the page-load targets for every case they apply to.

    ``hints``, ``push`` and ``push+103`` over HTTP/2, for each client that acts on the mechanism
    (Chromium on the 103, nghttp on push): the median at most :data:`LIMIT_TARGET` times the
    physical limit; for Chromium also at least :data:`SPEEDUP_TARGET` times faster than
    ``nothing``.
    """
    checks = []
    for case in result.cases:
        if case.protocol != "h2" or case.client not in _APPLIES.get(case.strategy, ()):
            continue
        ratio = case.median_ms / result.limit_ms
        checks.append(
            _target_check(case, "x limit", ratio, LIMIT_TARGET, LIMIT_TARGET * result.limit_ms)
        )
        speedup = result.speedup(case)
        if case.client == "chromium" and speedup is not None:
            baseline = result.case(case.client, case.protocol, "nothing")
            assert baseline is not None
            allowed_ms = baseline.median_ms / SPEEDUP_TARGET
            checks.append(_target_check(case, "vs nothing", speedup, SPEEDUP_TARGET, allowed_ms))
    return checks


def _target_check(
    case: CaseResult,
    measure: Literal["x limit", "vs nothing"],
    value: float,
    bound: float,
    allowed_ms: float,
) -> TargetCheck:
    """``case`` against one target: ``value`` at most (``x limit``) or at least ``bound``.

    ``allowed_ms`` is the median page-complete time that would just meet the target; the gap is
    how far the case's median is above it.
    """
    return TargetCheck(
        case=case.name,
        measure=measure,
        value=value,
        bound=bound,
        met=value <= bound if measure == "x limit" else value >= bound,
        gap_ms=max(case.median_ms - allowed_ms, 0.0),
    )
