"""ASGI middleware: 103 Early Hints, HTTP/2 server push and Link preload for any ASGI app.

For a request it gathers the facts, asks :func:`h2push.plan` what to send, and carries the
plan out with the ASGI HTTP extensions (the ASGI extensions spec, "HTTP/2 Server Push" and
"Early Hints"): before the application runs, one ``http.response.early_hint`` message and the
``http.response.push`` messages, so the pushed responses are produced while the application is
still thinking; when the application starts its response, the Link header is merged after the
application's own. An extension message is sent only when ``scope["extensions"]`` offers it:
over HTTP/1.1 a request gets the Link header and nothing else.

Usage::

    from h2push.asgi import H2PushMiddleware, push

    app = H2PushMiddleware(app, manifest="push_manifest.json")

    async def handler(scope, receive, send):
        push(scope, "/static/chart.js", as_="script")   # adds to this response's plan
        ...
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from h2push._core import vulcain
from h2push._core.links import LinkValue, Preload, link_additions, parse_link_header, user_preload
from h2push._core.manifest import Manifest
from h2push._core.plan import (
    DEFAULT_MAX_PUSHES,
    Plan,
    RequestFacts,
    delivered,
    inherited_fields,
    is_page,
    plan,
    push_headers,
)
from h2push._delivery.asgi_types import ASGIApp, Headers, Message, Receive, Scope, Send
from h2push._delivery.engine import (
    MAX_HINTED_PATHS,
    Delivery,
    FirstVisit,
    Prepared,
    Visit,
    heuristic_floor,
    records_delivery,
    reusable_problem,
)
from h2push._delivery.learning import (
    Learner,
    PageLesson,
    RedisStore,
    StylesheetLesson,
    route_resolver,
)
from h2push._delivery.ledger import (
    DEFAULT_MAX_LEDGER_BYTES,
    Connection,
    Connections,
    connection_key,
)
from h2push._proxy import PUSHES_FROM_LINK, ProxyMode, proxy_mode
from h2push.trackers import (
    DEFAULT_TRACKER,
    TrackerSetting,
    as_tracker,
)

__all__ = [
    "DEFAULT_HINTED_MAX_AGE_S",
    "DEFAULT_MAX_LEDGER_BYTES",
    "DEFAULT_MAX_PUSHES_PER_CONNECTION",
    "DEFAULT_TRACKER",
    "MAX_PRELOAD_BODY_BYTES",
    "PUSHED_HEADER",
    "SCOPE_KEY",
    "H2PushMiddleware",
    "Learner",
    "RedisStore",
    "push",
    "route_resolver",
]

_EMPTY_PLAN = Plan()
_EMPTY: frozenset[str] = frozenset()
_STATE_FIELDS = frozenset({b"content-type", b"cache-control"})
_CLIENT_FIELDS = frozenset({b"cookie", b"cache-digest"})

logger = logging.getLogger("h2push")

#: The scope key under which the middleware keeps a request's state; its presence tells an app
#: (e.g. a WSGI app behind a2wsgi, through ``environ["asgi.scope"]``) that the middleware is there.
SCOPE_KEY = "h2push"
# A request header in every push promise that passes through the middleware marks the pushed
# request, which is then never planned for (no 103, no push from it: RFC 9113 §8.4). Hypercorn
# 0.18 gives a pushed request no trace of the request that pushed it, and an application's own
# promises (Starlette's ``send_push_promise``, Quart's ``make_push_promise``) copy the page's
# ``Accept``, so without the mark they would look like navigations. A client that sends it
# itself only turns pushes and hints off for its own request.
PUSHED_HEADER: Final = (b"x-h2push-pushed", b"1")
_PUSHED_NAME = PUSHED_HEADER[0]
# The request fields the middleware reads, by what each tells it.
_ACCEPT, _SEC_FETCH_MODE, _CLIENT_STATE, _PUSHED, _PRELOAD = range(5)
_READ_FIELDS = {
    b"accept": _ACCEPT,
    b"sec-fetch-mode": _SEC_FETCH_MODE,
    **dict.fromkeys(_CLIENT_FIELDS, _CLIENT_STATE),  # what a tracker reads
    _PUSHED_NAME: _PUSHED,
    b"preload": _PRELOAD,  # a Vulcain Preload
}
_RECORDS_MEMO_SIZE = 64  # (Content-Type, Cache-Control) pairs remembered per middleware
_EARLY_HINT = "http.response.early_hint"
# Gunicorn's ASGI worker (25+) takes a 103 as this message, without offering it in the scope.
_INFORMATIONAL = "http.response.informational"
_PUSH = "http.response.push"
# A kind of request: (method, path, navigation, can_early_hint, can_push, pushed).
_KindKey = tuple[str, str, bool, bool, bool, bool]

#: The largest JSON response body, in bytes, held to push what a ``Preload`` header selects.
MAX_PRELOAD_BODY_BYTES: Final = 1024 * 1024
# Request headers a pushed request for a Preload inherits (never credentials or cookies).
_VULCAIN_INHERITED = frozenset({b"accept", b"accept-encoding", b"accept-language", b"user-agent"})
_MAX_PRELOAD_LINK_BYTES = 8192  # Link values added for URLs not pushed, beyond which none are

#: Push promises per connection unless configured otherwise: ten pages' worth at the
#: per-response default.
DEFAULT_MAX_PUSHES_PER_CONNECTION = 100

#: The shortest lifetime, in seconds, h2push gives a hinted response that the application
#: left to the browser's heuristics (WhiteNoise's lifetime for unversioned files).
DEFAULT_HINTED_MAX_AGE_S = 60


class _RequestState(Visit):
    """One request in flight: the engine's visit, what went out before the app ran, its scope."""

    __slots__ = (
        "before",
        "client_fields",
        "connection",
        "first_tracked",
        "link_bytes",
        "linked_urls",
        "promised",
        "scope",
        "send",
    )

    def __init__(
        self,
        scope: Scope,
        send: Send,
        facts: RequestFacts,
        client_fields: list[tuple[bytes, bytes]],
    ) -> None:
        super().__init__(facts)
        self.scope = scope
        self.send = send
        self.before = _EMPTY_PLAN
        self.link_bytes: bytes | None = None  # the before-plan's Link value, made once per plan
        self.linked_urls = _EMPTY  # what its Link values deliver to an HTTP/2 navigation
        self.client_fields = client_fields
        self.connection: Connection | None = None
        self.promised: set[str] | None = None  # the app's own promises, when there is no ledger
        self.first_tracked = False  # a tracked first visit: the client is loaded only if needed

    def planned(self, prepared: Prepared) -> None:
        """Keep what goes out before the app runs: the plan, its Link value, what it delivers."""
        self.before = prepared.plan
        self.link_bytes = prepared.link_bytes
        self.linked_urls = prepared.linked_urls


class _Shortcut:
    """What every first visit of one kind of request sends, as ASGI messages, made once.

    A kind has one when its candidates are a tuple (the manifest's, the route's from the
    ``preloads`` function; no ``push_preload``) and its client, when tracked, is known to have
    nothing as long as it sends no tracker state (the default cookie tracker, no version
    function); a kind with no candidates has one that plans nothing, unless a navigation may
    be hinted from what its route learned. The ``preloads`` function is still asked for every
    request: a kind whose answer changes (a new object) is planned in full from then on. A
    request of the kind takes it when it also sends no tracker state and no Vulcain
    ``Preload``, its path's caching is not watched, no learned page names it as a stylesheet
    and its connection was not pushed on yet. Anything else is planned in full.

    Attributes:
        facts: The kind's request facts.
        first: Its :class:`~h2push._delivery.engine.FirstVisit`, or None when nothing is
            planned for it.
        link: The response's ``link`` field (a bytes pair), or None.
        tracked: Whether the client is tracked: the response then records the first visit.
        ledger: Whether its pushes are held to, and recorded in, the connection's ledger.
        routed: What the middleware's ``preloads`` function answered for the kind (the same
            object every time while the route is unchanged), or ``()`` without one.
    """

    __slots__ = (
        "added",
        "facts",
        "first",
        "ledger",
        "link",
        "response_fields",
        "routed",
        "tracked",
    )

    def __init__(
        self,
        facts: RequestFacts,
        first: FirstVisit | None,
        *,
        tracked: bool,
        ledger: bool,
        routed: Sequence[Preload] | None,
    ) -> None:
        self.facts = facts
        self.first = first
        self.routed = routed
        link = None if first is None else first.prepared.link_bytes
        self.link = None if link is None else (b"link", link)
        self.tracked = tracked
        self.ledger = ledger
        # A tracked response's (Content-Type, Cache-Control) as last seen, and what it got.
        self.response_fields: tuple[bytes | None, bytes | None] | None = None
        self.added: tuple[tuple[bytes, bytes], ...] = ()


def push(
    scope: Scope,
    url: str,
    *flags: str,
    as_: str | None = None,
    strict: bool = False,
    **attrs: Any,
) -> str:
    """Add a preload to the response of the request in ``scope``; return ``url``.

    Call it from an application wrapped by :class:`H2PushMiddleware` before the response
    starts. The resource is pushed when the server and client allow it (RFC 9113 §8.4) and is
    added to the response's Link header (RFC 8288) as its budget allows
    (:data:`h2push._core.plan.MAX_LINK_BYTES`).

    A value that cannot be sent (a URL from user data that is too long, holds CR, LF, NUL, a
    backslash or white space, or names another origin by a relative spelling; an unknown
    ``as``) drops this preload with one warning on the ``h2push`` logger, and the page goes out
    without it. ``strict=True`` raises :class:`ValueError` instead, for code that wants to know.

    Args:
        scope: The ASGI HTTP scope of the current request (Starlette: ``request.scope``).
        url: An absolute path such as ``/static/app.js`` (str).
        flags: Attributes without a value, as in Flask-Firehose's ``push``: ``crossorigin``
            (anonymous) and ``nopush``.
        as_: The Fetch destination (``style``, ``script``, ``font``, ...).
        strict: Raise :class:`ValueError` for a value that cannot be sent, instead of
            dropping the preload with a log line.
        **attrs: Other :class:`~h2push.Preload` fields: ``rel``, ``crossorigin``, ``type``,
            ``fetchpriority``, ``nopush``, ``weight``; ``as`` is accepted for ``as_``.

    Returns:
        ``url``, so it can be used inline in templates.

    Raises:
        ValueError: Only with ``strict=True``: the URL or an attribute cannot be sent (see
            :class:`~h2push.Preload`; :class:`~h2push.PreloadError` names the field).
        TypeError: An attribute of the wrong type or an unknown attribute name.
        RuntimeError: The request does not pass through :class:`H2PushMiddleware`.
    """
    if as_ is not None:
        attrs["as_"] = as_
    state = scope.get(SCOPE_KEY)
    # A request planned in full keeps its state there; a first visit only its push() calls.
    if isinstance(state, _RequestState):
        state = state.preloads
    elif type(state) is not list:
        raise RuntimeError("h2push.asgi.push() needs the app to be wrapped in H2PushMiddleware")
    preload = user_preload(url, flags, attrs, strict=strict)
    if preload is not None:
        state.append(preload)
    return url


class H2PushMiddleware:
    """Deliver a manifest's and the application's preloads by 103, push and Link header.

    Args:
        app: The ASGI application to wrap.
        manifest: A :class:`~h2push.Manifest`, or the path of a ``push_manifest.json`` file
            (loaded here, once), or None.
        preloads: A function from a request path (str) and whether the request is a
            navigation (bool) to more candidate preloads, e.g. a framework's per-route
            declarations (:func:`h2push.flask.preloads_resolver`); called per request. It
            returns None when the path matches no route of the application: that request
            then gets no 103 and no push, not even the manifest's (a 404 page uses none of
            a page's resources).
        max_pushes: The most push promises per response (int >= 0; default 10, as nginx).
        max_pushes_per_connection: The most push promises h2push makes on one connection over
            its life (int >= 0, default 100), or None for no such limit. A URL is never pushed
            twice on one connection. A connection is known by its client and server addresses
            (``scope["client"]``, ``scope["server"]``); a request whose scope names no client
            gets no pushes unless this is None. The application's own push promises
            (``http.response.push``: Starlette's ``send_push_promise``, Quart's
            ``make_push_promise``) count too: one for a URL already promised on the
            connection, by h2push or the application, is dropped silently.
        early_hints: Send a 103 on navigation requests when the server offers it.
        push: Push when the server offers it.
        informational: Send the 103 as an ``http.response.informational`` message (status 103,
            one ``link`` header per preload) when the server offers no
            ``http.response.early_hint``: Gunicorn's ASGI worker (25+) takes it, over HTTP/1.1
            and HTTP/2, without listing it in ``scope["extensions"]``. Leave it off for other
            servers.
        push_preload: Like nginx's ``http2_push_preload``: also push the same-origin
            ``rel=preload`` values of the Link header the application sets (without
            ``nopush``), as its response starts.
        tracker: What each client is believed to have (:mod:`h2push.trackers`): by default a
            :class:`~h2push.trackers.CookieDigestTracker` (a cache-digest cookie, no server
            state); a Redis or Flask-Firehose-shaped tracker; None to track nothing. Known
            resources are never pushed, and linked with ``nopush``.
        versions: A function from a URL path (str) to the resource's version (str, e.g. a
            content hash, :class:`h2push.versions.StaticVersions`) or None; a tracker keys on
            ``(url, version)``, so a changed resource is pushed again.
        hinted_max_age_s: A browser keeps a hinted response in its HTTP cache and the page
            reads it from there, so the response must still be fresh then. A successful
            response to a path h2push preloads that has a ``Last-Modified`` but neither
            ``Cache-Control`` nor ``Expires`` (Starlette's ``StaticFiles``, Django's static
            view) is fresh only by the browser's heuristic, 10 % of its age (RFC 9111
            §4.2.2): nothing for a file just edited. It gets ``Cache-Control: max-age=N``,
            N the larger of this (seconds, default 60) and that heuristic. None leaves every
            response alone. A ``Cache-Control`` the application set is never changed; a
            hinted response that is ``no-store`` or must be revalidated (``no-cache``,
            ``max-age=0``) is reported once per path, as a warning on the ``h2push`` logger.
        proxy: What the reverse proxy or CDN in front does (docs/deploy/), when the server
            the middleware runs in is reached through one. ``"forwards-103"`` (Caddy, Apache
            httpd, nginx >= 1.29, nghttpx, Cloudflare): the 103 goes to it as usual, but no
            push (the proxy's client is a browser, which takes none, and a push to the
            proxy never reaches it) and no tracking. ``"pushes-from-link"`` or True (nginx
            1.13.9 to 1.25.0, h2o 2.2): neither 103 nor push, and a navigation's Link
            preloads count as delivered. None or False: no proxy.
        max_ledger_bytes: The memory the per-connection push ledger may take (bytes, default
            8 MiB); the least recently used connections are forgotten beyond it.
        learn: Learn each route's critical resources from its own HTML responses and hint
            them for a route with no manifest entry and no ``preloads`` declaration
            (docs/learning.md): True (default) for a per-process :class:`Learner` keyed by
            ``app``'s routes when h2push knows its framework (else by path), a
            :class:`Learner` (e.g. with a :class:`RedisStore`), or False.

    Raises:
        ManifestError: The manifest file is missing or invalid (naming file, key and reason).
        ValueError: ``max_pushes`` or ``max_pushes_per_connection`` is negative, or ``proxy``
            names no proxy mode.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        manifest: Manifest | str | os.PathLike[str] | None = None,
        preloads: Callable[[str, bool], Sequence[Preload] | None] | None = None,
        max_pushes: int = DEFAULT_MAX_PUSHES,
        max_pushes_per_connection: int | None = DEFAULT_MAX_PUSHES_PER_CONNECTION,
        early_hints: bool = True,
        push: bool = True,
        informational: bool = False,
        push_preload: bool = False,
        tracker: TrackerSetting = DEFAULT_TRACKER,
        versions: Callable[[str], str | None] | None = None,
        hinted_max_age_s: int | None = DEFAULT_HINTED_MAX_AGE_S,
        proxy: ProxyMode | bool | None = None,
        max_ledger_bytes: int = DEFAULT_MAX_LEDGER_BYTES,
        learn: bool | Learner = True,
    ) -> None:
        if max_pushes < 0:
            raise ValueError(f"max_pushes {max_pushes} must not be negative")
        if max_pushes_per_connection is not None and max_pushes_per_connection < 0:
            raise ValueError(
                f"max_pushes_per_connection {max_pushes_per_connection} must not be negative"
            )
        self.app = app
        self.manifest = (
            manifest
            if isinstance(manifest, Manifest) or manifest is None
            else Manifest.load(manifest)
        )
        self.preloads = preloads
        self.max_pushes = max_pushes
        self.max_pushes_per_connection = max_pushes_per_connection
        self.connections = (
            Connections(max_bytes=max_ledger_bytes)
            if max_pushes_per_connection is not None
            else None
        )
        self.proxy = proxy_mode(proxy)
        # Behind a proxy the app pushes nothing; one that pushes from Link gets no 103.
        self.early_hints = early_hints and self.proxy != PUSHES_FROM_LINK
        self.push = push and self.proxy is None
        self.informational = informational
        self.push_preload = push_preload
        self.tracker = None if tracker is None else as_tracker(tracker)
        self.versions = versions
        if hinted_max_age_s is not None and hinted_max_age_s < 0:
            raise ValueError(f"hinted_max_age_s {hinted_max_age_s} must not be negative")
        self.hinted_max_age_s = hinted_max_age_s
        # This middleware's plans, tracker and hinted paths (the request flow's engine).
        self._delivery = Delivery(
            max_pushes=max_pushes,
            early_hints=self.early_hints,
            push=self.push,
            tracker=self.tracker,
            pushing_proxy=self.proxy == PUSHES_FROM_LINK,
        )
        self._hinted_paths = self._delivery.hinted.paths
        self._kinds = self._delivery.kinds
        # Per kind of request (the Delivery.kind key), its shortcut, or None if it has none.
        self._shortcuts: dict[_KindKey, _Shortcut | None] = {}
        # Whether a first visit's response records its delivery, by its (Content-Type,
        # Cache-Control) values (bytes or None).
        self._records: dict[tuple[bytes | None, bytes | None], bool] = {}
        # The route preload tuples already read, kept by id with the tuple itself, so that
        # an id is never reused while it is here.
        self._learned: dict[int, Sequence[Preload]] = {}
        self.learner = _learner(app, learn)
        if self.manifest is not None:
            for entries in self.manifest.entries.values():
                self._learn_paths(entries)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope; only ``http`` scopes are planned for."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        navigation = accept = None
        pushed = False
        # Lists only for requests that have such fields: most have none.
        client_fields: list[tuple[bytes, bytes]] | None = None  # what a tracker reads
        preload_fields: list[bytes] | None = None  # a Vulcain Preload
        for name, value in scope["headers"]:
            field = _READ_FIELDS.get(name)  # one lookup for the many fields not read
            if field is None:
                continue
            if field == _ACCEPT:
                accept = value
            elif field == _SEC_FETCH_MODE:
                navigation = value.strip().lower() == b"navigate"
            elif field == _CLIENT_STATE:
                if client_fields is None:
                    client_fields = []
                client_fields.append((name, value))
            elif field == _PUSHED:
                pushed = True
            else:
                if preload_fields is None:
                    preload_fields = []
                preload_fields.append(value)
        if navigation is None:  # no Fetch Metadata: is_navigation() on bytes
            navigation = accept is not None and (
                b"text/html" in accept or b"text/html" in accept.lower()  # as browsers send it
            )
        extensions = scope.get("extensions") or ()
        key = (
            scope["method"],
            scope["path"],
            navigation,
            _EARLY_HINT in extensions or self.informational,
            _PUSH in extensions,
            pushed,
        )
        try:
            shortcut = self._shortcuts[key]
        except KeyError:
            shortcut = self._shortcut(key)
        if (
            shortcut is not None
            and self.preloads is not None
            and self.preloads(key[1], navigation) is not shortcut.routed
        ):
            shortcut = None  # the route's answer changes: planned in full from now on
            if key in self._shortcuts:
                self._shortcuts[key] = None
        learner = self.learner
        if (
            shortcut is None
            or preload_fields
            or (
                client_fields
                and shortcut.tracked
                and not self._delivery.knows_nothing(client_fields)
            )
            or key[1] in self._hinted_paths
            or (learner is not None and learner.wants_stylesheets and learner.wants(_target(scope)))
        ):
            await self._planned(
                scope,
                receive,
                send,
                key,
                client_fields=client_fields or [],
                preload_fields=preload_fields or (),
            )
            return
        # A first visit, served from its kind's shortcut: the 103 and the pushes as the kind
        # keeps them; the Link field and, for a tracked client, the Set-Cookie recording
        # them appended to the response start. It goes the full way (_planned) when its
        # connection was pushed on already, and from the response on (_visit_of_first) when
        # the application calls push(), sets a Link of its own or sends a push promise, or a
        # hint or push was refused: what it sends is then what the full plan sends. One
        # function, on purpose: this is the path most requests take (docs/performance.md).
        client_fields = client_fields or []
        first = shortcut.first
        entry: Connection | None = None
        if shortcut.ledger:  # held to its connection's budget: _holds_to_ledger()
            assert first is not None
            assert self.connections is not None
            # No await from the ledger's answer to the reservation.
            ledger_key = connection_key(scope)
            if ledger_key is not None:
                entry = self.connections.first_visit(ledger_key, first.pushed)
            if entry is None:  # no connection known, or one pushed on already
                await self._planned(
                    scope, receive, send, key, client_fields=client_fields, preload_fields=()
                )
                return
        preloads: list[Preload] = []  # the application's push() calls
        scope[SCOPE_KEY] = preloads
        hinted = False
        refused: Sequence[str] = ()
        complete = True  # every hint and push went out
        if first is not None:
            prepared = first.prepared
            if prepared.plan.early_hints:
                try:
                    await send(_early_hint(prepared, extensions))
                except Exception:  # a refused hint must never fail the request
                    logger.debug("h2push: 103 not sent", exc_info=True)
                    complete = False
                else:
                    hinted = True
            if prepared.push_accepts:
                refused = await _push_prepared(scope, send, prepared)
                complete = complete and not refused
        if shortcut.tracked:  # a first visit is recorded whole, over HTTP/2, or not at all
            complete = complete and (
                self.proxy == PUSHES_FROM_LINK
                or scope.get("http_version", "1.1") not in ("1.0", "1.1")
            )
        # What the full way needs, in one tuple: the closure's cells cost on every request.
        sent = (scope, client_fields, entry, hinted, refused)
        full: Send | None = None  # the full way, once a message needs it

        def send_first(message: Message) -> Awaitable[None]:
            nonlocal full
            if full is None:
                kind = message["type"]
                if kind == "http.response.start":
                    if not preloads:
                        started = self._start_first(shortcut, message, complete)
                        if started is not None:
                            return send(started)
                elif kind != _PUSH:
                    return send(message)
                request = self._visit_of_first(shortcut, send, *sent)
                request.preloads = preloads
                full = self._sender(request, send, None)
            return full(message)

        try:
            await self.app(scope, receive, send_first)
        finally:
            if scope.get(SCOPE_KEY) is preloads:
                del scope[SCOPE_KEY]

    def _shortcut(self, key: _KindKey) -> _Shortcut | None:
        """The :class:`_Shortcut` of a kind of request, or None; made once, kept as its kind is."""
        kind = self._kinds.get(key) or self._delivery.kind(key)
        facts = kind.facts
        shortcut = None
        if not self.push_preload:
            routed: Sequence[Preload] | None = ()
            if self.preloads is not None:
                routed = self.preloads(facts.path, facts.navigation)
            candidates = self._combined(facts, routed)
            delivery = self._delivery
            tracked = not facts.pushed and delivery.tracks(can_push=facts.can_push)
            if not candidates:
                # A navigation its route may teach is hinted from what was learned.
                if not (facts.navigation and self.learner is not None and routed is not None):
                    shortcut = _Shortcut(facts, None, tracked=False, ledger=False, routed=routed)
            elif type(candidates) is tuple and (
                not tracked or (self.versions is None and delivery.first_cookie)
            ):
                ledger = self._holds_to_ledger(facts)
                budget = self.max_pushes
                if ledger and self.max_pushes_per_connection is not None:
                    budget = min(budget, self.max_pushes_per_connection)
                first = delivery.first_visit(kind, candidates, max_pushes=budget)
                shortcut = _Shortcut(facts, first, tracked=tracked, ledger=ledger, routed=routed)
        if self._kinds.get(key) is kind:  # kept as the kinds are: bounded, short paths only
            if len(self._shortcuts) >= len(self._kinds):
                self._shortcuts.clear()
            self._shortcuts[key] = shortcut
        return shortcut

    def _start_first(self, shortcut: _Shortcut, message: Message, complete: bool) -> Message | None:
        """A first visit's response start with its Link field and, when tracked, ``Set-Cookie``.

        Args:
            shortcut: The request's kind's.
            message: The application's ``http.response.start``.
            complete: For a tracked client: whether every hint and push went out, over
                HTTP/2 (or to a proxy that pushes from Link).

        Returns:
            The message to send, or None when the response goes the full way: it has a Link
            of its own, or the client is tracked and not everything went out, or the
            response is no navigation's.
        """
        if message.get("status", 200) >= 400:
            return message
        headers = message.get("headers", ())
        content_type = cache_control = None
        for name, value in headers:
            lower = name.lower()
            if lower == b"link":
                return None  # the application's own: merged with the plan's
            if lower == b"content-type":
                content_type = value
            elif lower == b"cache-control":
                cache_control = value
        link = shortcut.link
        if not shortcut.tracked:
            return message if link is None else {**message, "headers": [*headers, link]}
        first = shortcut.first
        if link is None or first is None or not (complete and shortcut.facts.navigation):
            return None
        fields = (content_type, cache_control)
        if fields != shortcut.response_fields:  # a route answers with the same few values
            shortcut.added = (
                (link, *self._delivery.first_visit_cookie(first))
                if self._records_first(content_type, cache_control)
                else (link,)
            )
            shortcut.response_fields = fields
        return {**message, "headers": [*headers, *shortcut.added]}

    def _records_first(self, content_type: bytes | None, cache_control: bytes | None) -> bool:
        """Whether an HTTP/2 navigation's response records its delivery (kept per value pair)."""
        # An app answers a route with the same few Content-Type and Cache-Control values.
        records = self._records.get((content_type, cache_control))
        if records is None:
            records = records_delivery(
                delivered_any=True,  # a navigation over HTTP/2 delivers its Link preloads
                navigation=True,
                http2=True,
                content_type=content_type,
                cache_control=cache_control,
            )
            if len(self._records) >= _RECORDS_MEMO_SIZE:
                self._records.clear()
            self._records[(content_type, cache_control)] = records
        return records

    def _visit_of_first(  # noqa: PLR0917 (what the first visit sent, in order)
        self,
        shortcut: _Shortcut,
        send: Send,
        scope: Scope,
        client_fields: list[tuple[bytes, bytes]],
        entry: Connection | None,
        hinted: bool,
        refused: Sequence[str],
    ) -> _RequestState:
        """The state a full plan would have made for a first visit, from what it sent."""
        request = _RequestState(scope, send, shortcut.facts, client_fields)
        request.connection = entry
        request.first_tracked = shortcut.tracked
        first = shortcut.first
        if first is not None:
            prepared = first.prepared
            request.planned(prepared)
            if hinted:
                request.delivered.update(prepared.hint_urls)
            request.delivered.update(prepared.push_urls.difference(refused))
        return request

    async def _planned(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: _KindKey,
        *,
        client_fields: list[tuple[bytes, bytes]],
        preload_fields: Sequence[bytes],
    ) -> None:
        """Serve a request the full way: the client's state read, its plan made or looked up."""
        kind = self._kinds.get(key) or self._delivery.kind(key)
        facts = kind.facts
        request = scope[SCOPE_KEY] = _RequestState(scope, send, facts, client_fields)
        if self.preloads is None:  # the manifest's tuple, as it is
            manifest = self.manifest
            candidates: Sequence[Preload] = (
                manifest.preloads_for(facts.path, navigation=facts.navigation)
                if manifest is not None
                else ()
            )
        else:
            candidates = self._candidates(facts)
        if not candidates and self.learner is not None and facts.navigation:
            found = self._learned_candidates(request)
            if callable(found):  # a shared store, read in a thread: the loop is not blocked
                found = await asyncio.to_thread(found)
            if found and id(found) not in self._learned:  # the same tuple while unchanged
                self._learned_new(found)
            candidates = found
        if candidates:
            if not facts.pushed and self._delivery.tracks(can_push=facts.can_push):
                await self._learn(request, candidates)
            # No await from the budget to the reservation: concurrent streams of one
            # connection cannot both spend the same pushes.
            max_pushes = (
                self._push_budget(request, self.max_pushes) if facts.can_push else self.max_pushes
            )
            prepared = self._delivery.prepare(
                facts,
                candidates,
                known=request.known,
                max_pushes=max_pushes,
                early_hints=self.early_hints,
                push=self.push,
            )
            if prepared.plan.pushes and request.connection is not None and self.connections:
                self.connections.record(request.connection, (p.url for p in prepared.plan.pushes))
            request.planned(prepared)
            if prepared.plan.early_hints and await _send_extension(
                send, _early_hint(prepared, scope.get("extensions") or ())
            ):
                request.delivered.update(prepared.hint_urls)
            if prepared.push_accepts:
                refused = await _push_prepared(scope, send, prepared)
                request.delivered.update(
                    prepared.push_urls.difference(refused) if refused else prepared.push_urls
                )

        # GET responses teach: a page its route learns from, or a stylesheet a learned page
        # names (for its fonts). Any other response is passed through untouched.
        learner = self.learner if facts.method == "GET" else None
        if learner is not None and not request.learning and not learner.wants(_target(scope)):
            learner = None
        app_send = self._sender(request, send, learner)
        if preload_fields and facts.method == "GET":
            # A Vulcain request: push what the JSON response names.
            app_send = self._vulcain_send(request, b", ".join(preload_fields), app_send)
        try:
            await self.app(scope, receive, app_send)
        finally:
            # The state refers to the scope: take it out of the scope, so that neither keeps
            # the other (and the client's decoded digests) alive until the cycle collector runs.
            if scope.get(SCOPE_KEY) is request:
                del scope[SCOPE_KEY]

    def _sender(self, request: _RequestState, send: Send, learner: Learner | None) -> Send:
        """The ``send`` the application gets: the plan's Link merged, learning, own pushes."""
        lesson: PageLesson | StylesheetLesson | None = None
        started: Message | None = None  # a GET response's start, while it may teach
        # Most responses need only the plan's Link value appended: no push() calls, no
        # tracker, no caching rule for the path, no Link header of the app's own.
        plain = (
            request.client is None
            and not request.first_tracked
            and not self.push_preload
            and request.facts.path not in self._hinted_paths
        )

        async def send_with_links(message: Message) -> None:
            nonlocal lesson, started
            if message["type"] == "http.response.start":
                if learner is not None:
                    started = message  # the app's own headers; read after the first chunk
                if not plain or request.preloads:
                    message = await self._start_response(request, message)
                elif request.link_bytes is not None and message.get("status", 200) < 400:
                    headers = message.get("headers", ())
                    for name, _ in headers:
                        if name.lower() == b"link":  # the app's own: merged with the plan's
                            message = await self._start_response(request, message)
                            break
                    else:
                        message = {**message, "headers": [*headers, (b"link", request.link_bytes)]}
            elif started is not None and message["type"] == "http.response.body":
                # The chunk goes out first, as it is; then a copy of the head is read.
                await send(message)
                if lesson is None:
                    assert learner is not None
                    if request.learning and learner.unchanged(
                        request.learning,
                        started["status"],
                        started.get("headers", ()),
                        message.get("body", b""),
                        request.preloads,
                    ):
                        started = None  # the same head as last time: nothing new to learn
                        return
                    lesson = self._lesson(request, started)
                    if lesson is None:
                        started = None
                        return
                lesson.feed(message.get("body", b""), more=message.get("more_body", False))
                if lesson.done:
                    started = None
                return
            elif message["type"] == _PUSH:  # the application's own push promise
                if not self._first_promise(request, message.get("path")):
                    return  # one PUSH_PROMISE per URL per connection (README)
                message = {**message, "headers": [*message.get("headers", ()), PUSHED_HEADER]}
            await send(message)

        return send_with_links

    # ------------------------------------------------------------------ Vulcain Preload

    def _vulcain_send(self, request: _RequestState, preload: bytes, send: Send) -> Send:
        """Hold a JSON response to a ``Preload`` request until its pushes are promised.

        A GET with a Vulcain ``Preload`` header (draft-dunglas-vulcain, :mod:`h2push._core.vulcain`)
        whose response is a successful ``application/json`` (or ``+json``) body of at most
        :data:`MAX_PRELOAD_BODY_BYTES` has ``http.response.start`` delayed until the body is
        complete: the URLs its pointers select are then pushed (:meth:`_vulcain_push`), before
        the response that names them, and the rest linked. Anything else passes unchanged.
        """
        try:
            pointers = vulcain.parse_preload(preload)
        except vulcain.PreloadHeaderError as error:
            logger.debug("h2push: Preload ignored: %s", error)
            return send
        if not pointers:
            return send
        held: list[Message] = []
        size = 0
        passing = False

        async def hold(message: Message) -> None:
            nonlocal size, passing
            kind = message["type"]
            if passing or kind not in ("http.response.start", "http.response.body"):
                await send(message)
                return
            if kind == "http.response.start" and not _is_json_success(message):
                passing = True
                await send(message)
                return
            held.append(message)
            size += len(message.get("body", b""))
            if size > MAX_PRELOAD_BODY_BYTES or (
                kind == "http.response.body" and not message.get("more_body", False)
            ):
                passing = True
                start, *body = held
                held.clear()
                if size <= MAX_PRELOAD_BODY_BYTES:
                    document = b"".join(m.get("body", b"") for m in body)
                    links = await self._vulcain_push(request, pointers, document)
                    start = {**start, "headers": [*start.get("headers", ()), *links]}
                await send(start)
                for part in body:
                    await send(part)

        return hold

    async def _vulcain_push(
        self, request: _RequestState, pointers: Sequence[str], document: bytes
    ) -> list[tuple[bytes, bytes]]:
        """Push the same-origin URLs ``pointers`` select in ``document``; return Link fields.

        Each URL is pushed once per connection, within ``max_pushes`` (less what this response
        pushed already) and ``max_pushes_per_connection``, with the pointers' rest as the
        pushed request's ``Preload``. A URL not pushed (no push offered, a pushed request, a
        limit reached) gets ``Link: <url>; rel=preload; as=fetch`` instead, up to 8 KiB of them.
        """
        try:
            data = json.loads(document)
        except ValueError:
            return []
        scope = request.scope
        found: dict[str, tuple[str, ...]] = {}
        for selected in vulcain.select(data, pointers, max_urls=vulcain.DEFAULT_MAX_URLS):
            path = vulcain.same_origin_path(
                selected.url,
                base_path=scope["path"],
                scheme=scope.get("scheme", "https"),
                authority=_authority(scope) or "",
            )
            if path is not None and path != request.facts.path:
                found.setdefault(path, selected.preload)
        facts = request.facts
        budget = 0
        if self.push and facts.can_push and not facts.pushed:
            budget = self._push_budget(request, self.max_pushes - len(request.before.pushes))
        # Reserve before any await: concurrent streams must not spend the same budget.
        ledger = request.connection.pushed if request.connection is not None else frozenset()
        to_push = [path for path in found if path not in ledger][:budget]
        if request.connection is not None and self.connections is not None:
            self.connections.record(request.connection, to_push)
        inherited = [(n, v) for n, v in scope["headers"] if n in _VULCAIN_INHERITED]
        links: list[tuple[bytes, bytes]] = []
        link_bytes = 0
        for path, nested in found.items():
            if path in to_push:
                headers = [*inherited, PUSHED_HEADER]
                if nested:
                    headers.append((b"preload", vulcain.format_preload(nested).encode("ascii")))
                message = {"type": _PUSH, "path": path, "headers": headers}
                if await _send_extension(request.send, message):
                    request.delivered.add(path)
                    continue
            link = b"<%s>; rel=preload; as=fetch" % path.encode("ascii")
            link_bytes += len(link)
            if link_bytes <= _MAX_PRELOAD_LINK_BYTES:
                links.append((b"link", link))
        return links

    def _candidates(self, facts: RequestFacts) -> Sequence[Preload]:
        routed: Sequence[Preload] | None = ()
        if self.preloads is not None:
            routed = self.preloads(facts.path, facts.navigation)
        return self._combined(facts, routed)

    def _combined(self, facts: RequestFacts, routed: Sequence[Preload] | None) -> Sequence[Preload]:
        """The manifest's candidates and the route's (``preloads``' answer, None: no route)."""
        if routed is None:
            return ()  # no route: hints and pushes would serve an error page
        declared: Sequence[Preload] = ()
        if self.manifest is not None:
            declared = self.manifest.preloads_for(facts.path, navigation=facts.navigation)
        if routed:
            if id(routed) not in self._learned:  # a route's manifest: read once
                self._learn_paths(routed)
                if len(self._learned) < MAX_HINTED_PATHS:
                    self._learned[id(routed)] = routed
            # The manifest's own tuple, when it is all there is, lets plan() reuse plans.
            declared = (*declared, *routed) if declared else routed
        return declared

    # ------------------------------------------------------------------ learning

    def _learned_candidates(
        self, request: _RequestState
    ) -> Sequence[Preload] | Callable[[], Sequence[Preload]]:
        """What the request's route learned, for a GET navigation with no declaration.

        Returns:
            The preloads, or, when the learner's store blocks (Redis), a function that reads
            them, for a thread to call.
        """
        facts = request.facts
        learner = self.learner
        if learner is None or facts.method != "GET" or facts.pushed:
            return ()
        if self.preloads is not None and self.preloads(facts.path, True) is None:
            return ()  # no route
        if not learner.store.blocking:
            request.learning, found = learner.lookup(facts.path)
            return found
        key = request.learning = learner.key(facts.path)
        if key is None:
            return ()
        return functools.partial(learner.preloads, facts.path, key=key)

    def _learned_new(self, found: Sequence[Preload]) -> None:
        """Watch the caching of a newly learned set's paths (kept by id with the tuple)."""
        self._learn_paths(found)
        if len(self._learned) < MAX_HINTED_PATHS:
            self._learned[id(found)] = found

    def _lesson(
        self, request: _RequestState, start: Message
    ) -> PageLesson | StylesheetLesson | None:
        """What this response teaches (:class:`Learner`), as it starts."""
        assert self.learner is not None
        scope = request.scope
        origin = f"{scope.get('scheme', 'https')}://{_authority(scope) or 'localhost'}"
        status = int(start.get("status", 200))
        headers = start.get("headers", ())
        if request.learning:
            return self.learner.page(
                request.facts.path,
                origin=origin,
                status=status,
                headers=headers,
                pushed=request.preloads,
                key=request.learning,
            )
        return self.learner.stylesheet(
            _target(scope), origin=origin, status=status, headers=headers
        )

    def _holds_to_ledger(self, facts: RequestFacts) -> bool:
        """Whether a request's pushes are held to its connection's budget and kept in the ledger.

        A GET that is not itself pushed, when the server offers push and a budget is set.
        """
        return (
            self.connections is not None
            and self.max_pushes_per_connection is not None
            and self.push
            and facts.can_push
            and facts.method == "GET"
            and not facts.pushed
        )

    def _push_budget(self, request: _RequestState, per_response: int) -> int:
        """How many more pushes ``request`` may make; adds its connection's pushes to known.

        Call it right before :func:`plan` and reserve the planned pushes with no await between.
        """
        facts = request.facts
        if not self._holds_to_ledger(facts):
            return per_response
        assert self.connections is not None
        assert self.max_pushes_per_connection is not None
        if request.connection is None:
            key = connection_key(request.scope)
            if key is None:
                return 0  # no way to hold this connection to its limit
            request.connection = self.connections.get(key)
        pushed = request.connection.pushed
        if pushed:
            request.known |= pushed
        left = self.max_pushes_per_connection - len(pushed)
        return max(0, min(per_response, left))

    def _first_promise(self, request: _RequestState, path: object) -> bool:
        """Whether the app's own push of ``path`` is its connection's first; record it.

        The connection's ledger holds every push h2push saw on it, its own and the
        application's. Without a ledger (``max_pushes_per_connection=None``, or a scope
        naming no client) only this request's pushes are known.
        """
        if not isinstance(path, str):
            return True  # the server judges a malformed message
        if request.connection is None and self.connections is not None:
            key = connection_key(request.scope)
            if key is not None:
                request.connection = self.connections.get(key)
        if request.connection is not None and self.connections is not None:
            if path in request.connection.pushed:
                return False
            self.connections.record(request.connection, (path,))
            return True
        promised = request.promised
        if promised is None:
            promised = request.promised = {p.url for p in request.before.pushes}
        if path in promised:
            return False
        promised.add(path)
        return True

    async def _load_client(self, request: _RequestState) -> None:
        """Ask the tracker what this client has (once; never for a pushed request).

        Only a client the server can push to is tracked (:func:`h2push.trackers.tracks`): a
        tracker exists to keep pushes from repeating, and its cookie on the page of a client
        that takes no push (every browser refuses push) would change the ``Cookie`` header
        between a hint's fetch and the page's use of it, so a resource served with
        ``Vary: Cookie`` would be fetched twice.
        """
        if (
            self.tracker is None
            or request.client is not None
            or request.facts.pushed
            or not self._delivery.tracks(can_push=request.facts.can_push)
        ):
            return
        scope = request.scope
        load = functools.partial(
            self._delivery.load_client,
            request,
            request.client_fields,
            authority=_authority(scope),
            scheme=scope.get("scheme", "https"),
        )
        if self.tracker.blocking:
            await asyncio.to_thread(load)
        else:
            load()

    async def _learn(self, request: _RequestState, preloads: Iterable[Preload]) -> None:
        """Add to ``request.known`` which of ``preloads`` the client has."""
        await self._load_client(request)
        self._delivery.learn(request, preloads, self.versions)

    async def _send_pushes(self, request: _RequestState, todo: Plan) -> None:
        if not todo.pushes:
            return
        for preload in todo.pushes:
            headers = [*push_headers(preload, request.scope["headers"]), PUSHED_HEADER]
            message = {"type": _PUSH, "path": preload.url, "headers": headers}
            if await _send_extension(request.send, message):
                request.delivered.add(preload.url)

    def _learn_paths(self, preloads: Iterable[Preload]) -> None:
        """Remember the same-origin paths of ``preloads``, whose caching matters (bounded)."""
        self._delivery.hinted.learn(preloads)

    def _make_reusable(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        """Give a hinted response left to heuristics a lifetime; report what cannot be reused.

        See ``hinted_max_age_s`` in the class docstring. ``headers`` is changed in place.
        """
        fields = {name.lower(): value for name, value in headers}
        cache_control = fields.get(b"cache-control")
        if cache_control is None:
            if self.hinted_max_age_s is None or b"expires" in fields:
                return
            max_age_s = heuristic_floor(fields.get(b"last-modified"), self.hinted_max_age_s)
            if max_age_s is not None:
                headers.append((b"cache-control", b"max-age=%d" % max_age_s))
            return
        reason = reusable_problem(cache_control)
        if reason is None or not self._delivery.hinted.first_report(path):
            return
        logger.warning(
            "h2push: %s is hinted but served with %s (Cache-Control: %s): the hint is wasted."
            " Let browsers keep it a while (e.g. max-age=60), or stop preloading it.",
            path,
            reason,
            cache_control.decode("latin-1"),
        )

    async def _start_response(self, request: _RequestState, message: Message) -> Message:
        """Push what the app asked for, merge the Link header, and update the tracker."""
        if request.first_tracked and request.client is None:
            await self._load_client(request)  # the full way for a first visit, after all
        before = request.before
        path = request.facts.path
        status = int(message.get("status", 200))
        if path in self._hinted_paths and 200 <= status < 300:
            headers = list(message.get("headers", ()))
            self._make_reusable(path, headers)
        else:
            headers = list(message.get("headers", ()))
        app_links = [value for name, value in headers if name == b"link" or name.lower() == b"link"]
        late = request.preloads
        if self.push_preload and app_links:
            late = [*late, *_preloads_in(b", ".join(app_links).decode("latin-1"))]
        after = _EMPTY_PLAN
        if late:
            self._learn_paths(late)
            await self._learn(request, late)
            content_type = next((v for n, v in headers if n.lower() == b"content-type"), None)
            max_pushes = self._push_budget(request, self.max_pushes - len(before.pushes))
            after = plan(
                request.facts,
                late,
                known=request.known | {p.url for p in before.pushes},
                max_pushes=max_pushes,
                early_hints=False,
                # Once the app has answered, only a successful page is worth pushing for.
                push=self.push and 200 <= status < 300 and is_page(content_type),
                link_bytes_used=len(request.link_bytes) + 2 if request.link_bytes else 0,
            )
            if after.pushes and request.connection is not None and self.connections is not None:
                self.connections.record(request.connection, (p.url for p in after.pushes))
            await self._send_pushes(request, after)
        if status >= 400:
            return message
        links = before.links
        if app_links or after.links:
            if after.links:
                links = (*links, *after.links)
            existing = b", ".join(app_links).decode("latin-1") if app_links else None
            extra = link_additions(existing, links)
            if extra is not None:
                headers.append((b"link", extra.encode("ascii")))
        elif request.link_bytes is not None:
            headers.append((b"link", request.link_bytes))  # formatted once per plan
        if request.client is not None:
            headers.extend(await self._remember(request, links, headers))
        return {**message, "headers": headers}

    async def _remember(
        self, request: _RequestState, links: Sequence[Preload], headers: Headers
    ) -> list[tuple[bytes, bytes]]:
        """Record what this response delivered; return the tracker's headers (Set-Cookie)."""
        client = request.client
        if client is None:
            return []
        # A proxy that pushes from the Link header delivers a navigation's Link preloads.
        version = request.scope.get("http_version", "1.1")
        http2 = self.proxy == PUSHES_FROM_LINK or version not in ("1.0", "1.1")
        fields = {n.lower(): v for n, v in headers if n.lower() in _STATE_FIELDS}
        facts = request.facts
        if not records_delivery(
            delivered_any=bool(request.delivered),
            navigation=facts.navigation,
            http2=http2,
            content_type=fields.get(b"content-type"),
            cache_control=fields.get(b"cache-control"),
        ):
            return []
        if http2 and facts.navigation and links is request.before.links:
            linked = request.linked_urls  # the plan's, made once
        else:
            linked = delivered(linked=links, navigation=facts.navigation, http2=http2)
        urls = request.delivered | linked if request.delivered else linked
        record = self._delivery.record
        if self.tracker is not None and self.tracker.blocking:
            changed = await asyncio.to_thread(record, request, urls, self.versions)
        else:
            changed = record(request, urls, self.versions)
        return client.response_headers() if changed else []


def _target(scope: Scope) -> str:
    """The request's path with its query string, if any (str)."""
    query = scope.get("query_string")
    return f"{scope['path']}?{query.decode('latin-1')}" if query else str(scope["path"])


def _learner(app: object, learn: bool | Learner) -> Learner | None:
    """The middleware's learner: None when off, or when an inner H2PushMiddleware learns."""
    if isinstance(learn, Learner):
        return learn
    if not learn:
        return None
    inner = app
    for _ in range(8):  # e.g. h2push serve around Django's get_asgi_application()
        if isinstance(inner, H2PushMiddleware) and inner.learner is not None:
            return None
        inner = getattr(inner, "app", None)
        if inner is None:
            break
    return Learner(route=route_resolver(app))


def _is_json_success(start: Message) -> bool:
    """Whether an ``http.response.start`` is a 2xx ``application/json`` or ``+json`` response."""
    if not 200 <= int(start.get("status", 200)) < 300:
        return False
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return bool(media == b"application/json" or media.endswith(b"+json"))
    return False


def _authority(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else None


def _preloads_in(link_header: str) -> list[Preload]:
    """The resource hints of an application's Link header that h2push understands."""
    return [p for p in map(_preload_or_none, parse_link_header(link_header)) if p is not None]


def _preload_or_none(value: LinkValue) -> Preload | None:
    try:
        return Preload.from_link_value(value)
    except ValueError:
        return None  # another relation (canonical, next, ...) or an attribute we don't know


def _early_hint(prepared: Prepared, extensions: Iterable[str]) -> Message:
    """The 103 of ``prepared`` as the server takes it (the ASGI extension, else Gunicorn's)."""
    if _EARLY_HINT in extensions:
        return {"type": _EARLY_HINT, "links": list(prepared.hint_links)}
    return {
        "type": _INFORMATIONAL,
        "status": 103,
        "headers": [(b"link", link) for link in prepared.hint_links],
    }


async def _push_prepared(scope: Scope, send: Send, prepared: Prepared) -> list[str]:
    """Send the push promises of ``prepared`` (RFC 9113 §8.4); return the URLs refused.

    Each carries its ``accept``, the request's inherited fields and :data:`PUSHED_HEADER`.
    """
    tail = (*inherited_fields(scope["headers"]), PUSHED_HEADER)
    refused: list[str] = []
    for url, fields in prepared.push_fields(tail):
        try:
            await send({"type": _PUSH, "path": url, "headers": fields})
        except Exception:  # a refused push must never fail the request
            logger.debug("h2push: push of %s not sent", url, exc_info=True)
            refused.append(url)
    return refused


async def _send_extension(send: Send, message: Message) -> bool:
    """Send an extension message; a server or client that refuses it costs the page nothing.

    Returns:
        Whether the message was sent.
    """
    try:
        await send(message)
    except Exception:  # a refused hint or push must never fail the request
        logger.debug("h2push: %s not sent", message["type"], exc_info=True)
        return False
    return True
