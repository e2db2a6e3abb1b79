"""Discovery's plain values: weights, references, scans, options and page results."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from h2push._core.errors import H2PushError
from h2push._core.links import Preload, PreloadFields

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
class Reference(PreloadFields):
    """One subresource a page or stylesheet references; its link fields are not checked yet.

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

    weight: Weight
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
