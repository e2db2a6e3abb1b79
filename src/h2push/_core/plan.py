"""The per-request plan: which preloads go out as 103 Early Hints, push promises and Link values.

:func:`plan` is a pure function, like h2's ``receive_data``: request facts and candidate
preloads in, a :class:`Plan` out. Adapters gather the facts from their framework, call it, and
carry the plan out; they decide nothing themselves.

The rules (see DESIGN.md, "The plan for one request"):

* Early hints go only to navigation requests (:func:`is_navigation`), only for
  ``preload``/``modulepreload``/``preconnect`` values browsers act on (RFC 8297; preload
  ``as`` in style, script, font, image, fetch), and only when the server can send a 103.
* Pushes (RFC 9113 §8.4) are same-origin paths without ``nopush`` that the client is not known
  to have, highest weight first, at most ``max_pushes``; never for HEAD or any other method but
  GET, never from a pushed request, never when the server or client cannot push.
* The Link header carries every candidate; the ones h2push pushed itself, and the ones the
  client is known to have, carry ``nopush`` so a proxy in front does not push them (again).
  The 103's links never carry it: Chromium ignores a hint that does.
  It is merged after the application's own Link value, never over it
  (:func:`h2push._core.links.merge_link_header`).
* ``remember`` is what the client receives through this plan: pushed and hinted URLs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from functools import cached_property

from h2push._core.links import Preload, format_link_header

#: Pushes per response unless configured otherwise (nginx's ``http2_max_concurrent_pushes``).
DEFAULT_MAX_PUSHES = 10

#: The most bytes of Link values in one 103 Early Hints (the values joined by ``", "``), unless
#: :func:`plan` is given ``max_early_hints_bytes``. Like the other limits here it is read on
#: each call: assign ``h2push._core.plan.MAX_EARLY_HINTS_BYTES`` at start-up to change it for every
#: adapter. nginx drops a 103 larger than its
#: ``proxy_buffer_size`` (4 KB on most platforms), status line and framing included.
MAX_EARLY_HINTS_BYTES = 3072

#: The most bytes of the Link field value h2push adds to one response, unless :func:`plan` is
#: given ``max_link_bytes``: with the application's own headers it stays within nginx's 4 KB
#: ``proxy_buffer_size`` (a larger response head is a 502 there).
MAX_LINK_BYTES = 3072

#: The longest ``accept-encoding``, ``accept-language`` or ``user-agent`` value copied from a
#: request into its push promises (bytes); a longer or non-ASCII one is left out. A browser's
#: are under 300 bytes; HPACK-encoding a long one for every push costs the server dearly.
MAX_INHERITED_VALUE_BYTES = 512

logger = logging.getLogger("h2push")

_ACCEPT_FOR = {
    "style": "text/css,*/*;q=0.1",
    "script": "*/*",
    "font": "*/*",
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "document": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
# Request headers a pushed request inherits from the request that caused it, so the pushed
# response is what the client would have got (content coding, language, user agent).
_INHERITED = (b"accept-encoding", b"accept-language", b"user-agent")
_VISIBLE = re.compile(rb"[\x20-\x7e]*")


def is_navigation(sec_fetch_mode: str | None, accept: str | None) -> bool:
    """Whether a request is a browser navigation (a page load, not a subresource).

    ``Sec-Fetch-Mode: navigate`` says so (Fetch Metadata); without Fetch Metadata an
    ``Accept`` that names ``text/html`` does. ``Accept: */*`` alone is not a navigation.

    Args:
        sec_fetch_mode: The ``Sec-Fetch-Mode`` request header value, or None when absent.
        accept: The ``Accept`` request header value, or None when absent.
    """
    if sec_fetch_mode is not None:
        return sec_fetch_mode.strip().lower() == "navigate"
    return accept is not None and "text/html" in accept.lower()


def is_page(content_type: str | bytes | None) -> bool:
    """Whether a response is a page: its ``Content-Type`` media type is HTML or XHTML.

    Only pages are given pushes once the application has answered, and only pages carry a
    tracker's cookie: a browser uses pushed and hinted resources for a document it renders,
    and a proxy's or script's requests for anything else say nothing about what it has.

    Args:
        content_type: The response's ``Content-Type`` field value (str or latin-1 bytes), or
            None when it has none.
    """
    if not content_type:
        return False
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    media_type = text.split(";", 1)[0].strip().lower()
    return media_type in {"text/html", "application/xhtml+xml"}


@dataclass(frozen=True, kw_only=True)
class RequestFacts:
    """What :func:`plan` needs to know about one request and the server handling it.

    Attributes:
        method: The request method, e.g. ``GET`` (str, upper case).
        path: The request path without query string (str).
        navigation: Whether it is a browser navigation (:func:`is_navigation`).
        can_early_hint: Whether the server can send a 103 now (ASGI
            ``http.response.early_hint``, WSGI ``wsgi.early_hints``).
        can_push: Whether the server offers push for this request (ASGI
            ``http.response.push``). A client's ``SETTINGS_ENABLE_PUSH=0`` is the server's to
            honour: Hypercorn drops refused pushes silently.
        pushed: Whether the request is itself a pushed request (never push from one).
    """

    method: str = "GET"
    path: str = "/"
    navigation: bool = False
    can_early_hint: bool = False
    can_push: bool = False
    pushed: bool = False


@dataclass(frozen=True)
class Plan:
    """What to send for one request; see the module docstring for the rules.

    Attributes:
        early_hints: The preloads of the single 103 response, in order; empty for none.
        pushes: The preloads to push, in push order (highest weight first).
        links: Every candidate preload for the final response's Link header; pushed and known
            ones marked ``nopush``.
        remember: The URLs this plan delivers (pushed or hinted), for the client's known set.
    """

    early_hints: tuple[Preload, ...] = ()
    pushes: tuple[Preload, ...] = ()
    links: tuple[Preload, ...] = ()
    remember: frozenset[str] = frozenset()

    @property
    def early_hint_values(self) -> list[str]:
        """The 103's Link field values (str), one per preload, never with ``nopush``.

        ``nopush`` is for proxies reading the final response; Chromium ignores a hinted
        preload that carries it (seen with Chromium 156).
        """
        return [p.hint_text for p in self.early_hints]

    @property
    def early_hint_links(self) -> list[bytes]:
        """:attr:`early_hint_values` as bytes (the ASGI ``links`` shape)."""
        return [p.hint_text.encode("ascii") for p in self.early_hints]

    @cached_property
    def link_header(self) -> str | None:
        """The Link field value h2push adds to the final response (str), or None."""
        return format_link_header(self.links) or None


_EMPTY_PLAN = Plan()


def plan(
    request: RequestFacts,
    candidates: Iterable[Preload],
    *,
    known: Container[str] = frozenset(),
    max_pushes: int = DEFAULT_MAX_PUSHES,
    early_hints: bool = True,
    push: bool = True,
    max_early_hints_bytes: int | None = None,
    max_link_bytes: int | None = None,
    link_bytes_used: int = 0,
) -> Plan:
    """Decide what to send for one request.

    Args:
        request: The request facts.
        candidates: The preloads declared for this request (manifest, decorator and ``push()``
            calls), in declaration order; a URL declared twice counts once, at its first
            place, and the order after sorting by weight (stable) is the push order.
        known: URLs the client is believed to have (a tracker or cache digest); never pushed,
            still hinted, and linked with ``nopush``.
        max_pushes: The most push promises for this response (int >= 0).
        early_hints: Whether early hints are enabled at all.
        push: Whether push is enabled at all.
        max_early_hints_bytes: The most bytes of Link values in the 103 (joined by ``", "``);
            the lowest-weight hints that do not fit are left out, with one log line. None:
            :data:`MAX_EARLY_HINTS_BYTES` as it is when called.
        max_link_bytes: The most bytes of the Link field value; the lowest-weight values that
            do not fit are left out of it, with one log line (they may still be pushed). None:
            :data:`MAX_LINK_BYTES` as it is when called.
        link_bytes_used: Bytes of the same Link header an earlier plan for this response
            already took (its :attr:`Plan.link_header` and a ``", "``): one budget for both.

    Returns:
        The :class:`Plan`; an empty one for requests that get nothing.

    Raises:
        ValueError: ``max_pushes`` is negative.
    """
    if max_pushes < 0:
        raise ValueError(f"max_pushes {max_pushes} must not be negative")
    budgets = (
        MAX_EARLY_HINTS_BYTES if max_early_hints_bytes is None else max_early_hints_bytes,
        (MAX_LINK_BYTES if max_link_bytes is None else max_link_bytes) - link_bytes_used,
    )
    return _plan(
        request, candidates, known, max_pushes, early_hints=early_hints, push=push, budgets=budgets
    )


def _plan(
    request: RequestFacts,
    candidates: Iterable[Preload],
    known: Container[str],
    max_pushes: int,
    *,
    early_hints: bool,
    push: bool,
    budgets: tuple[int, int],
) -> Plan:
    seen: set[tuple[str, str]] = set()
    unique: list[Preload] = []
    for preload in candidates:
        key = (preload.url, preload.rel)
        if key not in seen:
            seen.add(key)
            unique.append(preload)
    if not unique:
        return _EMPTY_PLAN
    ordered = sorted(unique, key=lambda p: -p.weight)

    hints: tuple[Preload, ...] = ()
    if early_hints and request.can_early_hint and request.navigation and not request.pushed:
        hints = _within(
            [p for p in ordered if p.hintable], budgets[0], "103 Early Hints", request.path
        )

    pushes: tuple[Preload, ...] = ()
    if push and request.can_push and request.method == "GET" and not request.pushed:
        pushes = tuple(p for p in ordered if p.pushable and p.url not in known)[:max_pushes]

    # What h2push pushed, and what the client already has, must not be pushed by a proxy that
    # reads the Link header (nginx, h2o). The 103's links stay as they are: Chromium ignores a
    # hinted preload that carries nopush (seen with Chromium 156), and browsers are who the 103
    # is for. (h2o also pushes from an upstream's 103: behind it, send none; see H2Push proxy.)
    pushed = set(pushes)

    def for_proxies(preload: Preload) -> Preload:
        if preload in pushed or (preload.pushable and preload.url in known):
            return preload.as_nopush
        return preload

    links = _within(list(map(for_proxies, ordered)), budgets[1], "Link header", request.path)
    return Plan(
        early_hints=hints,
        pushes=pushes,
        links=links,
        remember=frozenset(p.url for p in (*hints, *pushes)),
    )


def _within(preloads: list[Preload], budget: int, what: str, path: str) -> tuple[Preload, ...]:
    """The preloads (highest weight first) whose link-values fit ``budget`` bytes, joined."""
    used = -2
    kept: list[Preload] = []
    for preload in preloads:
        size = len(str(preload)) + 2  # ASCII: characters are bytes; ", " between values
        if used + size <= budget:
            kept.append(preload)
            used += size
    if len(kept) < len(preloads):
        logger.warning(
            "h2push: %d of %d preloads left out of the %s of %.80s: more than %d bytes",
            len(preloads) - len(kept),
            len(preloads),
            what,
            path,
            budget,
        )
    return tuple(kept)


def delivered(
    *,
    hinted: Iterable[Preload] = (),
    pushed: Iterable[Preload] = (),
    linked: Iterable[Preload] = (),
    navigation: bool = False,
    http2: bool = False,
) -> frozenset[str]:
    """The same-origin URLs one response delivered, for the client's tracker to remember.

    Counted: what a 103 that was sent hinted, what push messages that were sent pushed, and the
    response's Link preloads when the request was a browser navigation over HTTP/2 or later
    (the browser fetches those while it reads the page). Nothing else: a Link header on an
    HTTP/1.1 response may be read by a proxy or by nobody, so it proves nothing.

    Args:
        hinted: The preloads of the 103 that was actually sent.
        pushed: The preloads whose push messages were actually sent.
        linked: The preloads of the final response's Link header.
        navigation: Whether the request was a navigation (:func:`is_navigation`).
        http2: Whether the request came over HTTP/2 or HTTP/3.

    Returns:
        The delivered URLs (str), preconnect origins and other origins left out.
    """
    urls = {p.url for p in (*hinted, *pushed) if p.same_origin and p.rel != "preconnect"}
    if navigation and http2:
        urls.update(p.url for p in linked if p.same_origin and p.rel != "preconnect")
    return frozenset(urls)


def push_headers(
    preload: Preload, request_headers: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The request headers of a push promise for ``preload`` (RFC 9113 §8.4.1).

    The server adds ``:method``, ``:scheme``, ``:authority`` and ``:path``. These are the
    regular headers: an ``accept`` suited to the destination, and ``accept-encoding``,
    ``accept-language`` and ``user-agent`` copied from the request that caused the push, so
    the pushed response matches what the client would have fetched. Cookies are not copied,
    and neither is a value longer than :data:`MAX_INHERITED_VALUE_BYTES` bytes or holding
    anything but visible ASCII and spaces: such a value is left out, costing the client only
    a response that may differ from what it would have fetched.

    Args:
        preload: A pushable preload.
        request_headers: The causing request's headers as ``(name, value)`` bytes pairs with
            lower-case names (ASGI ``scope["headers"]`` shape).

    Returns:
        ``(name, value)`` pairs of bytes.
    """
    accept = (b"accept", _ACCEPT_FOR.get(preload.as_ or "", "*/*").encode("ascii"))
    return [accept, *inherited_fields(request_headers)]


def inherited_fields(request_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The fields every push promise copies from the request that caused it.

    ``accept-encoding``, ``accept-language`` and ``user-agent``, in that order, each when the
    request has it once, at most :data:`MAX_INHERITED_VALUE_BYTES` bytes of visible ASCII and
    spaces (see :func:`push_headers`, which adds the ``accept`` of each destination).

    Args:
        request_headers: ``(name, value)`` bytes pairs with lower-case names.
    """
    inherited: dict[bytes, bytes | None] = {}
    for name, value in request_headers:
        if name in _INHERITED:
            # One value per name: a repeated field is left out rather than joined.
            ok = name not in inherited and _inheritable(value)
            inherited[name] = value if ok else None
    if not inherited:
        return []
    return [(name, kept) for name in _INHERITED if (kept := inherited.get(name)) is not None]


def _inheritable(value: bytes) -> bool:
    return len(value) <= MAX_INHERITED_VALUE_BYTES and _VISIBLE.fullmatch(value) is not None
