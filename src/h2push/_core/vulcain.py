"""Vulcain ``Preload``: which URLs of a JSON document a client asks to have pushed.

A client names the relations it is going to follow with a ``Preload`` request header
(draft-dunglas-vulcain-03, §3): a Structured Field List (RFC 8941 §3.1) of strings, each a JSON
Pointer (RFC 6901) into the response's JSON document, where the reference token ``*`` stands
for every element of an array or every value of an object::

    Preload: "/items/*", "/author"

A pointer that reaches a string names a URL to push. A pointer that reaches a string before
its end (``"/items/*/author"`` at ``"/items/1"``) names a URL to push *and* the rest of the
pointer (``"/author"``), which is passed on as the ``Preload`` header of the pushed request, so
the server can go on for the pushed resource. The ``Fields`` request header (§4) has the same
syntax and is parsed by :func:`parse_fields`.

Pure functions, no I/O. Every cost a client controls has a limit: the header's size
(:data:`MAX_HEADER_BYTES`), the number of pointers (:data:`MAX_POINTERS`), a pointer's depth
(:data:`MAX_POINTER_TOKENS`), the nodes visited in the document (``max_visits``) and the URLs
selected (``max_urls``). A header that breaks a limit or the syntax raises
:class:`PreloadHeaderError`;
the server then ignores it, as RFC 8941 §4.2 asks of a field that fails to parse.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from h2push._core.errors import H2PushError

#: The longest ``Preload`` (or ``Fields``) value parsed, in bytes (all field lines joined).
MAX_HEADER_BYTES: Final = 4096
#: The most JSON Pointers one header may hold.
MAX_POINTERS: Final = 32
#: The most reference tokens one pointer may hold (``/a/*/b`` holds 3).
MAX_POINTER_TOKENS: Final = 16
#: The most URLs :func:`select` returns unless told otherwise.
DEFAULT_MAX_URLS: Final = 100
#: The most document nodes :func:`select` visits, over all pointers, unless told otherwise.
DEFAULT_MAX_VISITS: Final = 10_000
#: The longest URL string :func:`same_origin_path` accepts, in characters.
MAX_URL_CHARS: Final = 2048

WILDCARD: Final = "*"

_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
_BYTES = re.compile(r":[A-Za-z0-9+/=]*:")
# Characters a selected URL may not hold: controls, space, and what would break a Link value.
_BAD_URL = re.compile(r"[\x00-\x20\x7f<>\"\\,;]")


class PreloadHeaderError(H2PushError, ValueError):
    """A ``Preload`` or ``Fields`` value that breaks RFC 8941, RFC 6901 or a limit.

    Attributes:
        field: The header's name (str), ``Preload`` or ``Fields``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Selected:
    """A URL a pointer selected, and the pointers to pass on to its request.

    Attributes:
        url: The string found in the document (str), as it is: resolve it with
            :func:`same_origin_path`.
        preload: The rest of each pointer that went through this URL (tuple of JSON Pointer
            str), in header order; empty when every pointer ended here. Send them as the
            pushed request's ``Preload`` header (:func:`format_preload`).
    """

    url: str
    preload: tuple[str, ...] = ()


# --------------------------------------------------------------------------- header syntax


def parse_preload(value: str | bytes) -> tuple[str, ...]:
    """The JSON Pointers of a ``Preload`` header (draft-dunglas-vulcain §3), in order.

    Args:
        value: The field value (str, or bytes as ASGI gives it, decoded as Latin-1); several
            field lines are joined with ``", "`` first (RFC 9110 §5.3).

    Returns:
        The pointers (str), each checked by :func:`parse_pointer`; duplicates dropped.

    Raises:
        PreloadHeaderError: The value is not a list of strings (RFC 8941 §4.2.1; parameters are
            allowed and ignored), a string is not a JSON Pointer, or a limit is broken
            (:data:`MAX_HEADER_BYTES`, :data:`MAX_POINTERS`, :data:`MAX_POINTER_TOKENS`).
    """
    return _parse_list(value, "Preload")


def parse_fields(value: str | bytes) -> tuple[str, ...]:
    """The JSON Pointers of a ``Fields`` header (draft-dunglas-vulcain §4).

    The syntax and limits are :func:`parse_preload`'s.

    Raises:
        PreloadHeaderError: As :func:`parse_preload`, naming ``Fields``.
    """
    return _parse_list(value, "Fields")


def _parse_list(value: str | bytes, field: str) -> tuple[str, ...]:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if len(value) > MAX_HEADER_BYTES:
        raise PreloadHeaderError(field, f"longer than {MAX_HEADER_BYTES} bytes")
    parser = _Parser(value, field)
    pointers: list[str] = []
    parser.skip(" ")
    if parser.at_end():
        return ()
    while True:
        pointer = parser.string()
        parser.parameters()
        parse_pointer(pointer, field=field)
        if pointer not in pointers:
            pointers.append(pointer)
            if len(pointers) > MAX_POINTERS:
                raise PreloadHeaderError(field, f"more than {MAX_POINTERS} pointers")
        parser.skip(" \t")
        if parser.at_end():
            return tuple(pointers)
        parser.expect(",")
        parser.skip(" \t")
        if parser.at_end():
            raise PreloadHeaderError(field, "a list may not end with ','")


class _Parser:
    """A cursor over a Structured Field value (RFC 8941 §4.2)."""

    __slots__ = ("field", "pos", "text")

    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, what: str) -> PreloadHeaderError:
        return PreloadHeaderError(self.field, f"{what} at character {self.pos}")

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def expect(self, char: str) -> None:
        if self.text[self.pos : self.pos + 1] != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def string(self) -> str:
        """An sf-string (RFC 8941 §4.2.5)."""
        if self.text[self.pos : self.pos + 1] != '"':
            raise self.fail("expected a string in double quotes")
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.text[self.pos : self.pos + 1]
                if escaped not in ('"', "\\"):
                    raise self.fail("a backslash escapes only '\"' and '\\'")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise self.fail("a string holds printable ASCII only")
            else:
                out.append(char)
        raise self.fail("a string is not closed")

    def parameters(self) -> None:
        """Parameters (RFC 8941 §4.2.3.2), checked and ignored."""
        while self.text[self.pos : self.pos + 1] == ";":
            self.pos += 1
            self.skip(" ")
            self.match(_KEY, "a parameter key")
            if self.text[self.pos : self.pos + 1] == "=":
                self.pos += 1
                self.bare_item()

    def bare_item(self) -> None:
        char = self.text[self.pos : self.pos + 1]
        if char == '"':
            self.string()
        elif char == "?":
            self.pos += 1
            if self.text[self.pos : self.pos + 1] not in ("0", "1"):
                raise self.fail("a boolean is ?0 or ?1")
            self.pos += 1
        elif char == ":":
            self.match(_BYTES, "a byte sequence")
        elif char == "-" or char.isdigit():
            self.match(_NUMBER, "a number")
        else:
            self.match(_TOKEN, "a parameter value")

    def match(self, pattern: re.Pattern[str], what: str) -> None:
        found = pattern.match(self.text, self.pos)
        if found is None:
            raise self.fail(f"expected {what}")
        self.pos = found.end()


def format_preload(pointers: Iterable[str]) -> str:
    """A ``Preload`` value for ``pointers``: the inverse of :func:`parse_preload`.

    Raises:
        PreloadHeaderError: A pointer is not a JSON Pointer or holds a character an sf-string
            cannot (outside printable ASCII).
    """
    items = []
    for pointer in pointers:
        parse_pointer(pointer)
        if any(not " " <= char <= "~" for char in pointer):
            raise PreloadHeaderError(
                "Preload", f"{pointer!r} holds a character outside printable ASCII"
            )
        items.append('"' + pointer.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ", ".join(items)


# --------------------------------------------------------------------------- JSON Pointer


def parse_pointer(pointer: str, *, field: str = "Preload") -> tuple[str, ...]:
    """The reference tokens of a JSON Pointer (RFC 6901 §3), unescaped (``~1`` is ``/``).

    Raises:
        PreloadHeaderError: ``pointer`` is neither empty nor starts with ``/``, holds a ``~`` not
            followed by ``0`` or ``1``, or has more than :data:`MAX_POINTER_TOKENS` tokens.
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise PreloadHeaderError(
            field, f"{pointer!r} is not a JSON Pointer: it must start with '/'"
        )
    tokens = pointer[1:].split("/")
    if len(tokens) > MAX_POINTER_TOKENS:
        raise PreloadHeaderError(field, f"{pointer!r} is deeper than {MAX_POINTER_TOKENS} tokens")
    if "~" in pointer:
        if re.search(r"~(?![01])", pointer):
            raise PreloadHeaderError(field, f"{pointer!r}: '~' must be followed by '0' or '1'")
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in tokens]
    return tuple(tokens)


def format_pointer(tokens: Sequence[str]) -> str:
    """The JSON Pointer of ``tokens`` (RFC 6901 §3): the inverse of :func:`parse_pointer`."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


# --------------------------------------------------------------------------- selection


def select(
    document: Any,
    pointers: Sequence[str],
    *,
    max_urls: int = DEFAULT_MAX_URLS,
    max_visits: int = DEFAULT_MAX_VISITS,
) -> list[Selected]:
    """The URL strings of ``document`` that ``pointers`` select, and what to pass on to each.

    A pointer walks the document (a value :func:`json.loads` returns); ``*`` walks every element
    of an array and every value of an object. Where it reaches a string it selects that string:
    the tokens left, if any, become a pointer passed on to that URL's request. Numbers, booleans,
    null, and arrays or objects where a pointer ends select nothing.

    Args:
        document: The parsed JSON document.
        pointers: JSON Pointers (:func:`parse_preload`'s output).
        max_urls: The most URLs returned (int >= 0); later ones are dropped.
        max_visits: The most document nodes visited over all pointers (int >= 0); the walk
            stops there, returning what it found.

    Returns:
        One :class:`Selected` per distinct URL string, in document order per pointer.

    Raises:
        PreloadHeaderError: A pointer is not a JSON Pointer (:func:`parse_pointer`).
    """
    found: dict[str, list[str]] = {}
    budget = [max_visits]

    def visit(node: Any, tokens: tuple[str, ...], depth: int) -> None:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if isinstance(node, str):
            nested = found.get(node)
            if nested is None:
                if len(found) >= max_urls:
                    return
                nested = found[node] = []
            if depth < len(tokens):
                rest = format_pointer(tokens[depth:])
                if rest not in nested:
                    nested.append(rest)
            return
        if depth >= len(tokens):
            return
        token = tokens[depth]
        if isinstance(node, list):
            if token == WILDCARD:
                for child in node:
                    visit(child, tokens, depth + 1)
            elif _INDEX.fullmatch(token) and int(token) < len(node):
                visit(node[int(token)], tokens, depth + 1)
        elif isinstance(node, dict):
            if token == WILDCARD:
                for child in node.values():
                    visit(child, tokens, depth + 1)
            elif token in node:
                visit(node[token], tokens, depth + 1)

    for pointer in pointers:
        visit(document, parse_pointer(pointer), 0)
    return [Selected(url, tuple(nested)) for url, nested in found.items()]


def same_origin_path(url: str, *, base_path: str, scheme: str, authority: str) -> str | None:
    r"""The path (and query) of ``url`` when it is on the origin ``scheme://authority``.

    A relative URL is resolved against ``base_path`` (RFC 3986 §5.2); the fragment is dropped.

    Args:
        url: A URL string found in a document.
        base_path: The path of the request whose response held it (``/items``).
        scheme: ``https`` or ``http``.
        authority: The request's ``Host`` (``host[:port]``), compared case-insensitively.

    Returns:
        ``/path?query`` (str), or None for another origin, a malformed URL, one longer than
        :data:`MAX_URL_CHARS`, or one holding a control character, a space, ``<``, ``>``,
        ``"``, ``\\``, ``,`` or ``;``.
    """
    if not url or len(url) > MAX_URL_CHARS or _BAD_URL.search(url):
        return None
    base = f"{scheme}://{authority}{base_path if base_path.startswith('/') else '/'}"
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(base, url))
    except ValueError:
        return None
    if parts.scheme.lower() != scheme.lower() or parts.netloc.lower() != authority.lower():
        return None
    path = parts.path or "/"
    if not path.startswith("/") or _BAD_URL.search(path):
        return None
    return f"{path}?{parts.query}" if parts.query else path
