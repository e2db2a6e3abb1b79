"""Turn the facts of one checked page load into a report: a pure function, no I/O.

Chromium keeps what a 103 Early Hints response (RFC 8297) fetched in its HTTP cache, and the page
reads it from there (DESIGN "Facts to build on"). A hint is therefore wasted when the response
cannot be reused: ``Cache-Control: no-store``; a response that must be revalidated (``no-cache``,
``max-age=0``); a ``Vary`` on a request header that changed between the hint's fetch and the
page's (a ``Set-Cookie`` on the page changes ``Cookie``); a credentials mode that does not match
the page's use (a font preloaded without ``crossorigin``: fonts are fetched in CORS mode); an
error status. A hint the page never asks for wastes all its bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from h2push._tools.check.model import (
    LateResource,
    LinkFact,
    Outcome,
    PageFacts,
    Report,
    RequestFact,
    Row,
)

_UNUSED_RE: Final = re.compile(r"The resource (\S+) was preloaded using link preload but not used")
_MISMATCH_RE: Final = re.compile(
    r"A preload for '([^']+)' is found, but is not used because the request credentials mode"
)

# DevTools resource type -> preload destination (``as``), Fetch Standard "destination".
_AS_BY_TYPE: Final = {
    "Stylesheet": "style",
    "Script": "script",
    "Font": "font",
    "Image": "image",
    "Fetch": "fetch",
    "XHR": "fetch",
}

# Vary on these never breaks reuse between a hint and the page: Chromium sends the same value.
_HARMLESS_VARY: Final = frozenset({"accept-encoding"})


def _directives(cache_control: str) -> dict[str, str | None]:
    """``Cache-Control`` directives (RFC 9111 §5.2), names lower-cased, values unquoted."""
    found: dict[str, str | None] = {}
    for part in cache_control.split(","):
        name, separator, value = part.strip().partition("=")
        if name:
            found.setdefault(name.strip().lower(), value.strip().strip('"') if separator else None)
    return found


def cache_problems(headers: Mapping[str, str]) -> list[str]:
    """Why a browser cannot reuse a hinted or pushed response, from its header fields alone.

    Args:
        headers (Mapping[str, str]): The response's fields, lower-case names.

    Returns:
        list[str]: In words, one per problem: ``no-store``; must revalidate (``no-cache``,
        ``max-age=0``); ``Vary`` on a request header (``Accept-Encoding`` is left out: browsers
        send the same value). Empty when the response can be reused (RFC 9111 §4, §5.2).
    """
    problems = []
    directives = _directives(headers.get("cache-control", ""))
    if "no-store" in directives:
        problems.append("no-store (Cache-Control: no-store): the browser cannot keep it")
    if "no-cache" in directives and directives["no-cache"] is None:
        problems.append("must revalidate (Cache-Control: no-cache)")
    elif directives.get("max-age") == "0":
        problems.append("must revalidate (Cache-Control: max-age=0)")
    varied = [
        name.strip()
        for name in headers.get("vary", "").split(",")
        if name.strip() and name.strip().lower() not in _HARMLESS_VARY
    ]
    if varied:
        problems.append(f"Vary: {', '.join(varied)}")
    return problems


def manifest_entry(resource_type: str, url: str = "") -> dict[str, Any]:
    """The ``push_manifest.json`` entry (http2-push-manifest format) for one resource.

    Args:
        resource_type (str): The DevTools resource type (``Stylesheet``, ``Font`` ...).
        url (str): The resource's URL, used when the type says nothing (``Other``).

    Returns:
        dict[str, Any]: ``{"type": AS, "weight": 1}``; fonts also get ``"crossorigin":
        "anonymous"``, because browsers fetch fonts in CORS mode. ``type`` is ``""`` (linked and
        pushed, never hinted) for what a 103 cannot preload.
    """
    as_ = _AS_BY_TYPE.get(resource_type)
    if as_ is None:
        suffix = urlsplit(url).path.rsplit(".", 1)[-1].lower()
        as_ = {
            "css": "style",
            "js": "script",
            "mjs": "script",
            "woff2": "font",
            "woff": "font",
            "ttf": "font",
            "otf": "font",
        }.get(suffix, "")
    entry: dict[str, Any] = {"type": as_, "weight": 1}
    if as_ == "font":
        entry["crossorigin"] = "anonymous"
    return entry


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _short(url: str, page: str) -> str:
    """The path and query for a same-origin URL, else the URL itself."""
    if _origin(url) != _origin(page):
        return url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _warned(warnings: Iterable[str], pattern: re.Pattern[str]) -> set[str]:
    return {match.group(1) for text in warnings if (match := pattern.search(text))}


def _credentials_reason(link: LinkFact | None) -> str:
    if link is not None and link.as_ == "font" and link.crossorigin is None:
        return (
            "credentials mode mismatch: the font's preload lacks crossorigin"
            " (fonts are fetched in CORS mode)"
        )
    return "credentials mode mismatch: the preload's crossorigin does not match the page's use"


def _vary_reason(
    problem: str, facts: PageFacts, again: Iterable[RequestFact], *, hinted: bool
) -> str:
    """Say which varied header changed between the early fetch and the page's fetch."""
    names = [name.strip().lower() for name in problem.removeprefix("Vary: ").split(",")]
    if "*" in names:
        return "Vary: * (never reusable)"
    changed = []
    for name in names:
        before = facts.request_headers.get(name) if hinted else None
        after = {request.request_headers.get(name) for request in again}
        if name == "cookie" and "set-cookie" in facts.response_headers:
            changed.append("Cookie (the page's Set-Cookie changed it)")
        elif hinted and after and after != {before}:
            changed.append(f"{name} (changed)")
    if changed:
        return f"Vary on a header that changed: {', '.join(changed)}"
    return f"{problem} (a header it names may have changed between the fetches)"


def _status_of(url: str, facts: PageFacts, requests: list[RequestFact]) -> int | None:
    for request in requests:
        if request.status is not None:
            return request.status
    for pushed in facts.pushed:
        if pushed.url == url and pushed.status is not None:
            return pushed.status
    for probe in facts.probes:
        if probe.url == url and probe.status is not None:
            return probe.status
    return None


def _headers_of(url: str, facts: PageFacts, requests: list[RequestFact]) -> Mapping[str, str]:
    for request in requests:
        if request.response_headers:
            return request.response_headers
    for pushed in facts.pushed:
        if pushed.url == url and pushed.headers:
            return pushed.headers
    for probe in facts.probes:
        if probe.url == url and probe.headers:
            return probe.headers
    return {}


def _size_of(url: str, facts: PageFacts, requests: list[RequestFact]) -> int:
    sizes = [request.encoded_bytes for request in requests if request.encoded_bytes]
    sizes += [probe.body_bytes for probe in facts.probes if probe.url == url]
    sizes += [pushed.body_bytes for pushed in facts.pushed if pushed.url == url]
    sizes += [timing.transfer_size for timing in facts.timings if timing.url == url]
    sizes += [timing.encoded_body_size for timing in facts.timings if timing.url == url]
    return max(sizes, default=0)


def _announced_row(url: str, facts: PageFacts, delivery: tuple[str, ...]) -> Row:
    """The row of a resource that was hinted, linked or pushed."""
    hint = next((link for link in facts.hints if link.url == url), None)
    link = next((link for link in facts.linked if link.url == url), None)
    requests = [request for request in facts.requests if request.url == url]
    network = [request for request in requests if request.from_network]
    unused = url in _warned(facts.warnings, _UNUSED_RE)
    mismatch = url in _warned(facts.warnings, _MISMATCH_RE)
    status = _status_of(url, facts, requests)
    headers = _headers_of(url, facts, requests)
    timed = [timing for timing in facts.timings if timing.url == url]

    outcome: Outcome
    reasons: list[str] = []
    wasted = 0
    if hint is None and link is None:  # pushed only: Chromium refuses push
        outcome = "not hinted" if requests or timed else "never used"
        if outcome == "never used":
            reasons.append("pushed, but not used by the page")
            wasted = _size_of(url, facts, requests)
    elif not mismatch and (unused or not (requests or timed)):
        # A preload whose credentials mode did not match is also reported unused: the page
        # fetched the resource again, which is the finding.
        outcome = "never used"
        what = "hinted" if hint is not None else "preloaded by the Link header"
        reasons.append(f"{what}, but not used by the page")
        wasted = _size_of(url, facts, requests)
    elif hint is not None and (network or mismatch):
        outcome = "fetched again"
        wasted = sum(request.encoded_bytes for request in network) or _size_of(url, facts, requests)
    elif hint is None and (mismatch or len(network) >= 2):
        outcome = "fetched again"
        wasted = sum(request.encoded_bytes for request in network if request.link_preload)
    else:
        outcome = "early-hints" if hint is not None else "preloaded"

    if outcome == "fetched again":
        early = hint or link
        lacks_crossorigin = early is not None and early.as_ == "font" and not early.crossorigin
        if mismatch or lacks_crossorigin:
            reasons.append(_credentials_reason(early))
        reasons.extend(
            _vary_reason(problem, facts, network, hinted=hint is not None)
            if problem.startswith("Vary: ")
            else problem
            for problem in cache_problems(headers)
        )
        if not reasons:
            reasons.append("fetched again; the cause was not found in the headers")
    if status is not None and status >= 400:
        reasons.insert(0, f"error status {status}")
        wasted = wasted or _size_of(url, facts, requests)
    return Row(
        url=url,
        path=_short(url, facts.url),
        delivery=delivery,
        status=status,
        outcome=outcome,
        reasons=tuple(reasons),
        wasted_bytes=wasted,
    )


def _found_in(request: RequestFact, facts: PageFacts) -> str:
    source = request.initiator_url
    if request.initiator_type == "parser":
        if source is None or source == facts.url:
            return "the HTML"
        kind = next(
            (other.resource_type for other in facts.requests if other.url == source), "Stylesheet"
        )
        label = {"Stylesheet": "stylesheet", "Script": "module"}.get(kind, "resource")
        return f"{label} {_short(source, facts.url)}"
    if request.initiator_type == "script":
        return f"script {_short(source, facts.url)}" if source else "a script"
    return "the browser"


def _late(facts: PageFacts, announced: set[str]) -> list[LateResource]:
    """Same-origin resources the page waited for, found late, that nothing announced."""
    late: dict[str, LateResource] = {}
    for request in facts.requests:
        url = request.url
        if url in announced or url in late or _origin(url) != _origin(facts.url):
            continue
        if request.link_preload or request.failure is not None:
            continue
        if request.status is not None and request.status >= 400:
            continue
        if facts.load_end_ms and request.start_ms > facts.load_end_ms:
            continue  # after the load event: the page did not wait for it
        found_in = _found_in(request, facts)
        if found_in == "the HTML" and request.start_ms < facts.html_end_ms:
            continue  # found while the HTML was still arriving
        late[url] = LateResource(
            url=url,
            path=_short(url, facts.url),
            found_in=found_in,
            start_ms=request.start_ms,
            entry=manifest_entry(request.resource_type, url),
        )
    return list(late.values())


def diagnose(facts: PageFacts) -> Report:
    """Say, for each resource of one page load, what Chromium did and why a hint was not used.

    Args:
        facts (PageFacts): What the load showed.

    Returns:
        Report: One :class:`Row` per resource hinted (first 103), linked (final ``Link``
        preloads), pushed, or fetched by the page, in that order; the resources discovered late
        and not hinted, with their ``push_manifest.json`` entries. ``Report.ok`` is true when
        every hint and preload was used and nothing was wasted.
    """
    order: dict[str, set[str]] = {}
    for kind, urls in (
        ("hinted", [link.url for link in facts.hints]),
        ("linked", [link.url for link in facts.linked]),
        ("pushed", [pushed.url for pushed in facts.pushed]),
    ):
        for url in urls:
            order.setdefault(url, set()).add(kind)
    announced = set(order)
    rows = [
        _announced_row(url, facts, tuple(k for k in ("hinted", "pushed", "linked") if k in kinds))
        for url, kinds in order.items()
    ]
    seen = set(announced)
    for request in facts.requests:
        if request.url in seen or not request.url.startswith(("http://", "https://")):
            continue
        seen.add(request.url)
        requests = [other for other in facts.requests if other.url == request.url]
        status = _status_of(request.url, facts, requests)
        rows.append(
            Row(
                url=request.url,
                path=_short(request.url, facts.url),
                delivery=(),
                status=status,
                outcome="not hinted",
            )
        )
    return Report(
        url=facts.url,
        status=facts.status,
        rows=tuple(rows),
        late=tuple(_late(facts, announced)),
        problems=tuple(_page_problems(facts)),
        notes=facts.notes + tuple(_page_notes(facts)),
    )


def _page_problems(facts: PageFacts) -> list[str]:
    """What kept every hint of the page from the browser, beyond single resources."""
    problems = []
    if (
        facts.protocol
        and facts.protocol not in {"h2", "h3"}
        and (facts.hints or facts.server_hints)
    ):
        problems.append(
            f"the page came over {facts.protocol}: browsers use 103 Early Hints over HTTP/2 and"
            " HTTP/3 only"
        )
    if facts.server_hints and not facts.hints:
        problems.append(
            f"the server sent a 103 with {len(facts.server_hints)} preload(s) to h2push's HTTP/2"
            " client, but Chromium received none (a proxy that drops 103, or a 103 sent before"
            " the request had fully arrived)"
        )
    return problems


def _page_notes(facts: PageFacts) -> list[str]:
    if facts.protocol and facts.protocol not in {"h2", "h3"} and not facts.hints:
        only = "browsers use 103 Early Hints over HTTP/2 and HTTP/3 only"
        return [f"the page came over {facts.protocol}: {only}"]
    return []
