"""Find a page's critical subresources and turn them into a push manifest (``h2push manifest``).

Discovery reads what a browser reads before it renders a page and lists what it will fetch:

* HTML (HTML Standard §4.2.4 ``link``, §4.12.1 ``script``, §4.8.4 ``img``, §4.8.9 ``video``):
  ``<link rel=stylesheet>``, ``<script src>`` (a ``type=module`` script becomes a
  ``modulepreload``), the page's own ``<link rel=preload|modulepreload|preconnect>`` (their
  ``as``, ``crossorigin``, ``type`` and ``fetchpriority`` are kept), the first N images
  (``<img src>``, the ``srcset`` candidate a 1x screen picks, ``<picture><source>``,
  ``<video poster>``), ``<base href>`` and inline ``<style>``.
* CSS, parsed with tinycss2 (CSS Syntax Level 3): ``@import`` chains (recursive, cycle-safe),
  the ``url()`` of each ``@font-face`` that a current browser downloads (the first with a
  supported ``format()``), and optionally the images of ``background`` and similar properties.

The fetch destination (``as``) comes from what references the URL (a stylesheet link is
``style``, an ``@font-face`` source ``font``, a ``<link rel=preload as=fetch>`` ``fetch``); the
file extension is used only where nothing says (a ``url()`` in a custom property, a preload
without a valid ``as``). A ``.json`` file is never a ``script``. Other origins become
``preconnect`` entries for their origin and are never pushed; ``data:`` URLs are skipped.

Order: every resource gets the :class:`Weight` of the most important thing that references it;
equal weights keep the order in which the page references them (document order; a stylesheet's
``@import`` tree depth-first right after it, then its fonts). The weights, highest first:

==========  ==================================================================================
weight      resources
==========  ==================================================================================
90          ``preconnect`` to other origins
80          render-blocking stylesheets: ``<link rel=stylesheet>`` in ``<head>`` without a
            ``media`` or with ``all``/``screen``, ``@import`` in them and in ``<head>``
            ``<style>``
70          fonts of those stylesheets (``@font-face``)
60          synchronous classic scripts (no ``async``, ``defer`` or ``type=module``)
50          preloads the page declares itself (``<link rel=preload|modulepreload>``)
40          module scripts (``modulepreload``), ``async`` and ``defer`` scripts
30          other stylesheets (in ``<body>``, other media), their imports and fonts
20          the first N images, in document order
10          CSS images (``background-image`` and the like), only when asked for
==========  ==================================================================================

Left out by rule: images after the first N, ``loading=lazy`` images, ``srcset`` with width
descriptors (the candidate depends on the viewport), scripts with ``nomodule`` or a non-script
``type``, disabled and alternate stylesheets, anything inside ``<template>``, ``<noscript>``,
``<svg>`` or ``<math>``, imports of module scripts (JavaScript is not parsed), fonts and images
of other origins' stylesheets (never fetched), and same-origin stylesheets that cannot be read
(missing, 404, or not served as ``text/css``: browsers would not apply them either).

The functions :func:`scan_html`, :func:`scan_css`, :func:`parse_srcset`, :func:`pick_srcset`,
:func:`guess_destination`, :func:`discover_page` and :func:`build_manifest` do no I/O: they
take text and return values; :func:`discover_page` asks a callback for stylesheets.
:class:`FileSite` and :class:`AppSite` are the I/O: files of a site root, or pages rendered by
a WSGI or ASGI application in this process (no network).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final, Literal, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import tinycss2  # type: ignore[import-untyped]

from h2push._core.errors import H2PushError
from h2push._core.links import PRELOAD_DESTINATIONS, Preload, PreloadError, format_link_header
from h2push._core.manifest import Manifest, read_regular_file

DEFAULT_ORIGIN: Final = "https://localhost"
"""The origin a page is taken to be served from unless told otherwise."""

LINK_HEADER_LIMIT_BYTES: Final = 3 * 1024
"""Link header size above which a warning is given: a common CDN limit on one header."""

_MAX_IMPORT_DEPTH: Final = 32
_MAX_FILE_BYTES: Final = 64 << 20  # the largest site file read (a page or a stylesheet)


class Weight(IntEnum):
    """Manifest weights, highest first; see the module documentation for what each covers."""

    PRECONNECT = 90
    BLOCKING_STYLE = 80
    BLOCKING_FONT = 70
    BLOCKING_SCRIPT = 60
    PRELOAD = 50
    SCRIPT = 40
    STYLE = 30
    IMAGE = 20
    CSS_IMAGE = 10


class FetchError(H2PushError):
    """A page or stylesheet that could not be read; the message is one line naming it."""


# --------------------------------------------------------------------------- plain values


@dataclass(frozen=True, kw_only=True)
class Reference:
    """One subresource a page or stylesheet references.

    Attributes:
        url: The absolute ``http(s)`` URL, resolved against the document's base URL, without
            fragment; for ``rel="preconnect"`` any URL of the origin.
        weight: What the reference is (see :class:`Weight`).
        rel: ``preload``, ``modulepreload`` or ``preconnect``.
        as_: The fetch destination (``style``, ``script``, ``font``, ``image``, ``fetch``...).
        crossorigin: None, ``anonymous`` or ``use-credentials``, as the element says.
        type: A MIME type from a ``<link rel=preload type>``, else None.
        fetchpriority: ``high``, ``low``, ``auto`` or None.
        nopush: The element has a ``nopush`` or ``data-nopush`` attribute.
        declared: It comes from the page's own ``<link rel=preload|modulepreload|preconnect>``
            rather than from the element that uses the resource.
        stylesheet: It is a stylesheet the browser applies: its ``@import`` and ``@font-face``
            are followed.
        line: The line of the HTML where it was found (0 for CSS).
    """

    url: str
    weight: Weight
    rel: str = "preload"
    as_: str | None = None
    crossorigin: str | None = None
    type: str | None = None
    fetchpriority: str | None = None
    nopush: bool = False
    declared: bool = False
    stylesheet: bool = False
    line: int = 0


@dataclass(frozen=True)
class InlineStyle:
    """The text of an inline ``<style>`` element.

    Attributes:
        text: The CSS text (str).
        base_url: The URL its relative ``url()`` and ``@import`` resolve against (the document's
            base URL).
        blocking: In ``<head>`` and for all media: its imports and fonts block rendering.
        line: The line of the HTML where the element starts.
    """

    text: str
    base_url: str
    blocking: bool
    line: int = 0


@dataclass(frozen=True)
class HtmlScan:
    """What :func:`scan_html` found, in document order.

    Attributes:
        items: References and inline styles in the order of the document. Images are all
            listed (the first N are chosen later), each counted once.
        warnings: Messages about the document (str, one line each, without the page's name).
    """

    items: tuple[Reference | InlineStyle, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CssScan:
    """What :func:`scan_css` found in one stylesheet; absolute URLs, in source order.

    Attributes:
        imports: URLs of the ``@import`` rules that browsers honour.
        fonts: For each ``@font-face``, the one source URL a current browser downloads.
        images: URLs of images in declarations (``background``, ``mask``, ``content``...).
        warnings: Problems in the stylesheet (str, one line each, without its name).
        error: Why the stylesheet could not be read, or None.
    """

    imports: tuple[str, ...] = ()
    fonts: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class DiscoverOptions:
    """What :func:`discover_page` keeps.

    Attributes:
        images: How many images to keep (the first ones in document order), or None for all.
        css_images: Also keep images referenced from CSS declarations.
        origin: The origin the site is served from, e.g. ``https://www.example.com``: absolute
            URLs on it count as the site's own.
    """

    images: int | None = 3
    css_images: bool = False
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class PageResult:
    """The resources of one page.

    Attributes:
        path: The page's URL path (str), e.g. ``/about/index.html`` or ``/about``.
        preloads: Highest weight first: preconnects, then preloads (same-origin paths only).
        warnings: One line each, prefixed with the page or stylesheet they concern.
        failures: Resources the page needs that could not be read, one line each: a
            stylesheet (or one it imports) that is missing, answers an error status, or is not
            served as ``text/css``. Browsers would not apply it either; left out of
            ``preloads``.
    """

    path: str
    preloads: tuple[Preload, ...]
    warnings: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()


# --------------------------------------------------------------------------- URLs


def normalize_origin(url: str) -> str:
    """Return the ASCII serialisation of an ``http(s)`` URL's origin (RFC 6454 §6.2).

    Scheme and host are lower-cased, a default port (80, 443) is dropped, path and
    user information are ignored: ``HTTPS://Fonts.Example:443/x`` gives ``https://fonts.example``.

    Raises:
        ValueError: ``url`` is not an absolute ``http`` or ``https`` URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) origin such as https://www.example.com")
    scheme = parts.scheme.lower()
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError for a port that is not a number in range
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _resolve(base: str, reference: str | None) -> str | None:
    """An absolute ``http(s)`` URL without fragment, or None when nothing would be fetched."""
    if reference is None:
        return None
    reference = reference.strip(" \t\n\r\f")
    if not reference or reference.startswith("#"):
        return None
    try:
        url = urljoin(base, reference)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None  # data:, blob:, javascript:, about:, mailto: ...
    return url.partition("#")[0]


# Characters a Preload target may not hold are percent-encoded; everything else is kept.
_URL_SAFE: Final = "!#$%&'()*+/:=?@[\\]^`{|}~"


def _target(url: str, origin: str) -> tuple[Literal["same", "cross"], str] | None:
    """Classify an absolute URL: ``("same", "/path?query")`` or ``("cross", origin)``."""
    try:
        url_origin = normalize_origin(url)
    except ValueError:
        return None
    if url_origin != origin:
        return "cross", url_origin
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return "same", quote(target, safe=_URL_SAFE)


_EXTENSION_DESTINATIONS: Final = {
    extension: destination
    for destination, extensions in {
        "style": "css",
        "script": "js mjs cjs",
        "font": "woff2 woff ttf otf ttc eot",
        "image": "png apng jpg jpeg gif webp avif svg ico bmp cur",
        "fetch": "json",
        "track": "vtt",
        "video": "mp4 webm ogv",
        "audio": "mp3 m4a oga ogg opus wav flac",
        "manifest": "webmanifest",
    }.items()
    for extension in extensions.split()
}


def guess_destination(url: str) -> str | None:
    """Guess a fetch destination from a URL's file extension; the fallback when nothing says.

    ``.css`` is ``style``, ``.js``/``.mjs`` ``script``, ``.woff2``/``.woff``/``.ttf``/``.otf``
    ``font``, ``.png``/``.jpg``/``.svg``/``.webp``/``.avif``... ``image``, ``.json`` ``fetch``
    (never ``script``), ``.vtt`` ``track``, video and audio files ``video`` and ``audio``.

    Args:
        url: A URL or path; the query and fragment are ignored.

    Returns:
        The destination (str), or None for an unknown extension.
    """
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSION_DESTINATIONS.get(name.rsplit(".", 1)[1].lower())


# --------------------------------------------------------------------------- srcset

_HTML_SPACE: Final = " \t\n\r\f"


def parse_srcset(value: str) -> list[tuple[str, tuple[str, ...]]]:
    """Split a ``srcset`` attribute into candidates (HTML Standard §4.8.4.3.10).

    URLs may hold commas (``a.png?x=1,2 2x``); a comma right after a URL ends the candidate.

    Args:
        value: The attribute's value.

    Returns:
        ``(url, descriptors)`` pairs in order; ``descriptors`` such as ``("2x",)`` or
        ``("480w",)``, unchecked.
    """
    candidates: list[tuple[str, tuple[str, ...]]] = []
    pos, end = 0, len(value)
    while True:
        while pos < end and (value[pos] in _HTML_SPACE or value[pos] == ","):
            pos += 1
        if pos >= end:
            return candidates
        start = pos
        while pos < end and value[pos] not in _HTML_SPACE:
            pos += 1
        url = value[start:pos]
        descriptors: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            pos = _srcset_descriptors(value, pos, descriptors)
        if url:
            candidates.append((url, tuple(descriptors)))


def _srcset_descriptors(value: str, pos: int, out: list[str]) -> int:
    """Tokenize the descriptors after a srcset URL into ``out``; return the position after."""
    current = ""
    state = "in descriptor"
    end = len(value)
    while pos < end:
        char = value[pos]
        if state == "in descriptor":
            if char in _HTML_SPACE:
                if current:
                    out.append(current)
                    current = ""
                    state = "after descriptor"
            elif char == ",":
                pos += 1
                break
            elif char == "(":
                current += char
                state = "in parens"
            else:
                current += char
        elif state == "in parens":
            current += char
            if char == ")":
                state = "in descriptor"
        elif char not in _HTML_SPACE:  # after descriptor
            state = "in descriptor"
            continue  # reconsume
        pos += 1
    if current:
        out.append(current)
    return pos


def pick_srcset(srcset: str | None, src: str | None) -> tuple[str | None, str | None]:
    """The image a screen with a device pixel ratio of 1 loads from ``srcset`` and ``src``.

    With density descriptors (``1x``, ``2x``, or none meaning ``1x``), ``src`` is a ``1x``
    candidate when no ``srcset`` candidate is; the candidate of density 1 is chosen, else the
    smallest density above 1, else the largest below. With width descriptors (``480w``) the
    choice depends on the viewport and ``sizes``: nothing is chosen.

    Args:
        srcset: The ``srcset`` attribute, or None.
        src: The ``src`` attribute, or None.

    Returns:
        ``(url, problem)``: the unresolved URL or None, and why nothing was chosen or None.
    """
    src = src.strip(_HTML_SPACE) if src else None
    if not srcset or not srcset.strip(_HTML_SPACE):
        return (src or None), None
    densities: list[tuple[float, str]] = []
    widths = False
    for url, descriptors in parse_srcset(srcset):
        density: float | None = 1.0
        for descriptor in descriptors:
            kind, number = descriptor[-1:].lower(), descriptor[:-1]
            try:
                if kind == "x":
                    density = float(number)
                elif kind == "w":
                    widths = True
                    int(number)
                elif kind != "h":
                    density = None
            except ValueError:
                density = None
        if density is not None and density > 0:
            densities.append((density, url))
    if widths:
        return None, "srcset has width descriptors: which image loads depends on the viewport"
    if src and not any(density == 1 for density, _ in densities):
        densities.append((1.0, src))
    if not densities:
        return (src or None), None
    exact = [url for density, url in densities if density == 1]
    if exact:
        return exact[0], None
    above = sorted((d, i, url) for i, (d, url) in enumerate(densities) if d > 1)
    if above:
        return above[0][2], None
    return max((d, -i, url) for i, (d, url) in enumerate(densities))[2], None


# --------------------------------------------------------------------------- HTML


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# HTML Standard §8.1.5.1: the JavaScript MIME type essence matches.
_JS_TYPES: Final = frozenset(
    {
        "",
        *_words(
            """application/ecmascript application/javascript application/x-ecmascript
        application/x-javascript text/ecmascript text/javascript text/javascript1.0
        text/javascript1.1 text/javascript1.2 text/javascript1.3 text/javascript1.4
        text/javascript1.5 text/jscript text/livescript text/x-ecmascript
        text/x-javascript"""
        ),
    }
)
_IMAGE_TYPES: Final = _words(
    """image/apng image/avif image/bmp image/gif image/jpeg image/png image/svg+xml image/webp
    image/x-icon image/vnd.microsoft.icon"""
)
# Elements that may stay in <head>; any other start tag, or text, begins the body.
_HEAD_ELEMENTS: Final = _words(
    "html head title meta link style script noscript base template basefont bgsound"
)
# Whose contents a browser (with scripting on) never fetches from the HTML document.
_INERT: Final = frozenset({"template", "noscript", "svg", "math"})
_FETCHPRIORITY: Final = frozenset({"high", "low", "auto"})
_UNSET: Final = "\0unset"


def _crossorigin(attrs: Mapping[str, str | None]) -> str | None:
    """The CORS settings attribute (HTML Standard §2.5.4): invalid values mean anonymous."""
    if "crossorigin" not in attrs:
        return None
    value = (attrs["crossorigin"] or "").strip().lower()
    return "use-credentials" if value == "use-credentials" else "anonymous"


def _fetchpriority(attrs: Mapping[str, str | None]) -> str | None:
    value = (attrs.get("fetchpriority") or "").strip().lower()
    return value if value in _FETCHPRIORITY else None


def _all_media(media: str | None) -> bool:
    """Whether a ``media`` attribute certainly matches a screen (absent, all or screen)."""
    return media is None or media.strip().lower() in ("", "all", "screen")


def _mime_essence(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class _HtmlScanner(HTMLParser):
    """Collects references in document order for :func:`scan_html`."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.base_url = page_url
        self.base_set = False
        self.in_head = True
        self.inert: list[str] = []
        self.in_title = False
        self.raw: str | None = None  # "style" or "script" while inside one
        self.style_text: list[str] = []
        self.style_blocking = False
        self.style_line = 0
        self.picture_depth = 0
        self.picture_choice: str | None = _UNSET
        self.items: list[Reference | InlineStyle] = []
        self.warnings: list[str] = []

    # -- helpers ------------------------------------------------------------------------------

    def _line(self) -> int:
        return self.getpos()[0]

    def _warn(self, message: str) -> None:
        self.warnings.append(f"line {self._line()}: {message}")

    def _add(self, reference: str | None, weight: Weight, **fields: Any) -> None:
        url = _resolve(self.base_url, reference)
        if url is not None:
            self.items.append(Reference(url=url, weight=weight, line=self._line(), **fields))

    # -- parser callbacks ---------------------------------------------------------------------

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs: dict[str, str | None] = {}
        for name, value in attr_list:
            attrs.setdefault(name, value)  # the first of a repeated attribute wins
        if self.in_title:
            return  # some Python versions parse tags inside <title>
        if self.inert:
            if tag == self.inert[-1]:
                self.inert.append(tag)
            return
        if tag in _INERT:
            self.inert.append(tag)
        if self.in_head and tag not in _HEAD_ELEMENTS:
            self.in_head = False
        handler = getattr(self, f"_start_{tag}", None)
        if handler is not None:
            handler(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif self.in_title:
            return
        if self.inert:
            if tag == self.inert[-1]:
                self.inert.pop()
            return
        if tag == self.raw:
            if tag == "style":
                self._end_style()
            self.raw = None
        elif tag == "head":
            self.in_head = False
        elif tag == "picture" and self.picture_depth:
            self.picture_depth -= 1
            self.picture_choice = _UNSET

    def handle_data(self, data: str) -> None:
        if self.inert:
            return
        if self.raw == "style":
            self.style_text.append(data)
        elif self.raw is None and not self.in_title and self.in_head and data.strip():
            self.in_head = False

    # -- elements -----------------------------------------------------------------------------

    def _start_title(self, attrs: Mapping[str, str | None]) -> None:
        self.in_title = True

    def _start_body(self, attrs: Mapping[str, str | None]) -> None:
        self.in_head = False

    def _start_base(self, attrs: Mapping[str, str | None]) -> None:
        href = attrs.get("href")
        if href is not None and not self.base_set:
            self.base_set = True
            with contextlib.suppress(ValueError):
                self.base_url = urljoin(self.page_url, href.strip(_HTML_SPACE))

    def _start_style(self, attrs: Mapping[str, str | None]) -> None:
        self.raw = "style"
        self.style_text = []
        self.style_blocking = self.in_head and _all_media(attrs.get("media"))
        self.style_line = self._line()

    def finish(self) -> None:
        """Report an element left open at the end; keep an unclosed style's text."""
        if self.raw is not None:
            self.warnings.append(f"<{self.raw}> is not closed at the end of the document")
            if self.raw == "style":
                self._end_style()

    def _end_style(self) -> None:
        text = "".join(self.style_text)
        if text.strip():
            self.items.append(
                InlineStyle(text, self.base_url, self.style_blocking, self.style_line)
            )
        self.style_text = []

    def _start_link(self, attrs: Mapping[str, str | None]) -> None:
        rels = set((attrs.get("rel") or "").lower().split())
        href = attrs.get("href")
        nopush = "nopush" in attrs or "data-nopush" in attrs
        common: dict[str, Any] = {
            "crossorigin": _crossorigin(attrs),
            "fetchpriority": _fetchpriority(attrs),
            "nopush": nopush,
        }
        if "stylesheet" in rels and "alternate" not in rels and "disabled" not in attrs:
            blocking = self.in_head and _all_media(attrs.get("media"))
            weight = Weight.BLOCKING_STYLE if blocking else Weight.STYLE
            self._add(href, weight, as_="style", stylesheet=True, **common)
        if "preload" in rels:
            self._preload(attrs, common)
        if "modulepreload" in rels:
            as_ = (attrs.get("as") or "script").strip().lower()
            self._add(href, Weight.PRELOAD, rel="modulepreload", as_=as_, declared=True, **common)
        if "preconnect" in rels:
            self._add(
                href,
                Weight.PRECONNECT,
                rel="preconnect",
                crossorigin=common["crossorigin"],
                declared=True,
            )

    def _preload(self, attrs: Mapping[str, str | None], common: dict[str, Any]) -> None:
        href = attrs.get("href")
        as_ = (attrs.get("as") or "").strip().lower()
        if not href or not href.strip(_HTML_SPACE):
            if as_ == "image" and attrs.get("imagesrcset"):
                href, problem = pick_srcset(attrs.get("imagesrcset"), None)
                if problem:
                    self._warn(f"<link rel=preload imagesrcset>: {problem}; left out")
                    return
            else:
                return
        if as_ not in PRELOAD_DESTINATIONS:
            guessed = guess_destination(href or "")
            said = f"as={as_}" if as_ else "no as"
            if guessed is None:
                self._warn(f"<link rel=preload href={href}> has {said}; browsers ignore it")
                return
            self._warn(
                f"<link rel=preload href={href}> has {said}; browsers ignore it"
                f" (listed as as={guessed} from its extension)"
            )
            as_ = guessed
        self._add(href, Weight.PRELOAD, as_=as_, type=attrs.get("type"), declared=True, **common)

    def _start_script(self, attrs: Mapping[str, str | None]) -> None:
        self.raw = "script"
        src = attrs.get("src")
        if src is None:
            return
        kind = _mime_essence(attrs.get("type"))
        common: dict[str, Any] = {
            "crossorigin": _crossorigin(attrs),
            "fetchpriority": _fetchpriority(attrs),
            "nopush": "nopush" in attrs or "data-nopush" in attrs,
        }
        if kind == "module":
            self._add(src, Weight.SCRIPT, rel="modulepreload", as_="script", **common)
        elif kind in _JS_TYPES and "nomodule" not in attrs:
            deferred = "async" in attrs or "defer" in attrs
            weight = Weight.SCRIPT if deferred else Weight.BLOCKING_SCRIPT
            self._add(src, weight, as_="script", **common)

    def _start_picture(self, attrs: Mapping[str, str | None]) -> None:
        self.picture_depth += 1
        self.picture_choice = _UNSET

    def _start_source(self, attrs: Mapping[str, str | None]) -> None:
        if not self.picture_depth or self.picture_choice != _UNSET:
            return
        srcset = attrs.get("srcset")
        kind = _mime_essence(attrs.get("type"))
        if not srcset or not _all_media(attrs.get("media")):
            return
        if kind and kind not in _IMAGE_TYPES:
            return
        url, problem = pick_srcset(srcset, None)
        if problem:
            self._warn(f"<picture><source>: {problem}; left out")
        self.picture_choice = url

    def _start_img(self, attrs: Mapping[str, str | None]) -> None:
        if (attrs.get("loading") or "").strip().lower() == "lazy":
            return
        if self.picture_depth and self.picture_choice != _UNSET:
            url = self.picture_choice
        else:
            url, problem = pick_srcset(attrs.get("srcset"), attrs.get("src"))
            if problem:
                self._warn(f"<img>: {problem}; left out")
        self._add(
            url,
            Weight.IMAGE,
            as_="image",
            crossorigin=_crossorigin(attrs),
            fetchpriority=_fetchpriority(attrs),
            nopush="nopush" in attrs or "data-nopush" in attrs,
        )

    def _start_video(self, attrs: Mapping[str, str | None]) -> None:
        self._add(attrs.get("poster"), Weight.IMAGE, as_="image", crossorigin=_crossorigin(attrs))


def scan_html(html: str, page_url: str) -> HtmlScan:
    """List the subresources an HTML document references, in document order.

    Broken markup never raises: the stdlib parser is lenient, and what it cannot read is
    reported in :attr:`HtmlScan.warnings`.

    Args:
        html: The document (str).
        page_url: The document's absolute URL, e.g. ``https://localhost/about/index.html``;
            relative URLs resolve against it, or against the first ``<base href>``.

    Returns:
        The references and inline styles; relative URLs resolved, fragments removed, ``data:``
        and other non-``http(s)`` URLs left out.
    """
    scanner = _HtmlScanner(page_url)
    try:
        scanner.feed(html)
        scanner.close()
    except Exception as error:  # a parser failure becomes a warning, never a traceback
        scanner.warnings.append(f"cannot parse the HTML past line {scanner.getpos()[0]}: {error}")
    scanner.finish()
    return HtmlScan(tuple(scanner.items), tuple(scanner.warnings))


_META_CHARSET_RE: Final = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w.:]+)""", re.I)


def decode_html(data: bytes, charset: str | None = None) -> tuple[str, list[str]]:
    """Decode an HTML document's bytes: BOM, then ``charset``, then ``<meta charset>``, then UTF-8.

    A simplification of the HTML Standard's encoding sniffing (§13.2.3.2).

    Args:
        data: The document (bytes).
        charset: The ``charset`` parameter of its ``Content-Type``, if any.

    Returns:
        The text (undecodable bytes replaced by U+FFFD) and warnings (str).
    """
    warnings: list[str] = []
    encoding = "utf-8"
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16")):
        if data.startswith(bom):
            encoding = name
            break
    else:
        if data.startswith(codecs.BOM_UTF16_BE):
            encoding = "utf-16"
        else:
            match = _META_CHARSET_RE.search(data[:1024])
            label = charset or (match.group(1).decode("ascii") if match else None)
            if label:
                try:
                    encoding = codecs.lookup(label).name
                except LookupError:
                    warnings.append(f"unknown charset {label!r}; read as UTF-8")
    try:
        return data.decode(encoding), warnings
    except UnicodeDecodeError as error:
        warnings.append(f"not valid {encoding} at byte {error.start}; bad bytes replaced")
        return data.decode(encoding, errors="replace"), warnings


# --------------------------------------------------------------------------- CSS

# Properties whose url() values are images (CSS Backgrounds, Masking, Lists, Content, UI).
_IMAGE_PROPERTIES: Final = _words(
    """background background-image border-image border-image-source content cursor list-style
    list-style-image mask mask-image mask-border mask-border-source shape-outside
    -webkit-border-image -webkit-mask -webkit-mask-box-image -webkit-mask-image"""
)
# Block at-rules whose contents are rules that apply to the document.
_GROUPING_AT_RULES: Final = _words(
    "media supports layer container scope starting-style document -moz-document"
)
# @font-face format() values Chromium, Firefox and Safari download (CSS Fonts 4 §4.3.2).
_FONT_FORMATS: Final = _words(
    """woff2 woff truetype opentype collection woff2-variations woff-variations
    truetype-variations opentype-variations"""
)


def _significant(tokens: Iterable[Any]) -> list[Any]:
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def _function_url(token: Any) -> str | None:
    """The URL of a ``url("...")`` or ``src("...")`` function token, else None."""
    if token.type == "function" and token.lower_name in ("url", "src"):
        for argument in _significant(token.arguments):
            return str(argument.value) if argument.type == "string" else None
    return None


def _urls(tokens: Iterable[Any]) -> Iterator[str]:
    """Every URL in component values: ``url(x)``, ``url("x")``, strings of ``image-set()``."""
    for token in tokens:
        if token.type == "url":
            yield str(token.value)
        elif token.type == "function":
            url = _function_url(token)
            if url is not None:
                yield url
            elif token.lower_name in ("image-set", "-webkit-image-set"):
                for argument in token.arguments:
                    if argument.type == "string":
                        yield str(argument.value)
                    else:
                        yield from _urls([argument])
            else:
                yield from _urls(token.arguments)
        elif token.type in ("() block", "[] block", "{} block"):
            yield from _urls(token.content)


def _font_source(tokens: Sequence[Any]) -> str | None:
    """The URL of the first ``src`` entry of an ``@font-face`` a browser downloads."""
    entries: list[list[Any]] = [[]]
    for token in tokens:
        if token.type == "literal" and token.value == ",":
            entries.append([])
        else:
            entries[-1].append(token)
    for entry in entries:
        url: str | None = None
        formats: list[str] = []
        for token in _significant(entry):
            if token.type == "url":
                url = str(token.value)
            elif token.type == "function" and token.lower_name == "format":
                formats.extend(
                    str(a.value).lower() for a in token.arguments if a.type in ("string", "ident")
                )
            elif token.type == "function":
                url = _function_url(token) or url
        if url is not None and (not formats or any(f in _FONT_FORMATS for f in formats)):
            return url
    return None


class _CssScanner:
    """Walks parsed rules for :func:`scan_css`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.imports: list[str] = []
        self.fonts: list[str] = []
        self.images: list[str] = []
        self.warnings: list[str] = []

    def _resolve(self, reference: str) -> str | None:
        return _resolve(self.base_url, reference)

    def top_level(self, rules: Iterable[Any]) -> None:
        imports_allowed = True  # CSS Cascade 5 §2: @import only before other rules
        for rule in rules:
            if rule.type == "at-rule" and rule.lower_at_keyword == "import":
                self._import(rule, allowed=imports_allowed)
                continue
            if rule.type == "at-rule" and (
                rule.lower_at_keyword == "charset"
                or (rule.lower_at_keyword == "layer" and rule.content is None)
            ):
                continue
            if rule.type in ("at-rule", "qualified-rule"):
                imports_allowed = False
            self._rule(rule)

    def _import(self, rule: Any, *, allowed: bool) -> None:
        prelude = _significant(rule.prelude)
        first = prelude[0] if prelude else None
        reference: str | None = None
        if first is not None and first.type in ("string", "url"):
            reference = str(first.value)
        elif first is not None:
            reference = _function_url(first)
        line = f"line {rule.source_line}"
        if reference is None:
            self.warnings.append(f"{line}: @import without a URL")
        elif not allowed:
            self.warnings.append(
                f"{line}: @import {reference} after other rules: browsers ignore it"
            )
        else:
            url = self._resolve(reference)
            if url is not None:
                self.imports.append(url)

    def _rule(self, rule: Any) -> None:
        if rule.type == "qualified-rule":
            self._block(rule.content)
        elif rule.type == "at-rule" and rule.content is not None:
            keyword = rule.lower_at_keyword
            if keyword == "font-face":
                self._font_face(rule.content)
            elif keyword in _GROUPING_AT_RULES:
                self._block(rule.content)

    def _block(self, content: Sequence[Any]) -> None:
        """Declarations and nested rules of a style rule or grouping rule."""
        for item in tinycss2.parse_blocks_contents(
            content, skip_comments=True, skip_whitespace=True
        ):
            if item.type == "declaration":
                self._declaration(item)
            elif item.type in ("qualified-rule", "at-rule"):
                self._rule(item)

    def _declaration(self, declaration: Any) -> None:
        name = declaration.lower_name
        for reference in _urls(declaration.value):
            url = self._resolve(reference)
            if url is None:
                continue
            if name in _IMAGE_PROPERTIES or guess_destination(url) == "image":
                self.images.append(url)

    def _font_face(self, content: Sequence[Any]) -> None:
        sources = [
            item
            for item in tinycss2.parse_blocks_contents(
                content, skip_comments=True, skip_whitespace=True
            )
            if item.type == "declaration" and item.lower_name == "src"
        ]
        for declaration in reversed(sources):  # the last valid src wins
            reference = _font_source(declaration.value)
            if reference is not None:
                url = self._resolve(reference)
                if url is not None:
                    self.fonts.append(url)
                return


def scan_css(css: str | bytes, sheet_url: str, *, charset: str | None = None) -> CssScan:
    """List the imports, fonts and images a stylesheet references (CSS Syntax Level 3).

    Parsed with tinycss2, which, like browsers, recovers from any syntax error. ``@import``
    counts only before other rules (``@charset`` and ``@layer`` statements aside); rules inside
    ``@media``, ``@supports``, ``@layer`` blocks and nested style rules are read; ``@keyframes``
    and other at-rules are not.

    Args:
        css: The stylesheet, as text or as bytes (decoded by BOM, ``charset``, ``@charset``,
            then UTF-8, CSS Syntax §3.2).
        sheet_url: Its absolute URL (the page's base URL for an inline ``<style>``).
        charset: The ``charset`` of its ``Content-Type``, for bytes.

    Returns:
        Absolute URLs in source order, and warnings about ignored ``@import`` rules.
    """
    if isinstance(css, bytes):
        rules, _ = tinycss2.parse_stylesheet_bytes(
            css, protocol_encoding=charset, skip_comments=True, skip_whitespace=True
        )
    else:
        rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    scanner = _CssScanner(sheet_url)
    scanner.top_level(rules)
    return CssScan(
        imports=tuple(scanner.imports),
        fonts=tuple(scanner.fonts),
        images=tuple(scanner.images),
        warnings=tuple(scanner.warnings),
    )


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


# --------------------------------------------------------------------------- sites (I/O)


class Site(Protocol):
    """Where pages and stylesheets are read from."""

    origin: str

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """Return the body (bytes) and charset (or None) of a same-origin path.

        Args:
            path: An absolute path with optional query, e.g. ``/static/app.css?v=2``.
            dest: ``document`` for a page, ``style`` for a stylesheet.

        Raises:
            FetchError: It cannot be read (one line, naming it).
        """

    def check(self, path: str) -> str | None:
        """Return why a resource path is unavailable (``missing``, ``404``...), else None."""


class FileSite:
    """A static site in a directory served at ``/``: ``/css/a.css`` is ``ROOT/css/a.css``.

    Args:
        root: The site root directory.
        origin: The origin the site is served from (see :class:`DiscoverOptions`).
    """

    def __init__(self, root: Path, *, origin: str = DEFAULT_ORIGIN) -> None:
        self.root = root.resolve()
        self.origin = origin

    def file(self, path: str) -> Path | None:
        """The file a URL path names, or None when it leaves the root.

        A path ending in ``/`` names its ``index.html``; the query is ignored.
        """
        name = unquote(path.split("?", 1)[0])
        if name.endswith("/"):
            name += "index.html"
        candidate = (self.root / name.lstrip("/")).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            return None
        return candidate

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """See :meth:`Site.read`; ``dest`` is not used."""
        file = self.file(path)
        if file is None:
            raise FetchError(f"{path}: outside the site root {self.root}")
        try:
            # A regular file only: a FIFO would hang the read, /dev/zero never end it.
            return read_regular_file(file, _MAX_FILE_BYTES), None
        except OSError as error:
            raise FetchError(f"{path}: cannot read {file}: {error.strerror or error}") from None

    def check(self, path: str) -> str | None:
        """See :meth:`Site.check`."""
        file = self.file(path)
        if file is None:
            return "outside the site root"
        return None if file.is_file() else f"no file {file}"


@dataclass(frozen=True)
class _Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


# What Chromium sends as Accept for a navigation, a stylesheet, and anything else.
_ACCEPT: Final = {
    "document": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "style": "text/css,*/*;q=0.1",
}


class AppSite:
    """A WSGI (PEP 3333) or ASGI 3 application, called in this process: no server, no network.

    Each request is a ``GET`` with the scheme and ``Host`` of ``origin``, as a browser would
    send it (``Accept``, ``Sec-Fetch-Dest``, ``Sec-Fetch-Mode``). An ASGI application gets the
    lifespan protocol (startup before the first request, shutdown on :meth:`close`) when it
    supports it. Use it as a context manager.

    Args:
        app: The application.
        interface: ``wsgi`` or ``asgi``.
        origin: The origin requests are made to (see :class:`DiscoverOptions`).
        timeout_s: Limit for one ASGI request, and for lifespan startup and shutdown, in
            seconds (a WSGI call is synchronous and cannot be interrupted).
    """

    def __init__(
        self,
        app: Any,
        interface: Literal["wsgi", "asgi"],
        *,
        origin: str = DEFAULT_ORIGIN,
        timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.interface = interface
        self.origin = origin
        self.timeout_s = timeout_s
        parts = urlsplit(origin)
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifespan: _Lifespan | None = None
        self._startup_error: FetchError | None = None

    def __enter__(self) -> AppSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut an ASGI application's lifespan down and close the event loop; idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._lifespan is not None:
                loop.run_until_complete(self._lifespan.shutdown(self.timeout_s))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            self._lifespan = None
            loop.close()

    def get(self, path: str, *, dest: str) -> _Response:
        """Send one ``GET`` to the application.

        Raises:
            FetchError: The application raised, sent no response, or took too long.
        """
        target, _, query = path.partition("?")
        headers = {
            "accept": _ACCEPT.get(dest, "*/*"),
            "sec-fetch-dest": dest,
            "sec-fetch-mode": "navigate" if dest == "document" else "no-cors",
            "sec-fetch-site": "none" if dest == "document" else "same-origin",
            "user-agent": "h2push-manifest",
        }
        try:
            if self.interface == "wsgi":
                return self._wsgi(unquote(target), query, headers)
            return self._asgi(target, query, headers)
        except FetchError:
            raise
        except Exception as error:  # the application's failure is a warning
            raise FetchError(
                f"GET {path}: the application raised {type(error).__name__}: {error}"
            ) from None

    def read(self, path: str, *, dest: str) -> tuple[bytes, str | None]:
        """See :meth:`Site.read`: a 2xx response with the right ``Content-Type``."""
        response = self.get(path, dest=dest)
        if 300 <= response.status < 400:
            location = response.header("location") or "?"
            raise FetchError(f"GET {path}: {response.status} redirect to {location}")
        if response.status >= 400 or response.status < 200:
            raise FetchError(f"GET {path}: {response.status}")
        content_type = response.header("content-type")
        essence = _mime_essence(content_type)
        wanted = {"document": ("text/html", "application/xhtml+xml"), "style": ("text/css",)}
        if essence and dest in wanted and essence not in wanted[dest]:
            raise FetchError(f"GET {path}: Content-Type {essence}, not {' or '.join(wanted[dest])}")
        return response.body, _charset(content_type)

    def check(self, path: str) -> str | None:
        """See :meth:`Site.check`: the status when it is not 2xx, or why the request failed."""
        try:
            response = self.get(path, dest="empty")
        except FetchError as error:
            return str(error)
        if 200 <= response.status < 300:
            return None
        return f"GET returned {response.status}"

    # -- WSGI ---------------------------------------------------------------------------------

    def _wsgi(self, path: str, query: str, headers: Mapping[str, str]) -> _Response:
        errors = io.StringIO()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self._host,
            "SERVER_PORT": str(self._port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self._netloc,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self._scheme,
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": errors,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        started: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            started.append((status, response_headers))
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise FetchError(f"GET {path}: the application did not start a response")
        status, response_headers = started[-1]
        code = int(status.split(None, 1)[0])
        if code >= 500:
            logged = [line for line in errors.getvalue().splitlines() if line.strip()]
            if logged:
                raise FetchError(f"GET {path}: {code}: {logged[-1].strip()}")
        return _Response(code, tuple(response_headers), b"".join(chunks))

    # -- ASGI ---------------------------------------------------------------------------------

    def _run(self, call: Callable[[], Awaitable[_Response]]) -> _Response:
        """Run one request on this site's event loop, starting the lifespan first."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._lifespan = _Lifespan(self.app)
            try:
                self._loop.run_until_complete(self._lifespan.startup(self.timeout_s))
            except FetchError as error:
                self._startup_error = error
        if self._startup_error is not None:
            raise self._startup_error
        return self._loop.run_until_complete(call())

    def _asgi(self, path: str, query: str, headers: Mapping[str, str]) -> _Response:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": self._scheme,
            "path": unquote(path),
            "raw_path": path.encode("ascii", "replace"),
            "query_string": query.encode("ascii", "replace"),
            "root_path": "",
            "headers": [(b"host", self._netloc.encode("ascii"))]
            + [(k.encode("ascii"), v.encode("latin-1")) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": (self._host, self._port),
            "extensions": {},
        }
        return self._run(lambda: self._asgi_call(scope))

    async def _asgi_call(self, scope: dict[str, Any]) -> _Response:
        if self._lifespan is not None and self._lifespan.supported:
            scope["state"] = dict(self._lifespan.state)  # lifespan spec: a shallow copy
        done = asyncio.Event()
        sent_request = False
        status: list[int] = []
        headers: list[tuple[str, str]] = []
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                headers.extend(
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", ())
                )
            elif message["type"] == "http.response.body":
                body.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            await asyncio.wait_for(self.app(scope, receive, send), self.timeout_s)
        except asyncio.TimeoutError:
            if not done.is_set():
                raise FetchError(
                    f"GET {scope['path']}: no response within {self.timeout_s:g} s"
                ) from None
        finally:
            done.set()
        if not status:
            raise FetchError(f"GET {scope['path']}: the application sent no response")
        return _Response(status[0], tuple(headers), b"".join(body))


class _Lifespan:
    """The ASGI lifespan protocol (startup, shutdown) for :class:`AppSite`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = False
        self.task: asyncio.Task[Any] | None = None
        self.to_app: asyncio.Queue[dict[str, Any]] | None = None
        self.from_app: asyncio.Queue[Mapping[str, Any]] | None = None

    async def startup(self, timeout_s: float) -> None:
        """Start the app's lifespan; :attr:`supported` says whether it speaks the protocol.

        Raises:
            FetchError: The application reported ``lifespan.startup.failed``.
        """
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self.to_app, self.from_app = to_app, from_app
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self.task = asyncio.ensure_future(self.app(scope, to_app.get, from_app.put))
        await to_app.put({"type": "lifespan.startup"})
        message = await self._reply(timeout_s)
        if message is None:
            return
        if message.get("type") == "lifespan.startup.failed":
            raise FetchError(f"the application failed to start: {message.get('message', '')}")
        self.supported = True

    async def shutdown(self, timeout_s: float) -> None:
        """Ask the app to shut down and wait for it, at most ``timeout_s``."""
        if self.supported and self.to_app is not None:
            await self.to_app.put({"type": "lifespan.shutdown"})
            await self._reply(timeout_s)
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task

    async def _reply(self, timeout_s: float) -> Mapping[str, Any] | None:
        """The app's next lifespan message, or None when it ended (no lifespan support)."""
        assert self.task is not None
        assert self.from_app is not None
        getter = asyncio.ensure_future(self.from_app.get())
        finished, _ = await asyncio.wait(
            {getter, self.task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if getter in finished:
            return getter.result()
        getter.cancel()
        with contextlib.suppress(BaseException):
            await getter
        if self.task in finished:
            with contextlib.suppress(BaseException):
                self.task.result()  # an app without lifespan raises here: not an error
        return None


class Stylesheets:
    """Reads and parses each stylesheet of a site once, for all its pages.

    Call it with a same-origin target (``/static/app.css``) to get its :class:`CssScan`; a
    stylesheet that cannot be read gives a scan with ``error`` set (also read only once).

    Args:
        site: Where to read stylesheets.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self._cache: dict[str, CssScan] = {}

    def __call__(self, target: str) -> CssScan:
        """Return the parsed stylesheet at ``target``."""
        scan = self._cache.get(target)
        if scan is None:
            try:
                data, charset = self.site.read(target, dest="style")
            except FetchError as error:
                scan = CssScan(error=f"stylesheet {error}")
            else:
                scan = scan_css(data, self.site.origin + target, charset=charset)
            self._cache[target] = scan
        return scan

    def __len__(self) -> int:
        return len(self._cache)


def read_page(
    site: Site,
    path: str,
    stylesheets: Callable[[str], CssScan],
    options: DiscoverOptions | None = None,
) -> PageResult:
    """Read one page of a site and discover its resources.

    Args:
        site: Where the page is.
        path: Its URL path with optional query (``/``, ``/about/index.html``), percent-encoded.
        stylesheets: A :class:`Stylesheets` of the same site.
        options: What to keep.

    Raises:
        FetchError: The page cannot be read.
    """
    data, charset = site.read(path, dest="document")
    text, warnings = decode_html(data, charset)
    result = discover_page(text, site.origin + path, stylesheets, options)
    if warnings:
        page = path.split("?", 1)[0]
        result = replace(result, warnings=tuple(f"{page}: {w}" for w in warnings) + result.warnings)
    return result
