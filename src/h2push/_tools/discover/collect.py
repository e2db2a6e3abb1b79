"""A page's references weighed and ordered into preloads, and preloads into a manifest."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from h2push._core.links import Preload, PreloadError, format_link_header
from h2push._core.manifest import Manifest
from h2push._tools.discover.css import scan_css
from h2push._tools.discover.html import scan_html
from h2push._tools.discover.models import (
    _MAX_IMPORT_DEPTH,
    CssScan,
    DiscoverOptions,
    InlineStyle,
    PageResult,
    Reference,
    Weight,
)
from h2push._tools.discover.urls import _target

# --------------------------------------------------------------------------- discovery


@dataclass
class _Entry:
    reference: Reference
    weight: Weight
    order: int
    type: str | None
    fetchpriority: str | None
    nopush: bool


@dataclass
class _Preconnect:
    order: int
    anonymous: bool  # every fetch from the origin is CORS without credentials


class _Collector:
    """Merges the references of one page into entries, keeping the strongest weight."""

    def __init__(self, origin: str, page: str) -> None:
        self.origin = origin
        self.page = page
        self.entries: dict[str, _Entry] = {}
        self.preconnects: dict[str, _Preconnect] = {}
        self.discarded: set[str] = set()
        self.order = 0
        self.warnings: list[str] = []

    def add(self, reference: Reference) -> str | None:
        """Add a reference; return its same-origin target, or None."""
        target = _target(reference.url, self.origin)
        if target is None:
            return None
        kind, value = target
        self.order += 1
        if kind == "cross":
            self._preconnect(value, reference)
            return None
        if reference.rel == "preconnect" or value in self.discarded:
            return None  # a preconnect to the site's own origin says nothing
        entry = self.entries.get(value)
        if entry is None:
            self.entries[value] = _Entry(
                reference,
                reference.weight,
                self.order,
                reference.type,
                reference.fetchpriority,
                reference.nopush,
            )
            return value
        if reference.weight > entry.weight:
            entry.weight, entry.order = reference.weight, self.order
        entry.type = entry.type or reference.type
        entry.fetchpriority = entry.fetchpriority or reference.fetchpriority
        entry.nopush = entry.nopush or reference.nopush
        if entry.reference.declared and not reference.declared:
            self._check_declared(value, entry.reference, reference)
            entry.reference = reference
        elif reference.declared and not entry.reference.declared:
            self._check_declared(value, reference, entry.reference)
        return value

    def discard(self, target: str) -> None:
        """Leave a same-origin target out, also when referenced again (an unreadable sheet)."""
        self.entries.pop(target, None)
        self.discarded.add(target)

    def _check_declared(self, target: str, declared: Reference, use: Reference) -> None:
        said = self._preload(target, declared, 0, quiet=True)
        used = self._preload(target, use, 0, quiet=True)
        if said is None or used is None:
            return
        if (said.rel, said.as_, said.crossorigin) != (used.rel, used.as_, used.crossorigin):
            self.warnings.append(
                f"{self.page}: line {declared.line}: the page's <link rel={said.rel}"
                f" as={said.as_} crossorigin={said.crossorigin}> for {target} does not match"
                f" its use (rel={used.rel} as={used.as_} crossorigin={used.crossorigin}):"
                " browsers fetch it twice; the manifest follows the use"
            )

    def _preconnect(self, origin: str, reference: Reference) -> None:
        crossorigin = reference.crossorigin
        if crossorigin is None and (
            reference.as_ in ("font", "fetch") or reference.rel == "modulepreload"
        ):
            crossorigin = "anonymous"  # fetched in CORS mode without credentials
        anonymous = crossorigin == "anonymous"
        known = self.preconnects.get(origin)
        if known is None:
            self.preconnects[origin] = _Preconnect(self.order, anonymous)
        else:
            known.anonymous = known.anonymous and anonymous

    def _preload(
        self, target: str, reference: Reference, weight: int, *, quiet: bool = False
    ) -> Preload | None:
        fields: dict[str, Any] = {
            "url": target,
            "rel": reference.rel,
            "as_": reference.as_,
            "crossorigin": reference.crossorigin,
            "weight": weight,
        }
        try:
            return Preload(**fields)
        except PreloadError as error:
            if not quiet:
                self.warnings.append(f"{self.page}: {target}: {error}; left out")
            return None

    def preloads(self) -> tuple[Preload, ...]:
        result: list[tuple[int, int, Preload]] = [
            (
                -Weight.PRECONNECT,
                known.order,
                Preload(
                    url=origin,
                    rel="preconnect",
                    crossorigin="anonymous" if known.anonymous else None,
                    weight=int(Weight.PRECONNECT),
                ),
            )
            for origin, known in self.preconnects.items()
        ]
        for target, entry in self.entries.items():
            preload = self._preload(target, entry.reference, int(entry.weight))
            if preload is None:
                continue
            preload = replace(preload, fetchpriority=entry.fetchpriority, nopush=entry.nopush)
            if entry.type is not None:
                try:
                    preload = replace(preload, type=entry.type)
                except PreloadError as error:
                    self.warnings.append(f"{self.page}: {target}: {error}; type left out")
            result.append((-entry.weight, entry.order, preload))
        result.sort(key=lambda item: (item[0], item[1]))
        return tuple(preload for _, _, preload in result)


@dataclass
class _Walk:
    """The state of one page's discovery."""

    collector: _Collector
    load_stylesheet: Callable[[str], CssScan]
    options: DiscoverOptions
    warnings: list[str]
    visited: set[tuple[str, bool]] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def sheet(self, target: str, *, blocking: bool, stack: list[str]) -> None:
        """Follow a same-origin stylesheet's imports, fonts and images, depth first."""
        if target in stack:
            cycle = " -> ".join([*stack[stack.index(target) :], target])
            self.warnings.append(f"{stack[-1]}: @import cycle {cycle}: not followed")
            return
        if (target, blocking) in self.visited or (target, True) in self.visited:
            return
        self.visited.add((target, blocking))
        if len(stack) >= _MAX_IMPORT_DEPTH:
            self.warnings.append(f"{target}: @import nested deeper than {_MAX_IMPORT_DEPTH}")
            return
        scan = self.load_stylesheet(target)
        if scan.error is not None:
            self.failures.append(scan.error)
            self.collector.discard(target)
            return
        self.warnings.extend(f"{target}: {message}" for message in scan.warnings)
        self.follow(scan, blocking=blocking, stack=[*stack, target])

    def follow(self, scan: CssScan, *, blocking: bool, stack: list[str]) -> None:
        """Add what a parsed stylesheet references, following its imports."""
        style = Weight.BLOCKING_STYLE if blocking else Weight.STYLE
        for url in scan.imports:
            target = self.collector.add(
                Reference(url=url, weight=style, as_="style", stylesheet=True)
            )
            if target is not None:
                self.sheet(target, blocking=blocking, stack=stack)
        font = Weight.BLOCKING_FONT if blocking else Weight.STYLE
        for url in scan.fonts:
            self.collector.add(Reference(url=url, weight=font, as_="font"))
        if self.options.css_images:
            for url in scan.images:
                self.collector.add(Reference(url=url, weight=Weight.CSS_IMAGE, as_="image"))


def discover_page(
    html: str,
    page_url: str,
    load_stylesheet: Callable[[str], CssScan],
    options: DiscoverOptions | None = None,
) -> PageResult:
    """Find the subresources of one page and order them by :class:`Weight`.

    Args:
        html: The page (str).
        page_url: Its absolute URL on ``options.origin``, e.g. ``https://localhost/about/``.
        load_stylesheet: Returns the parsed stylesheet for a same-origin target such as
            ``/static/app.css?v=2`` (a :class:`Stylesheets` does, once per stylesheet); a read
            failure is a :class:`CssScan` with ``error`` set.
        options: What to keep; the defaults when None.

    Returns:
        The page's preloads in weight order, its warnings and its failures. Never raises for
        broken HTML or CSS, missing stylesheets or ``@import`` cycles: a stylesheet that cannot
        be read is a failure, the rest are warnings.
    """
    options = options or DiscoverOptions()
    path = urlsplit(page_url).path or "/"
    scan = scan_html(html, page_url)
    collector = _Collector(options.origin, path)
    warnings = [f"{path}: {message}" for message in scan.warnings]
    walk = _Walk(collector, load_stylesheet, options, warnings)
    images = 0
    for item in scan.items:
        if isinstance(item, InlineStyle):
            css = scan_css(item.text, item.base_url)
            warnings.extend(f"{path}: <style> at line {item.line}: {m}" for m in css.warnings)
            walk.follow(css, blocking=item.blocking, stack=[f"{path} <style>"])
            continue
        if item.weight == Weight.IMAGE:
            if options.images is not None and images >= options.images:
                continue
            images += 1
        target = collector.add(item)
        if target is not None and item.stylesheet:
            walk.sheet(target, blocking=item.weight == Weight.BLOCKING_STYLE, stack=[])
    preloads = collector.preloads()
    return PageResult(path, preloads, (*warnings, *collector.warnings), tuple(walk.failures))


# --------------------------------------------------------------------------- manifests


def page_key(path: str) -> str:
    """The multi-page manifest key of a request path, as http2-push-manifest names pages.

    ``/`` is ``index.html``, ``/blog/`` ``blog/index.html``, ``/about.html`` ``about.html``;
    any other path stays as it is (``/about``), which :class:`h2push._core.manifest.Manifest` reads
    as exactly that path. The query string is dropped.
    """
    path = path.split("?", 1)[0] or "/"
    if path.endswith("/"):
        return path[1:] + "index.html"
    if path.endswith(".html"):
        return path[1:]
    return path


def cap_preloads(preloads: Sequence[Preload], max_entries: int | None) -> tuple[Preload, ...]:
    """Keep every preconnect and the first ``max_entries`` other preloads (all when None)."""
    if max_entries is None:
        return tuple(preloads)
    kept: list[Preload] = []
    count = 0
    for preload in preloads:
        if preload.rel == "preconnect":
            kept.append(preload)
        elif count < max_entries:
            kept.append(preload)
            count += 1
    return tuple(kept)


def merge_pages(pages: Sequence[Sequence[Preload]]) -> tuple[Preload, ...]:
    """One list for several pages (a single-page manifest for a whole site).

    Each URL keeps its first attributes and its highest weight; equal weights keep the order of
    first appearance, pages in the order given.
    """
    merged: dict[str, tuple[int, tuple[int, int], Preload]] = {}
    for page_index, preloads in enumerate(pages):
        for index, preload in enumerate(preloads):
            known = merged.get(preload.url)
            if known is None:
                merged[preload.url] = (preload.weight, (page_index, index), preload)
            elif preload.weight > known[0]:
                upgraded = replace(known[2], weight=preload.weight)
                merged[preload.url] = (preload.weight, (page_index, index), upgraded)
    ordered = sorted(merged.values(), key=lambda item: (-item[0], item[1]))
    return tuple(preload for _, _, preload in ordered)


def manifest_entries(
    pages: Mapping[str, Sequence[Preload]],
    *,
    multi: bool,
    max_entries: int | None = None,
) -> dict[str | None, tuple[Preload, ...]]:
    """The entries of the manifest for discovered pages, as :attr:`Manifest.entries` holds them.

    Args:
        pages: Preloads in weight order, keyed by page key (:func:`page_key`).
        multi: A multi-page manifest (``{"index.html": {...}}``) rather than one list for
            every page (:func:`merge_pages`, pages in key order).
        max_entries: Keep at most this many entries per page (of the merged list for a
            single-page manifest) besides preconnects.

    Returns:
        Page keys sorted, each with its preloads in weight order; ``{None: (...)}`` for a
        single-page manifest, and also for a multi-page one in which no page has an entry (the
        format cannot tell an empty multi-page manifest from a single-page one).
    """
    keys = sorted(pages)
    if multi:
        entries: dict[str | None, tuple[Preload, ...]] = {
            key: cap_preloads(pages[key], max_entries) for key in keys
        }
        return entries if any(entries.values()) else {None: ()}
    return {None: cap_preloads(merge_pages([pages[key] for key in keys]), max_entries)}


def build_manifest(
    pages: Mapping[str, Sequence[Preload]],
    *,
    multi: bool,
    max_entries: int | None = None,
) -> dict[str, Any]:
    """http2-push-manifest JSON data for discovered pages, checked by the manifest loader.

    Args:
        pages: Preloads in weight order, keyed by page key (:func:`page_key`).
        multi: See :func:`manifest_entries`.
        max_entries: See :func:`manifest_entries`.

    Returns:
        Data that :meth:`Manifest.from_dict` reads and :meth:`Manifest.to_dict` gives back
        unchanged: page keys sorted, entries highest weight first, extra keys
        (``crossorigin``, ``nopush``, ``fetchpriority``, ``rel``) only where ``type`` does not
        imply them. The manifest format has no ``type`` (MIME) key: it is left out.

    Raises:
        h2push._core.manifest.ManifestError: Only on a bug: the data would not load.
    """
    entries = manifest_entries(pages, multi=multi, max_entries=max_entries)
    data = Manifest(source="<generated>", entries=entries).to_dict()
    Manifest.from_dict(data, source="<generated>")  # the loader must accept what we write
    return data


def manifest_json(data: Mapping[str, Any]) -> str:
    """Manifest data as diff-friendly JSON text: 2-space indent, key order kept, final newline."""
    return json.dumps(data, indent=2) + "\n"


def link_value(preloads: Iterable[Preload]) -> str:
    """The Link header field value (RFC 8288) of preloads, in their order."""
    return format_link_header(preloads)
