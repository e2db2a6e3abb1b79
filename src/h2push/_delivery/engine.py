"""The per-app delivery state and the rules every adapter applies to a request.

:class:`Delivery` belongs to one middleware or one app (never a module global): its settings,
its tracker, and its memo of plans with the bytes each plan sends. A plan depends only on the
candidates (a manifest's tuple lives as long as the app), the class of the request (GET or
not, navigation, what the server offers, pushed) and the client's known set (empty on a first
visit): so the Link header, the 103's links and the push messages' header lists are computed
once per route and request class, and the work left per request is a lookup and an append.

A :class:`Kind` is one such class of request with its facts; its :class:`FirstVisit` is what a
request of that kind sends to a client known to have nothing (no tracker state, a connection
not pushed on yet), kept whole, down to the tracker's ``Set-Cookie``.
"""

from __future__ import annotations

import email.utils
import logging
import sys
import time
from collections.abc import Callable, Container, Iterable
from typing import Final

from h2push._core.links import Preload
from h2push._core.plan import Plan, RequestFacts, delivered, plan, push_headers
from h2push.trackers import (
    ClientState,
    CookieDigestTracker,
    Headers,
    Tracker,
    carries_client_state,
    may_be_stored_by_shared_cache,
)
from h2push.versions import resource_keys

logger = logging.getLogger("h2push")

#: Same-origin paths whose caching an app watches (hinted), and those reported: per app.
MAX_HINTED_PATHS: Final = 4096
_MEMO_SIZE = 1024  # prepared plans per app; the memo starts again when full
_MEMO_MAX_KNOWN = 64  # a known set larger than this is planned without the memo
_MEMO_MAX_PATH = 256  # nor a request whose path is longer (its facts are not kept either)
_EMPTY: frozenset[str] = frozenset()
_HEURISTIC_FRACTION = 0.1  # of the time since Last-Modified (RFC 9111 §4.2.2, browsers)
# The plan module itself (``h2push._core.plan`` the attribute is the function): its byte limits
# are read on each call, as plan() reads them.
_LIMITS = sys.modules[Plan.__module__]


class Prepared:
    """A :class:`~h2push.Plan` with the bytes an adapter sends for it, made once.

    Attributes:
        plan: The plan.
        link_text: Its Link field value (str), or None.
        link_bytes: The same as latin-1 bytes (ASGI), or None.
        hint_values: The 103's Link values (str), one per preload.
        hint_links: The same as bytes (the ASGI ``links`` shape).
        hint_urls: The 103's URLs (frozenset of str).
        push_accepts: Per push, its URL (str) and its push promise's ``accept`` header.
        push_urls: The pushed URLs (frozenset of str).
        linked_urls: What its Link values deliver to a navigation over HTTP/2
            (:func:`h2push._core.plan.delivered` of the links alone).
    """

    __slots__ = (
        "_push_fields",
        "_tail",
        "hint_links",
        "hint_urls",
        "hint_values",
        "link_bytes",
        "link_text",
        "linked_urls",
        "plan",
        "push_accepts",
        "push_urls",
    )

    def __init__(self, result: Plan) -> None:
        self.plan = result
        self.link_text = result.link_header
        self.link_bytes = None if self.link_text is None else self.link_text.encode("ascii")
        self.hint_values = result.early_hint_values
        self.hint_links = [value.encode("ascii") for value in self.hint_values]
        self.hint_urls = frozenset(p.url for p in result.early_hints)
        self.push_accepts = tuple(
            (preload.url, push_headers(preload, ())[0]) for preload in result.pushes
        )
        self.push_urls = frozenset(p.url for p in result.pushes)
        self.linked_urls = delivered(linked=result.links, navigation=True, http2=True)
        self._tail: tuple[tuple[bytes, bytes], ...] | None = None
        self._push_fields: tuple[tuple[str, tuple[tuple[bytes, bytes], ...]], ...] = ()

    def push_fields(
        self, tail: tuple[tuple[bytes, bytes], ...]
    ) -> tuple[tuple[str, tuple[tuple[bytes, bytes], ...]], ...]:
        """Per push, its URL and its push promise's header fields: its ``accept``, then ``tail``.

        ``tail`` is what every push promise of a request carries besides (the fields it
        inherits, :func:`h2push._core.plan.inherited_fields`, and an adapter's own): the
        same for every request of a client, so the fields are made again only when it
        changes. Each field list is a tuple, which the server reads and cannot change.
        """
        if tail != self._tail:
            self._push_fields = tuple((url, (accept, *tail)) for url, accept in self.push_accepts)
            self._tail = tail
        return self._push_fields


class FirstVisit:
    """What one kind of request sends to a client known to have nothing, made once.

    Attributes:
        prepared: The plan and its bytes (an empty known set, the budget of a new connection).
        pushed: The URLs it pushes (frozenset of str), all at once into a new ledger entry.
        delivered: What an HTTP/2 navigation's response records when its 103 and every push
            went out: those URLs and its Link preloads (:attr:`Prepared.linked_urls`).
    """

    __slots__ = ("_cookie", "delivered", "prepared", "pushed")

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.pushed = prepared.push_urls
        self.delivered = prepared.hint_urls | self.pushed | prepared.linked_urls
        self._cookie: list[tuple[bytes, bytes]] | None = None


class Kind:
    """A kind of request: its :class:`~h2push.RequestFacts` and its first visit, once planned.

    Attributes:
        facts: The request facts.
        candidates: The candidates ``first`` was planned from (kept by identity), or None.
        first: The :class:`FirstVisit` of those candidates, or None.
    """

    __slots__ = ("candidates", "facts", "first")

    def __init__(self, facts: RequestFacts) -> None:
        self.facts = facts
        self.candidates: tuple[Preload, ...] | None = None
        self.first: FirstVisit | None = None


class Visit:
    """One request's delivery state, framework-free; adapters extend it with their own.

    Attributes:
        facts: The request facts.
        client: What the tracker read for this client, once loaded, else None.
        known: URLs the client is believed to have (str).
        delivered: URLs that went out for this request (hinted or pushed).
        preloads: The request's own ``push()`` calls, in order.
        learning: The route's key in :mod:`.learning` when the request is hinted from what
            its route learned (a GET navigation with no declaration), else None.
    """

    __slots__ = ("client", "delivered", "facts", "known", "learning", "preloads")

    def __init__(self, facts: RequestFacts) -> None:
        self.facts = facts
        self.client: ClientState | None = None
        self.known = _EMPTY
        self.delivered: set[str] = set()
        self.preloads: list[Preload] = []
        self.learning: str | None = None


class HintedPaths:
    """The same-origin paths an app preloads (their caching matters) and those reported."""

    __slots__ = ("paths", "reported")

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.reported: set[str] = set()

    def learn(self, preloads: Iterable[Preload]) -> None:
        """Remember the same-origin paths of ``preloads`` (at most :data:`MAX_HINTED_PATHS`)."""
        paths = self.paths
        for preload in preloads:
            if len(paths) >= MAX_HINTED_PATHS:
                return
            if preload.same_origin and preload.rel != "preconnect":
                paths.add(preload.url.partition("?")[0])

    def first_report(self, path: str) -> bool:
        """Whether ``path``'s caching is to be reported now (once per path, bounded)."""
        if path in self.reported or len(self.reported) >= MAX_HINTED_PATHS:
            return False
        self.reported.add(path)
        return True


class Delivery:
    """One middleware's or app's delivery state: settings, tracker, plans made so far.

    Args:
        max_pushes: The most push promises per response (int >= 0).
        early_hints: Whether a 103 may be sent at all.
        push: Whether pushes may be sent at all.
        tracker: The tracker (made for this middleware or app), or None.
        pushing_proxy: A proxy in front pushes from the Link header (``"pushes-from-link"``).
    """

    __slots__ = (
        "_cookie_name",
        "_memo",
        "early_hints",
        "first_cookie",
        "hinted",
        "kinds",
        "max_pushes",
        "push",
        "pushing_proxy",
        "tracker",
    )

    def __init__(
        self,
        *,
        max_pushes: int,
        early_hints: bool,
        push: bool,
        tracker: Tracker | None,
        pushing_proxy: bool,
    ) -> None:
        self.max_pushes = max_pushes
        self.early_hints = early_hints
        self.push = push
        self.tracker = tracker
        self.pushing_proxy = pushing_proxy
        self.hinted = HintedPaths()
        self._memo: dict[tuple[object, ...], tuple[object, RequestFacts, Prepared]] = {}
        #: The kinds of request seen (see :meth:`kind`); an adapter may look one up itself.
        self.kinds: dict[tuple[str, str, bool, bool, bool, bool], Kind] = {}
        # A first visit's Set-Cookie depends only on what it delivered when the tracker keeps
        # its state in the cookie alone and no version function is asked (first_visit_cookie()).
        self.first_cookie = type(tracker) is CookieDigestTracker
        self._cookie_name = (
            tracker.cookie_name.encode("ascii") if isinstance(tracker, CookieDigestTracker) else b""
        )

    def kind(self, key: tuple[str, str, bool, bool, bool, bool]) -> Kind:
        """The :class:`Kind` of a request, made once (bounded).

        Args:
            key: ``(method, path, navigation, can_early_hint, can_push, pushed)``.
        """
        found = self.kinds.get(key)
        if found is None:
            method, path, navigation, can_early_hint, can_push, pushed = key
            found = Kind(
                RequestFacts(
                    method=method,
                    path=path,
                    navigation=navigation,
                    can_early_hint=can_early_hint,
                    can_push=can_push,
                    pushed=pushed,
                )
            )
            if len(path) <= _MEMO_MAX_PATH:
                if len(self.kinds) >= _MEMO_SIZE:
                    self.kinds.clear()
                self.kinds[key] = found
        return found

    def facts(self, key: tuple[str, str, bool, bool, bool, bool]) -> RequestFacts:
        """The :class:`~h2push.RequestFacts` of a kind of request, made once (bounded).

        Args:
            key: ``(method, path, navigation, can_early_hint, can_push, pushed)``.
        """
        return self.kind(key).facts

    def first_visit(
        self, kind: Kind, candidates: tuple[Preload, ...], *, max_pushes: int
    ) -> FirstVisit:
        """What a request of ``kind`` sends a client known to have nothing (made once).

        Args:
            kind: The request's kind.
            candidates: Its candidates (a tuple that lives as long as the app: a manifest's).
            max_pushes: The pushes a new connection may be given for it: the same for every
                request of a kind (the app's settings decide it), so it is not compared.
        """
        first = kind.first
        if first is None or kind.candidates is not candidates:
            prepared = self.prepare(kind.facts, candidates, max_pushes=max_pushes)
            first = kind.first = FirstVisit(prepared)
            kind.candidates = candidates
        return first

    def knows_nothing(self, fields: Headers) -> bool:
        """Whether the tracker can know nothing of the client that sent ``fields``.

        True for a :class:`~h2push.trackers.CookieDigestTracker` (``first_cookie``) when the
        request's ``cookie`` fields hold no cookie of its name and no ``Cache-Digest`` came:
        its state is then empty without reading anything. False for any other tracker.

        Args:
            fields: The request's ``cookie`` and ``cache-digest`` fields (bytes pairs).
        """
        if not self.first_cookie:
            return False
        name = self._cookie_name
        return not any(field != b"cookie" or name in value for field, value in fields)

    def first_visit_cookie(self, first: FirstVisit) -> list[tuple[bytes, bytes]]:
        """The tracker's response headers after ``first.delivered`` went to a new client.

        Only for a :class:`~h2push.trackers.CookieDigestTracker` (``first_cookie``) without
        a version function: its ``Set-Cookie`` is then the digest of those URLs alone, the
        same for every such response, so it is made once.
        """
        cookie = first._cookie
        if cookie is None:
            assert self.tracker is not None
            client = self.tracker.load(())
            client.add(resource_keys(sorted(first.delivered), None))
            cookie = first._cookie = client.response_headers()
        return cookie

    def tracks(self, *, can_push: bool) -> bool:
        """Whether a request is tracked (:func:`h2push.trackers.tracks`, and a tracker set)."""
        return self.tracker is not None and ((can_push and self.push) or self.pushing_proxy)

    def load_client(
        self, visit: Visit, fields: Headers, *, authority: str | None, scheme: str
    ) -> None:
        """Read what the client of ``visit`` has, once (it may block: see ``tracker.blocking``).

        Args:
            visit: The request.
            fields: The request's ``cookie`` and ``cache-digest`` fields (all a tracker reads).
            authority: The request's host and port, for ``Cache-Digest``'s absolute URLs.
            scheme: ``"https"`` or ``"http"``.
        """
        if self.tracker is not None and visit.client is None:
            visit.client = self.tracker.load(fields, authority=authority, scheme=scheme)

    @staticmethod
    def learn(
        visit: Visit, preloads: Iterable[Preload], versions: Callable[[str], str | None] | None
    ) -> None:
        """Add to ``visit.known`` which of ``preloads`` its loaded client has."""
        if visit.client is not None:
            # A generator: a client with nothing recorded answers without asking for versions.
            keys = ((p.url, versions(p.url) if versions else None) for p in preloads)
            visit.known |= visit.client.known_urls(keys)

    @staticmethod
    def record(
        visit: Visit, urls: frozenset[str] | set[str], versions: Callable[[str], str | None] | None
    ) -> bool:
        """Record ``urls`` as delivered to the client, if any is new (it may block).

        Returns:
            Whether the client's state changed: then its ``response_headers()`` go out.
        """
        if visit.client is None or not urls - visit.known:
            return False
        visit.client.add(resource_keys(sorted(urls), versions))
        return True

    def prepare(
        self,
        facts: RequestFacts,
        candidates: Iterable[Preload],
        *,
        known: Container[str] = frozenset(),
        max_pushes: int | None = None,
        early_hints: bool | None = None,
        push: bool | None = None,
        link_bytes_used: int = 0,
    ) -> Prepared:
        """:func:`h2push.plan` with this app's settings, remembered while it lives.

        A tuple of candidates (a manifest's) with a small frozen known set is planned once
        per request facts object (adapters keep one per kind of request); anything else is
        planned afresh.
        """
        max_pushes = self.max_pushes if max_pushes is None else max_pushes
        early_hints = self.early_hints if early_hints is None else early_hints
        push = self.push if push is None else push
        key = None
        if (
            type(candidates) is tuple
            and type(known) is frozenset
            and len(known) <= _MEMO_MAX_KNOWN
            and len(facts.path) <= _MEMO_MAX_PATH
        ):
            key = (
                id(candidates),
                id(facts),
                known,
                max_pushes,
                early_hints,
                push,
                link_bytes_used,
                _LIMITS.MAX_EARLY_HINTS_BYTES,
                _LIMITS.MAX_LINK_BYTES,
            )
            hit = self._memo.get(key)
            # The memo holds the tuple and the facts, so their ids cannot be reused while
            # they are here.
            if hit is not None and hit[0] is candidates and hit[1] is facts:
                return hit[2]
        prepared = Prepared(
            plan(
                facts,
                candidates,
                known=known,
                max_pushes=max_pushes,
                early_hints=early_hints,
                push=push,
                link_bytes_used=link_bytes_used,
            )
        )
        if key is not None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = (candidates, facts, prepared)
        return prepared


def records_delivery(
    *,
    delivered_any: bool,
    navigation: bool,
    http2: bool,
    content_type: str | bytes | None,
    cache_control: str | bytes | None,
) -> bool:
    """Whether a response may record what it delivered in the client's tracker.

    Something must have been delivered (a hint or push sent, or a navigation's Link preloads
    over HTTP/2 or through a pushing proxy: :func:`h2push._core.plan.delivered`), the response
    must be a page (:func:`~h2push.trackers.carries_client_state`) and not one a shared
    cache may store (:func:`~h2push.trackers.may_be_stored_by_shared_cache`).
    """
    if not (delivered_any or (http2 and navigation)):
        return False
    return carries_client_state(content_type) and not may_be_stored_by_shared_cache(cache_control)


def heuristic_floor(last_modified: bytes | str | None, floor_s: int) -> int | None:
    """``max(floor_s, 10 % of the age)`` for a ``Last-Modified`` value; None without one.

    The 10 % is the heuristic freshness browsers give a response with ``Last-Modified`` and
    no lifetime (RFC 9111 §4.2.2): a response that has it keeps at least that.
    """
    if last_modified is None:
        return None
    text = last_modified.decode("latin-1") if isinstance(last_modified, bytes) else last_modified
    try:
        modified = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    age_s = time.time() - modified.timestamp()
    return max(floor_s, int(age_s * _HEURISTIC_FRACTION))


def reusable_problem(cache_control: bytes | str) -> str | None:
    """Why a hinted response with this ``Cache-Control`` is wasted, or None when it is not.

    A browser keeps a hinted response in its HTTP cache and the page reads it from there: a
    ``no-store`` response is fetched a second time, and one it must revalidate (``no-cache``,
    ``max-age=0``) costs a round trip.
    """
    text = cache_control.decode("latin-1") if isinstance(cache_control, bytes) else cache_control
    directives: dict[str, str] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        directives.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-store" in directives:
        return "no-store, so browsers fetch it a second time"
    if "no-cache" in directives or directives.get("max-age") == "0":
        return "a Cache-Control that browsers revalidate"
    return None
