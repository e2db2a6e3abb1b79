"""What a browser fetches from an HTML document (HTML Standard), and srcset selection."""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urljoin

from h2push._core.links import PRELOAD_DESTINATIONS
from h2push._tools.discover.models import HtmlScan, InlineStyle, Reference, Weight
from h2push._tools.discover.urls import _resolve, guess_destination

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
