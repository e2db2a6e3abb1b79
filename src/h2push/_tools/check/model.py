"""What one checked page load showed (the facts) and what ``h2push check`` concludes (the report).

Facts are plain values gathered by :mod:`h2push._tools.check.run` from Chromium's DevTools protocol
and
from h2push's own HTTP/2 client; :func:`h2push._tools.check.diagnose.diagnose` turns them into a
:class:`Report` without any I/O. Header names are lower-case; times are in milliseconds since
navigation start; sizes are in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["early-hints", "preloaded", "fetched again", "never used", "not hinted"]
"""What Chromium did with a resource:

* ``early-hints``: the page read it from what the 103 Early Hints response fetched;
* ``preloaded``: a ``Link: rel=preload`` of the final response fetched it, and the page used it;
* ``fetched again``: it was hinted or preloaded, and the page fetched it a second time;
* ``never used``: it was hinted or preloaded, and the page never asked for it;
* ``not hinted``: the page fetched it, and nothing announced it early.
"""


@dataclass(frozen=True, kw_only=True)
class LinkFact:
    """One ``Link`` value that asks for an early fetch (RFC 8288; RFC 8297 for a 103).

    Attributes:
        url (str): The absolute URL of the target.
        rel (str): ``preload`` or ``modulepreload``.
        as_ (str | None): The ``as`` parameter (``style``, ``script``, ``font`` ...), or None.
        crossorigin (str | None): ``anonymous`` (also for a bare ``crossorigin``),
            ``use-credentials``, or None when the parameter is absent.
    """

    url: str
    rel: str
    as_: str | None = None
    crossorigin: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestFact:
    """One subresource request of the page, as Chromium's ``Network`` domain reported it.

    Attributes:
        url (str): The absolute URL.
        resource_type (str): The DevTools resource type: ``Stylesheet``, ``Script``, ``Font``,
            ``Image``, ``Fetch`` ...
        initiator_type (str): The DevTools initiator type: ``parser`` (found in the HTML or in a
            stylesheet), ``script``, ``preload``, ``other`` ...
        initiator_url (str | None): The document or stylesheet that referenced it, when known.
        link_preload (bool): Whether a ``Link`` preload (header or element) asked for it.
        start_ms (float): When the request was sent, in ms since navigation start.
        status (int | None): The response status; None when no response came.
        request_headers (Mapping[str, str]): The request's header fields as sent (cookies
            included), lower-case names.
        response_headers (Mapping[str, str]): The response's header fields, lower-case names.
        from_early_hints (bool): Chromium took the response from what a 103 fetched.
        from_cache (bool): Chromium took the response from its HTTP cache (no network fetch).
        encoded_bytes (int): Bytes received over the network for it, headers included.
        failure (str | None): The network error (``net::ERR_ABORTED``), or None.
    """

    url: str
    resource_type: str = ""
    initiator_type: str = "other"
    initiator_url: str | None = None
    link_preload: bool = False
    start_ms: float = 0.0
    status: int | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    from_early_hints: bool = False
    from_cache: bool = False
    encoded_bytes: int = 0
    failure: str | None = None

    @property
    def from_network(self) -> bool:
        """bool: The bytes came over the network for this request (not a cache or a hint)."""
        return self.failure is None and not (self.from_cache or self.from_early_hints)


@dataclass(frozen=True, kw_only=True)
class TimingFact:
    """One Resource Timing entry (W3C Resource Timing 2): the browser's own account.

    Attributes:
        url (str): The absolute URL.
        initiator_type (str): ``early-hints``, ``link``, ``css``, ``script``, ``img`` ...
        start_ms (float): Fetch start, in ms since navigation start.
        response_end_ms (float): Last byte, in ms since navigation start.
        transfer_size (int): Bytes received including headers; 0 from a cache.
        encoded_body_size (int): Body bytes before content decoding.
    """

    url: str
    initiator_type: str
    start_ms: float = 0.0
    response_end_ms: float = 0.0
    transfer_size: int = 0
    encoded_body_size: int = 0


@dataclass(frozen=True, kw_only=True)
class ResponseFact:
    """A response h2push's own client received.

    Attributes:
        url (str): The absolute URL of the request.
        status (int | None): The response's status; None when none arrived.
        headers (Mapping[str, str]): Its header fields, lower-case names.
        body_bytes (int): Its body size.
    """

    url: str
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body_bytes: int = 0


@dataclass(frozen=True, kw_only=True)
class PushFact(ResponseFact):
    """A response the server pushed to h2push's own HTTP/2 client (RFC 9113 §8.4).

    Chromium refuses push; a non-browser client that accepts it receives these. ``url`` is
    the promised request's; ``status`` is None when no response arrived.
    """


@dataclass(frozen=True, kw_only=True)
class ProbeFact(ResponseFact):
    """A direct GET of a hinted resource the page never asked for, made to size what it cost.

    ``status`` is None when the request failed.
    """


@dataclass(frozen=True, kw_only=True)
class PageFacts:
    """Everything one checked page load showed.

    Attributes:
        url (str): The page's URL.
        status (int): The final status of the document.
        request_headers (Mapping[str, str]): The navigation request's fields as sent; the
            fetches of a 103's hints carry its cookies.
        response_headers (Mapping[str, str]): The document's final response fields (several
            ``Set-Cookie`` lines joined by a line feed).
        hints (tuple[LinkFact, ...]): The preloads of the first 103 Chromium received.
        linked (tuple[LinkFact, ...]): The preloads of the final response's ``Link`` header.
        pushed (tuple[PushFact, ...]): What the server pushed to h2push's HTTP/2 client.
        server_hints (tuple[LinkFact, ...]): The preloads of the first 103 h2push's HTTP/2
            client received for the same page: what the server sends.
        protocol (str): The ALPN protocol Chromium loaded the page over (``h2``, ``h3``,
            ``http/1.1``); empty when unknown.
        requests (tuple[RequestFact, ...]): The page's subresource requests, in order.
        timings (tuple[TimingFact, ...]): The page's Resource Timing entries.
        warnings (tuple[str, ...]): Chromium's log warnings for the page (an unused preload, a
            credentials mode mismatch).
        probes (tuple[ProbeFact, ...]): Direct GETs of hinted resources the page never asked
            for.
        html_end_ms (float): When the last byte of the document arrived.
        load_end_ms (float): End of the document's ``load`` event.
        notes (tuple[str, ...]): What could not be observed, in words.
    """

    url: str
    status: int
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    hints: tuple[LinkFact, ...] = ()
    linked: tuple[LinkFact, ...] = ()
    pushed: tuple[PushFact, ...] = ()
    server_hints: tuple[LinkFact, ...] = ()
    protocol: str = ""
    requests: tuple[RequestFact, ...] = ()
    timings: tuple[TimingFact, ...] = ()
    warnings: tuple[str, ...] = ()
    probes: tuple[ProbeFact, ...] = ()
    html_end_ms: float = 0.0
    load_end_ms: float = 0.0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Row:
    """One resource the page fetched, or h2push hinted, pushed or linked.

    Attributes:
        url (str): The absolute URL.
        path (str): The path (and query) for same-origin URLs, else the URL.
        delivery (tuple[str, ...]): How it was announced: any of ``hinted`` (in the 103),
            ``pushed`` (to a client that takes push), ``linked`` (final ``Link`` header).
        status (int | None): Its response status, when one was seen.
        outcome (Outcome): What Chromium did with it.
        reasons (tuple[str, ...]): Why a hint or preload was not used; empty when it was.
        wasted_bytes (int): Bytes fetched early and not used (the second fetch of a resource
            fetched twice, or all of one never used).
    """

    url: str
    path: str
    delivery: tuple[str, ...]
    status: int | None
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    wasted_bytes: int = 0

    @property
    def problem(self) -> bool:
        """bool: A hint, push or preload of this resource did not do its job."""
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "url": self.url,
            "path": self.path,
            "delivery": list(self.delivery),
            "status": self.status,
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "wasted_bytes": self.wasted_bytes,
        }


@dataclass(frozen=True, kw_only=True)
class LateResource:
    """A resource the page waited for that nothing announced early.

    Attributes:
        url (str): The absolute URL.
        path (str): Its path (same origin only).
        found_in (str): Where the browser found it: ``the HTML``, ``stylesheet /site.css``,
            ``script /app.js`` ...
        start_ms (float): When the page asked for it, in ms since navigation start.
        entry (dict[str, Any]): Its ``push_manifest.json`` entry (http2-push-manifest format):
            ``{"type": "font", "weight": 1, "crossorigin": "anonymous"}``.
    """

    url: str
    path: str
    found_in: str
    start_ms: float
    entry: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "url": self.url,
            "path": self.path,
            "found_in": self.found_in,
            "start_ms": round(self.start_ms, 1),
            "entry": {self.path: self.entry},
        }


@dataclass(frozen=True, kw_only=True)
class Report:
    """What ``h2push check`` concludes about one page.

    Attributes:
        url (str): The page.
        status (int): The document's final status.
        rows (tuple[Row, ...]): One per resource fetched, hinted, pushed or linked.
        late (tuple[LateResource, ...]): Resources discovered late and not hinted.
        problems (tuple[str, ...]): What went wrong for the page as a whole: the server sent a
            103 that Chromium did not receive, or the page came over HTTP/1.1.
        notes (tuple[str, ...]): What could not be observed.
    """

    url: str
    status: int
    rows: tuple[Row, ...]
    late: tuple[LateResource, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """bool: Every hint and preload was used and nothing was wasted (exit status 0)."""
        return not self.problems and not any(row.problem for row in self.rows)

    @property
    def wasted_bytes(self) -> int:
        """int: Bytes fetched early for nothing, over all rows."""
        return sum(row.wasted_bytes for row in self.rows)

    def manifest(self) -> dict[str, dict[str, Any]]:
        """dict: The ``push_manifest.json`` entries (single-page form) of the late resources."""
        return {late.path: late.entry for late in self.late}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``ok``, the rows, the late resources and their manifest."""
        return {
            "url": self.url,
            "status": self.status,
            "ok": self.ok,
            "wasted_bytes": self.wasted_bytes,
            "resources": [row.to_dict() for row in self.rows],
            "late": [late.to_dict() for late in self.late],
            "manifest": self.manifest(),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }
