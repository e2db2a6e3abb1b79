"""Link header values (RFC 8288) and the :class:`Preload` declaration.

Two kinds of value live here:

* :class:`LinkValue` is any RFC 8288 §3 link-value: a target and its parameters, exactly as a
  Link header carries them. :func:`parse_link_header` reads a whole header field value into
  them; :func:`format_link_header` writes them back.
* :class:`Preload` is what h2push delivers: a resource hint (``preload``, ``modulepreload`` or
  ``preconnect``) with the attributes browsers and proxies act on (``as``, ``crossorigin``,
  ``type``, ``fetchpriority``, ``nopush``) and a ``weight`` that orders pushes.

Both check themselves on construction. Nothing that could break out of a header field value
(CR, LF, NUL or any other control character) or out of a link-value (``<``, ``>``, ``,``, ``;``,
``"``, white space in a target) can be constructed, so formatting never needs to escape a
target and never produces an injected header.

This module is part of the sans-IO core: it imports no web framework and does no I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Final

from h2push._core.errors import H2PushError

logger = logging.getLogger("h2push")

#: ``rel`` values a :class:`Preload` may carry.
RELS: Final = frozenset({"preload", "modulepreload", "preconnect"})

#: Fetch destinations allowed as ``as`` on a preload (HTML Standard, "match a preload type";
#: Fetch Standard, "destination"), plus ``fetch``.
PRELOAD_DESTINATIONS: Final = frozenset(
    {
        "audio",
        "audioworklet",
        "document",
        "embed",
        "fetch",
        "font",
        "frame",
        "iframe",
        "image",
        "json",
        "manifest",
        "object",
        "paintworklet",
        "report",
        "script",
        "serviceworker",
        "sharedworker",
        "style",
        "track",
        "video",
        "worker",
        "xslt",
    }
)

#: The longest URL a :class:`Preload` (or a :class:`LinkValue` target) may have, in characters
#: (ASCII, so bytes). Well inside one HTTP/2 frame (16,384 bytes, RFC 9113 §4.2) and one header
#: line of the common proxies (nginx ``proxy_buffer_size`` 4 KB): a pushed request's ``:path``
#: and the Link value of one preload always fit, three to a 103. A URL is HPACK-encoded into
#: the Link header and each push promise; at this length that costs a page about as much as
#: the page itself (measured with ``benchmarks/hostile.py``). Read when a value is constructed:
#: assign ``h2push._core.links.MAX_URL_CHARS`` before declaring preloads to change it.
MAX_URL_CHARS = 1024

#: ``as`` values browsers act on in a ``103 Early Hints`` preload.
HINTABLE_DESTINATIONS: Final = frozenset({"style", "script", "font", "image", "fetch"})

#: Destinations that need ``crossorigin`` even on the same origin, or the browser fetches twice.
_CORS_DESTINATIONS: Final = frozenset({"font", "fetch"})

_CROSSORIGIN: Final = frozenset({"anonymous", "use-credentials"})
_FETCHPRIORITY: Final = frozenset({"high", "low", "auto"})

# RFC 9110 §5.6.2 token characters.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN_RE: Final = re.compile(f"[{_TCHAR}]+")
_MIME_RE: Final = re.compile(f"[{_TCHAR}]+/[{_TCHAR}]+")
# A target may hold any visible ASCII character but the ones that would end it or the
# link-value early, or make the header ambiguous, and the backslash: WHATWG URL parsing reads it
# as "/" in http(s) URLs, so "/\\host/x" would name another origin (RFC 3986 has no backslash).
_TARGET_RE: Final = re.compile(r"[!#-+\--:=?-\[\]-~]+")
_ORIGIN_RE: Final = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
# Characters that may never appear in any header field value (RFC 9110 §5.5).
_CTL_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class PreloadError(H2PushError, ValueError):
    """A :class:`Preload` field with a value that cannot be sent; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class LinkValueError(H2PushError, ValueError):
    """A :class:`LinkValue` that cannot be written back as a safe header value.

    ``field`` names the part: ``target`` or the link-param's name (RFC 8288 §3).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _preview(value: str) -> str:
    return repr(value) if len(value) <= 80 else f"{value[:80]!r}..."


def _check_target(
    name: str, value: object, error: type[PreloadError | LinkValueError] = PreloadError
) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise error(name, f"{name} must not be empty")
    if len(value) > MAX_URL_CHARS:
        raise error(
            name,
            f"{name} {value[:40]!r}... is {len(value)} characters, more than the"
            f" {MAX_URL_CHARS} h2push sends (h2push._core.links.MAX_URL_CHARS)",
        )
    if not _TARGET_RE.fullmatch(value):
        bad = next(c for c in value if not _TARGET_RE.fullmatch(c))
        raise error(
            name,
            f"{name} {_preview(value)} contains {bad!r}: a Link target may not hold control"
            " characters, white space, non-ASCII characters, a backslash or any of"
            ' < > , ; " (percent-encode them)',
        )
    return value


@dataclass(frozen=True)
class LinkValue:
    """One RFC 8288 §3 link-value: ``<target>; name=value; flag``.

    Attributes:
        target: The URI-Reference between ``<`` and ``>`` (str, ASCII, no white space).
        params: The link-params in order, as ``(name, value)`` pairs of str; ``name`` is
            lower-cased (parameter names are case-insensitive, RFC 8288 §3); ``value`` is
            ``None`` for a parameter without ``=`` (such as ``nopush`` or ``crossorigin``), else
            the unquoted value.

    Raises:
        LinkValueError: The target or a parameter could not be written back as a safe header
            value (a :class:`ValueError`).
    """

    target: str
    params: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        _check_target("target", self.target, LinkValueError)
        for name, value in self.params:
            if not _TOKEN_RE.fullmatch(name):
                raise LinkValueError(
                    name, f"link-param name {name!r} is not a token (RFC 9110 §5.6.2)"
                )
            if value is not None and (_CTL_RE.search(value) or not value.isascii()):
                raise LinkValueError(
                    name, f"link-param {name!r} has a control or non-ASCII character"
                )

    def get(self, name: str) -> str | None:
        """Return the first value of parameter ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    def has(self, name: str) -> bool:
        """Whether parameter ``name`` (case-insensitive) is present, with or without a value."""
        name = name.lower()
        return any(key == name for key, _ in self.params)

    @property
    def rels(self) -> frozenset[str]:
        """The relation types of ``rel``, lower-cased (RFC 8288 §3.3: space-separated)."""
        rel = self.get("rel")
        return frozenset(rel.lower().split()) if rel else frozenset()

    def __str__(self) -> str:
        parts = [f"<{self.target}>"]
        for name, value in self.params:
            if value is None:
                parts.append(name)
            elif _TOKEN_RE.fullmatch(value):
                parts.append(f"{name}={value}")
            else:
                quoted = value.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'{name}="{quoted}"')
        return "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class PreloadFields:
    """A link to a subresource with its RFC 8288 / HTML attributes, as yet unchecked.

    The fields :class:`Preload` checks, and what manifest discovery reads from a page before it
    makes preloads of them; see :class:`Preload` for what each holds.
    """

    url: str
    rel: str = "preload"
    as_: str | None = None
    crossorigin: str | None = None
    type: str | None = None
    fetchpriority: str | None = None
    nopush: bool = False


@dataclass(frozen=True, kw_only=True)
class Preload(PreloadFields):
    """A resource h2push delivers early, by 103 Early Hints, server push or Link preload.

    ``str(preload)`` is its RFC 8288 link-value, e.g. ``</static/app.css>; rel=preload; as=style``.

    Attributes:
        url: An absolute path such as ``/static/app.css`` (same origin: may be pushed), an
            absolute ``http(s)`` URL (another origin: hinted and linked, never pushed), or for
            ``preconnect`` an origin such as ``https://fonts.example``.
        rel: ``preload`` (default), ``modulepreload`` or ``preconnect``.
        as_: The Fetch destination (``style``, ``script``, ``font``, ``image``, ``fetch``,
            ``document``, ``audio``, ``video``, ``track``, ``worker``, ...), or None.
        crossorigin: None, ``anonymous`` or ``use-credentials``. Font and fetch preloads
            default to ``anonymous``: browsers fetch those in CORS mode, and a preload without
            it is fetched twice.
        type: A MIME type such as ``font/woff2``, or None.
        fetchpriority: ``high``, ``low``, ``auto`` or None.
        nopush: Never push this resource; a proxy reading the Link header will not either.
        weight: Order of pushes, higher first (int >= 0).

    Raises:
        ValueError: A field has a value that cannot be sent, naming the field: a URL with
            CR, LF, NUL, ``<``, ``>``, ``,``, ``;``, ``"`` or white space, a relative URL, an
            unknown ``rel``, ``as``, ``crossorigin`` or ``fetchpriority``, a malformed ``type``,
            a negative weight.
        TypeError: A field has the wrong type.
    """

    weight: int = 0

    def __post_init__(self) -> None:
        _check_target("url", self.url)
        if self.rel not in RELS:
            raise PreloadError("rel", f"rel {self.rel!r} is not one of {sorted(RELS)}")
        if self.rel == "preconnect":
            if not _ORIGIN_RE.fullmatch(self.url):
                raise PreloadError(
                    "url", f"url {self.url!r} of a preconnect must be an origin like https://host"
                )
            if self.as_ is not None:
                raise PreloadError("as_", "as_ must be None for a preconnect")
        elif not (self.url.startswith("/") or self.url.startswith(("http://", "https://"))):
            raise PreloadError(
                "url",
                f"url {self.url!r} must be an absolute path such as /static/app.css"
                " or an absolute http(s) URL",
            )
        if self.as_ is not None and self.as_ not in PRELOAD_DESTINATIONS:
            raise PreloadError(
                "as_",
                f"as_ {self.as_!r} is not a fetch destination; expected one of"
                f" {sorted(PRELOAD_DESTINATIONS)}",
            )
        if self.crossorigin is None and self.as_ in _CORS_DESTINATIONS:
            object.__setattr__(self, "crossorigin", "anonymous")
        elif self.crossorigin is not None and self.crossorigin not in _CROSSORIGIN:
            raise PreloadError(
                "crossorigin",
                f"crossorigin {self.crossorigin!r} is not anonymous or use-credentials",
            )
        if self.type is not None and not (
            isinstance(self.type, str) and _MIME_RE.fullmatch(self.type)
        ):
            raise PreloadError("type", f"type {self.type!r} is not a MIME type such as font/woff2")
        if self.fetchpriority is not None and self.fetchpriority not in _FETCHPRIORITY:
            raise PreloadError(
                "fetchpriority", f"fetchpriority {self.fetchpriority!r} is not high, low or auto"
            )
        if not isinstance(self.nopush, bool):
            raise TypeError(f"nopush must be a bool, not {type(self.nopush).__name__}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int):
            raise TypeError(f"weight must be an int, not {type(self.weight).__name__}")
        if self.weight < 0:
            raise PreloadError("weight", f"weight {self.weight} must not be negative")

    @property
    def same_origin(self) -> bool:
        """Whether ``url`` is a path on the origin that serves the page (``/x``, not ``//x``)."""
        return self.url.startswith("/") and not self.url.startswith("//")

    @property
    def pushable(self) -> bool:
        """Whether HTTP/2 server push may deliver this resource (RFC 9113 §8.4).

        Only same-origin ``preload`` and ``modulepreload`` resources without ``nopush``.
        """
        return self.rel != "preconnect" and self.same_origin and not self.nopush

    @property
    def hintable(self) -> bool:
        """Whether browsers act on this value in a 103 Early Hints response (RFC 8297).

        ``preconnect`` and ``modulepreload`` always; ``preload`` only with an ``as`` of
        style, script, font, image or fetch.
        """
        if self.rel == "preload":
            return self.as_ in HINTABLE_DESTINATIONS
        return True

    def link_value(self, *, nopush: bool | None = None) -> LinkValue:
        """This preload as a :class:`LinkValue`; ``nopush`` overrides the field when given."""
        params: list[tuple[str, str | None]] = [("rel", self.rel)]
        if self.as_ is not None:
            params.append(("as", self.as_))
        if self.type is not None:
            params.append(("type", self.type))
        if self.crossorigin == "anonymous":
            params.append(("crossorigin", None))
        elif self.crossorigin is not None:
            params.append(("crossorigin", self.crossorigin))
        if self.fetchpriority is not None:
            params.append(("fetchpriority", self.fetchpriority))
        if self.nopush if nopush is None else nopush:
            params.append(("nopush", None))
        return LinkValue(self.url, tuple(params))

    @cached_property
    def _text(self) -> str:
        return str(self.link_value())

    @cached_property
    def hint_text(self) -> str:
        """The link-value for a 103 Early Hints: without ``nopush``, which Chromium rejects."""
        return str(self.link_value(nopush=False))

    @cached_property
    def as_nopush(self) -> Preload:
        """This preload with ``nopush`` set (made once per preload, then reused)."""
        return self if self.nopush else replace(self, nopush=True)

    def __str__(self) -> str:
        return self._text

    @classmethod
    def from_link_value(cls, value: LinkValue, *, weight: int = 0) -> Preload:
        """Read a Preload from a parsed link-value.

        Args:
            value: A link-value whose ``rel`` includes preload, modulepreload or preconnect.
            weight: The weight to give it (a Link header carries none).

        Raises:
            ValueError: The link-value is not a resource hint h2push understands, or one of its
                attributes is invalid (see :class:`Preload`).
        """
        rels = value.rels & RELS
        if len(rels) != 1:
            raise ValueError(
                f"<{value.target}> has rel {value.get('rel')!r}, not one resource hint"
            )
        crossorigin = value.get("crossorigin")
        if value.has("crossorigin") and not crossorigin:
            crossorigin = "anonymous"  # the bare attribute means anonymous (HTML Standard)
        return cls(
            url=value.target,
            rel=next(iter(rels)),
            as_=value.get("as"),
            crossorigin=crossorigin.lower() if crossorigin else None,
            type=value.get("type"),
            fetchpriority=value.get("fetchpriority"),
            nopush=value.has("nopush"),
            weight=weight,
        )


_PUSH_FLAGS: Final = {
    "crossorigin": ("crossorigin", "anonymous"),
    "nopush": ("nopush", True),
}
_PUSH_ATTRS: Final = frozenset(
    {"rel", "as_", "crossorigin", "type", "fetchpriority", "nopush", "weight"}
)


def preload_fields(flags: Sequence[object], attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Translate Flask-Firehose's ``push(url, *flags, **attrs)`` call shape into Preload fields.

    Every adapter's ``push()`` accepts it: ``push(url, 'crossorigin', 'nopush', rel='preload',
    as='font')``. Flags are ``crossorigin`` and ``nopush``; ``as`` and ``as_`` both name the
    Fetch destination; ``crossorigin=True`` (or ``""``, the bare HTML attribute) means
    ``anonymous`` and ``False`` none.

    Args:
        flags: The positional flags (str).
        attrs: The keyword attributes.

    Returns:
        Keyword arguments for :class:`Preload` (without ``url``).

    Raises:
        TypeError: A flag that is not a str, an unknown attribute, or one given twice.
        ValueError: An unknown flag.
    """
    fields: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if name in fields:
            raise TypeError(f"push() got {name!r} twice")
        fields[name] = value

    for flag in flags:
        if not isinstance(flag, str):
            raise TypeError(f"push() flags must be str, not {type(flag).__name__}")
        if flag not in _PUSH_FLAGS:
            raise ValueError(f"push() flag {flag!r} is not one of {sorted(_PUSH_FLAGS)}")
        put(*_PUSH_FLAGS[flag])
    for key, value in attrs.items():
        name = "as_" if key == "as" else key
        if name not in _PUSH_ATTRS:
            raise TypeError(f"push() got an unknown attribute {key!r}")
        if name == "crossorigin" and isinstance(value, (bool, str)) and value in (True, ""):
            put(name, "anonymous")  # the bare HTML attribute means anonymous
        elif name == "crossorigin" and value is False:
            put(name, None)
        else:
            put(name, value)
    return fields


def user_preload(
    url: object, flags: Sequence[object], attrs: Mapping[str, Any], *, strict: bool = False
) -> Preload | None:
    """The :class:`Preload` of a ``push()`` call, or None when a value cannot be sent.

    Every adapter's ``push()`` goes through here. A template that pushes user data
    (``{{ push(request.args['u'], as='style') }}``) must not turn a hostile value into an error
    page: a URL too long (:data:`MAX_URL_CHARS`), with CR, LF, NUL, a backslash or white space,
    or an attribute that is not allowed drops this preload with one warning on the ``h2push``
    logger (the value cut to a readable length), and the page goes out without it.

    Args:
        url: The URL given to ``push()``.
        flags: The positional flags, as :func:`preload_fields` takes them.
        attrs: The keyword attributes, as :func:`preload_fields` takes them.
        strict: Raise instead of dropping.

    Returns:
        The preload, or None when it was dropped.

    Raises:
        ValueError: Only with ``strict=True``: a value that cannot be sent, or an unknown
            flag (:class:`PreloadError` names the field).
        TypeError: A field of the wrong type, an unknown attribute or one given twice (a
            programming error, never dropped).
    """
    try:
        return Preload(url=url, **preload_fields(flags, attrs))  # type: ignore[arg-type]
    except ValueError as error:
        if strict:
            raise
        message = str(error)
        logger.warning(
            "h2push: push() preload dropped, the page goes out without it: %s",
            message if len(message) <= 300 else message[:300] + "...",
        )
        return None


def format_link_header(values: Iterable[Preload | LinkValue]) -> str:
    """Join link-values into one Link header field value (RFC 8288 §3), comma-separated.

    Returns an empty str for no values. The result never holds CR, LF or NUL: every value
    checked itself when it was constructed.
    """
    return ", ".join(str(value) for value in values)


class _Scanner:
    """A cursor over a Link header field value, for :func:`parse_link_header`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ows(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        match = _TOKEN_RE.match(self.text, self.pos)
        if not match:
            raise ValueError(f"expected a token at offset {self.pos}")
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> str:
        # RFC 9110 §5.6.4: DQUOTE *( qdtext / quoted-pair ) DQUOTE
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                char = self.text[self.pos]
            out.append(char)
            self.pos += 1
        raise ValueError("unterminated quoted-string")

    def skip_to_next_value(self) -> bool:
        """Move past the next top-level comma (outside quotes and angle brackets).

        Returns whether there was one: False when the text ended first.
        """
        in_quotes = in_target = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if in_quotes:
                if char == "\\":
                    self.pos += 1
                elif char == '"':
                    in_quotes = False
            elif in_target:
                in_target = char != ">"
            elif char == '"':
                in_quotes = True
            elif char == "<":
                in_target = True
            elif char == ",":
                return True
        return False

    def link_value(self) -> LinkValue:
        if self.peek() != "<":
            raise ValueError(f"expected '<' at offset {self.pos}")
        end = self.text.find(">", self.pos)
        if end < 0:
            raise ValueError("unterminated '<'")
        target = self.text[self.pos + 1 : end]
        self.pos = end + 1
        params: list[tuple[str, str | None]] = []
        while True:
            self.skip_ows()
            if self.peek() in ("", ","):
                return LinkValue(target, tuple(params))
            if self.peek() != ";":
                raise ValueError(f"expected ';' or ',' at offset {self.pos}")
            self.pos += 1
            self.skip_ows()
            if self.peek() in ("", ",", ";"):
                continue  # an empty parameter, as in "<x>; ; rel=preload"
            name = self.token().lower()
            self.skip_ows()  # BWS
            value: str | None = None
            if self.peek() == "=":
                self.pos += 1
                self.skip_ows()
                value = self.quoted_string() if self.peek() == '"' else self.token()
            params.append((name, value))


def split_link_header(text: str) -> list[str]:
    """Split a Link field value at the commas between its link-values (RFC 8288 §3).

    Commas inside ``<...>`` and inside quoted strings (RFC 9110 §5.6.4) do not split. Each
    link-value is returned as written, stripped of white space at its ends, malformed or not;
    empty list elements are left out.

    Args:
        text: The field value (str); several field lines may be joined with ``", "``.

    Returns:
        The link-values' texts, in order.
    """
    scanner = _Scanner(text)
    values: list[str] = []
    while scanner.pos < len(text):
        start = scanner.pos
        comma = scanner.skip_to_next_value()
        value = text[start : scanner.pos - 1 if comma else scanner.pos].strip()
        if value:
            values.append(value)
    return values


def parse_link_header(text: str, *, strict: bool = False) -> list[LinkValue]:
    """Parse a Link header field value into its link-values (RFC 8288 §3).

    Handles quoted strings (with backslash escapes, RFC 9110 §5.6.4) holding commas and
    semicolons, parameters without a value, several ``rel`` values, empty list elements, and
    several field lines joined with ``,``.

    Args:
        text: The field value (str); several field lines may be joined with ``", "``.
        strict: Raise on a malformed link-value instead of skipping it.

    Returns:
        The link-values in order; malformed ones are left out unless ``strict``.

    Raises:
        ValueError: Only with ``strict=True``, on the first malformed link-value.
    """
    scanner = _Scanner(text)
    values: list[LinkValue] = []
    while True:
        scanner.skip_ows()
        while scanner.peek() == ",":
            scanner.pos += 1
            scanner.skip_ows()
        if not scanner.peek():
            return values
        start = scanner.pos
        try:
            values.append(scanner.link_value())
        except ValueError as error:
            if strict:
                raise ValueError(f"malformed link-value at offset {start}: {error}") from None
            scanner.pos = start
            scanner.skip_to_next_value()
            continue
        scanner.skip_ows()
        if scanner.peek() == ",":
            scanner.pos += 1


def _preload_keys(values: Iterable[LinkValue | Preload]) -> Iterator[tuple[str, str]]:
    for value in values:
        if isinstance(value, Preload):
            yield value.url, value.rel
        else:
            for rel in value.rels & RELS:
                yield value.target, rel


def link_additions(existing: str | None, additions: Iterable[Preload | LinkValue]) -> str | None:
    """The part of ``additions`` that a Link header the application set does not already hold.

    A value whose target and resource-hint ``rel`` the existing header (or an earlier
    addition) already has is left out, so a preload declared twice is sent once.

    Args:
        existing: The Link field value(s) the application set, joined with ``", "``, or None.
        additions: What h2push adds, in order.

    Returns:
        A Link field value (str) to send after the application's, or None when nothing is new.
    """
    seen = set(_preload_keys(parse_link_header(existing))) if existing else set()
    extra: list[str] = []
    for value in additions:
        keys = set(_preload_keys([value]))
        if keys and keys <= seen:
            continue
        seen |= keys
        extra.append(str(value))
    return ", ".join(extra) or None


def merge_link_header(existing: str | None, additions: Iterable[Preload | LinkValue]) -> str | None:
    """Append link-values to a Link header the application set, never overwriting it.

    Args:
        existing: The Link field value(s) the application set, joined with ``", "``, or None.
        additions: What h2push adds, in order (see :func:`link_additions` for duplicates).

    Returns:
        The merged field value (str): the existing value unchanged, then the new values; None
        when both are empty.
    """
    extra = link_additions(existing, additions)
    return ", ".join(part for part in (existing, extra) if part) or None
