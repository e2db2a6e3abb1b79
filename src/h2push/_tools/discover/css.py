"""What a browser fetches from a stylesheet: @import and @font-face (tinycss2, CSS Syntax 3)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import tinycss2  # type: ignore[import-untyped]

from h2push._tools.discover.html import _words
from h2push._tools.discover.models import CssScan
from h2push._tools.discover.urls import _resolve, guess_destination

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
